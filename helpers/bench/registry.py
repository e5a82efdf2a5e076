"""The engine registry: every engine the benchmark can time, in one place.

HOW TO ADD AN ENGINE (one load function, one registration)::

    # helpers/bench/loaders_mything.py   (load functions only: this module registers nothing)
    from helpers.bench.common import Job

    def load_mything(job: Job):
        import mything                       # import inside: runs in the worker process
        model = mything.load(job.files["onnx"], threads=job.threads)
        x = job.input()                      # float32 [batch, 3, size, size], seeded
        return lambda: model.run(x)          # one inference; the harness times it

    # helpers/bench/engines_mything.py   (any module named engines_*.py here is discovered)
    from helpers.bench.loaders_mything import load_mything
    from helpers.bench.registry import register_engine

    register_engine("mything", "MyThing CPU", load_mything, files="onnx-fixed",
                    aliases=("mt",), family="mything",
                    available=lambda: None if has_mything() else "mything is not installed")

``files`` says what the worker needs from the model store: ``"weights"`` (a state dict),
``"onnx-fixed"`` (exported for this batch and size), ``"onnx-dynamic"`` (dynamic B/H/W) or
None. ``variant="int8"`` asks for a variant of that ONNX file, built once and cached by a
function given to :func:`helpers.bench.store.register_variant`. ``options`` reach the load
function as ``job.options``; ``job.info`` is copied into the measurement's record. The
colour comes from :mod:`helpers.show.colors` (pass ``color=`` to set one). A worker process
imports the load function's module, then looks the engine up (which discovers the engines_*
modules); a module outside this package may register too, as long as the worker is told to
import it (``module`` in the request). ``python -m helpers.bench --help`` lists every engine.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from helpers.bench.common import BenchError, Job, choices_error
from helpers.show.colors import engine_color, set_engine_color

FILE_KINDS = (None, "weights", "onnx-fixed", "onnx-dynamic")



Runner = Callable[[], object]


def _runs_everywhere() -> str | None:
    return None


@dataclass(frozen=True)
class Engine:
    """One engine: its name, label, how its worker loads a model, and whether it runs here."""

    name: str
    label: str
    load: Callable[[Job], Runner]
    files: str | None = None
    variant: str | None = None
    aliases: tuple[str, ...] = ()
    family: str = "other"  # "pytorch", "ort", ...: speedup tables compare families
    available: Callable[[], str | None] = _runs_everywhere
    options: Mapping[str, Any] = field(default_factory=dict)
    model_engine: bool = True  # times a model's forward pass (not preprocessing or a loop)

    @property
    def color(self) -> str:
        return engine_color(self.name)

    @property
    def module(self) -> str:
        return self.load.__module__

    def why_unavailable(self) -> str | None:
        """None when the engine can run on this machine, else the reason."""
        try:
            return self.available()
        except Exception as error:  # an availability check must never crash the harness
            return f"availability check failed: {error}"


_ENGINES: dict[str, Engine] = {}
_ALIASES: dict[str, str] = {}
_discovered = False


def register_engine(name: str, label: str, load: Callable[[Job], Runner], *,
                    files: str | None = None, variant: str | None = None,
                    aliases: Sequence[str] = (), color: str | None = None,
                    family: str = "other", available: Callable[[], str | None] | None = None,
                    options: Mapping[str, Any] | None = None,
                    model_engine: bool = True) -> Engine:
    """Add an engine (see the module's docstring); registering a name again replaces it."""
    name = name.strip().lower()
    if not name or "," in name:
        raise BenchError(f"engine names are non-empty and have no comma, got {name!r}")
    if files not in FILE_KINDS:
        raise choices_error("file kind", str(files), [str(k) for k in FILE_KINDS])
    if variant and not (files or "").startswith("onnx"):
        raise BenchError(f"engine {name!r}: a variant needs an ONNX file (files='onnx-...')")
    engine = Engine(name, label, load, files, variant, tuple(a.lower() for a in aliases), family,
                    available or _runs_everywhere, dict(options or {}), model_engine)
    _ENGINES[name] = engine
    for alias in engine.aliases:
        _ALIASES[alias] = name
    if color:
        set_engine_color(name, color)
    return engine


def discover() -> None:
    """Import every ``helpers.bench.engines_*`` module once, so their engines are registered."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    import helpers.bench as package

    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("engines_"):
            importlib.import_module(f"helpers.bench.{info.name}")


def engines() -> dict[str, Engine]:
    """Every registered engine by name, in registration order."""
    discover()
    return dict(_ENGINES)


def engine_names(model_only: bool = False) -> tuple[str, ...]:
    return tuple(n for n, e in engines().items() if e.model_engine or not model_only)


def resolve(name: str) -> str:
    """An engine's name from its name or an alias (case-insensitive)."""
    discover()
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in _ENGINES:
        raise choices_error("engine", name.strip(), _ENGINES)
    return key


def get_engine(name: str) -> Engine:
    return _ENGINES[resolve(name)]


def parse_engines(names: str | Sequence[str]) -> list[str]:
    """Engine names from ``"torch,ort"`` or a list; aliases resolved, duplicates dropped."""
    items = names.split(",") if isinstance(names, str) else list(names)
    result: list[str] = []
    for raw in items:
        name = resolve(raw)
        if name not in result:
            result.append(name)
    if not result:
        raise BenchError(f"no engine given; expected some of: {', '.join(engines())}")
    return result


def engine_label(name: str) -> str:
    try:
        return get_engine(name).label
    except BenchError:
        return name


class _Labels(Mapping):
    """``ENGINE_LABELS[name]``: a live view of the registry's labels."""

    def __getitem__(self, name: str) -> str:
        return get_engine(name).label

    def __iter__(self) -> Iterator[str]:
        return iter(engines())

    def __len__(self) -> int:
        return len(engines())


ENGINE_LABELS = _Labels()


def describe_engines() -> str:
    """One line per engine (name, aliases, label, whether it runs here) for ``--help``."""
    lines = []
    for name, engine in engines().items():
        reason = engine.why_unavailable()
        alias = f" (also {', '.join(engine.aliases)})" if engine.aliases else ""
        lines.append(f"  {name:18s} {engine.label}{alias}"
                     + (f"  [not here: {reason}]" if reason else ""))
    return "\n".join(lines)
