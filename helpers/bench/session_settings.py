"""ONNX Runtime ``SessionOptions`` as plain JSON and back: how a notebook's options reach a worker.

A ``SessionOptions`` object cannot cross a process boundary, so the harness reads what it
carries into a dict of plain values (:func:`describe_options`) and the worker process builds
an identical object from that dict (:func:`build_options`)::

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_LAYOUT
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    description = describe_options(so)       # JSON-able
    same = build_options(description)        # in the worker: the same settings

What travels: the attributes in :data:`FIELDS` and the session config entries named in
:data:`CONFIG_KEYS` (ORT cannot list the entries an object holds, so only known keys are
read; pass ``config_keys`` for others). Providers, added initializers, free-dimension
overrides and custom-op libraries do not travel.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from helpers.bench.common import BenchError

if TYPE_CHECKING:
    from onnxruntime import SessionOptions

# attribute -> kind: "level" and "mode" are enums (stored by name), the others plain values
FIELDS: dict[str, str] = {
    "graph_optimization_level": "level",
    "execution_mode": "mode",
    "intra_op_num_threads": "int",
    "inter_op_num_threads": "int",
    "enable_cpu_mem_arena": "bool",
    "enable_mem_pattern": "bool",
    "enable_mem_reuse": "bool",
    "use_deterministic_compute": "bool",
    "optimized_model_filepath": "str",
    "enable_profiling": "bool",
    "profile_file_prefix": "str",
    "log_severity_level": "int",
}

# session config entries read by describe_options (the course uses the first one)
CONFIG_KEYS: tuple[str, ...] = (
    "session.intra_op.allow_spinning",
    "session.inter_op.allow_spinning",
    "session.force_spinning_stop",
    "session.intra_op_thread_affinities",
    "session.dynamic_block_base",
    "session.disable_prepacking",
    "session.set_denormal_as_zero",
    "session.use_env_allocators",
    "session.disable_cpu_ep_fallback",
    "session.load_model_format",
    "session.save_model_format",
    "optimization.disable_specified_optimizers",
)


def _enum(kind: str):
    import onnxruntime as ort

    return ort.GraphOptimizationLevel if kind == "level" else ort.ExecutionMode


def config_entry(options: SessionOptions, key: str) -> str | None:
    """The value of session config entry ``key`` in ``options``, or None when it is not set."""
    try:
        return options.get_session_config_entry(key)
    except RuntimeError:  # ORT: "SessionOptions does not have configuration with key: ..."
        return None


def describe_options(options: SessionOptions, config_keys: Iterable[str] = CONFIG_KEYS) -> dict[str, Any]:
    """The settings ``options`` (an ``ort.SessionOptions``) carries, as a JSON-able dict.

    ``{"graph_optimization_level": "ORT_ENABLE_ALL", "intra_op_num_threads": 2, ...,
    "config": {"session.intra_op.allow_spinning": "0"}}``; config entries that are not set
    are left out.
    """
    import onnxruntime as ort

    if not isinstance(options, ort.SessionOptions):
        raise BenchError(f"expected an onnxruntime.SessionOptions, got {type(options).__name__}")
    result: dict[str, Any] = {}
    for name, kind in FIELDS.items():
        value = getattr(options, name)
        if kind in ("level", "mode"):
            value = value.name
        elif kind == "int":
            value = int(value)
        elif kind == "bool":
            value = bool(value)
        else:
            value = str(value)
        result[name] = value
    entries = {key: config_entry(options, key) for key in dict.fromkeys(config_keys)}
    result["config"] = {k: v for k, v in entries.items() if v is not None}
    return result


def build_options(description: Mapping[str, Any]) -> SessionOptions:
    """An ``ort.SessionOptions`` with the settings of ``description`` (from describe_options).

    Fields not in the description keep ORT's defaults; an unknown field or enum name raises
    :class:`~helpers.bench.common.BenchError` naming what is allowed.
    """
    import onnxruntime as ort

    unknown = set(description) - set(FIELDS) - {"config"}
    if unknown:
        raise BenchError(f"unknown SessionOptions fields {sorted(unknown)}; expected some of: "
                         f"{', '.join(FIELDS)}, config")
    options = ort.SessionOptions()
    for name, value in description.items():
        if name == "config":
            continue
        kind = FIELDS[name]
        if kind in ("level", "mode"):
            members = _enum(kind).__members__
            if value not in members:
                raise BenchError(f"unknown {name} {value!r}; expected one of: "
                                 f"{', '.join(members)}")
            value = members[value]
        setattr(options, name, value)
    for key, value in dict(description.get("config", {})).items():
        options.add_session_config_entry(str(key), str(value))
    return options


def threads_of(options: SessionOptions, default: int) -> int:
    """The intra-op thread count ``options`` asks for; ``default`` when left to ORT (0)."""
    return int(options.intra_op_num_threads) or default
