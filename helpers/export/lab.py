"""Export experiments: try an export quietly, trim its error, judge the file in ORT against PyTorch."""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import logging
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from helpers.paths import REPO_ROOT

EXPORTERS = {"dynamo": "dynamo=True", "legacy": "dynamo=False"}
"""The two exporters behind ``torch.onnx.export``: short name → the argument that picks it."""

VERDICTS = ("correct", "wrong answer", "ORT refuses", "export fails")

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_CELL = re.compile(r"/\S*ipykernel_\d+/\d+\.py")
_SITE = re.compile(r"[^\s'\"(]*(?:site|dist)-packages/")
_ABSOLUTE = re.compile(r"(?<![\w.:/~-])/(?:[\w.+@-]+/)+([\w.+@-]+)")
_ADDRESS = re.compile(r" (?:object )?at 0x[0-9a-f]+")
_LOAD_PREFIX = re.compile(r"Load model from \S+ failed:")
_CLASS = re.compile(r"<class '(?:[\w]+\.)*(\w+)'>")
_ADVICE = ("For more", "For extended", "For C++", "If you suspect", "(Refer", "Refer to",
           "The error above occurred", "The following call raised", "If you would like", "consider using", "⬆️")
_LOGGERS = ("torch", "onnxscript", "onnx_ir")


def tidy(error: BaseException | str, max_lines: int | None = 4, width: int = 220) -> str:
    """An error's text for a notebook: no colour codes, machine paths or advice paragraphs.

    A dynamo exporter error keeps its headline and its "Exception summary"; ``max_lines``
    (None for all) keeps the first non-blank lines, each cut at ``width`` characters.
    """
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    text = _ANSI.sub("", text).replace(str(REPO_ROOT) + os.sep, "")
    text = _CELL.sub("<cell>", text)
    text = _ABSOLUTE.sub(r"\1", _SITE.sub("", text))
    text = _CLASS.sub(r"\1", _LOAD_PREFIX.sub("", _ADDRESS.sub("", text)))
    if "## Exception summary" in text:
        head, summary = text.split("## Exception summary", 1)
        text = head.splitlines()[0] + "\n" + summary
    lines = [line.rstrip() for line in text.splitlines()
             if line.strip() and not line.strip().startswith(_ADVICE)]
    lines = lines if max_lines is None else lines[:max_lines]
    return "\n".join(line if len(line) <= width else line[:width - 3] + "..." for line in lines)


@contextlib.contextmanager
def collected_output() -> Iterator[list[str]]:
    """Collect, instead of printing, what the block writes: log records of torch/onnxscript/
    onnx_ir, warnings, Python's stdout/stderr and C-level writes to file descriptors 1 and 2.

    Yields a list that holds the collected lines (filled when the block ends).
    """
    lines: list[str] = []
    collector = logging.Handler()
    collector.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    loggers = [logger for name, logger in logging.root.manager.loggerDict.items()
               if isinstance(logger, logging.Logger) and name.split(".")[0] in _LOGGERS
               and (logger.handlers or "." not in name)]
    loggers += [logging.getLogger(name) for name in _LOGGERS]
    saved = [(logger, logger.handlers[:], logger.propagate) for logger in loggers]
    for logger in loggers:
        logger.handlers, logger.propagate = [collector], False
    python_out, python_err = io.StringIO(), io.StringIO()
    sys.stdout.flush()
    sys.stderr.flush()
    saved_fds = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            with warnings.catch_warnings(record=True) as caught, \
                    contextlib.redirect_stdout(python_out), contextlib.redirect_stderr(python_err):
                warnings.simplefilter("always")
                yield lines
            lines.extend(str(w.message) for w in caught)
        finally:
            with contextlib.suppress(ValueError):  # a closed stream has nothing left to flush
                sys.stdout.flush()
                sys.stderr.flush()
            os.dup2(saved_fds[0], 1)
            os.dup2(saved_fds[1], 2)
            for fd in saved_fds:
                os.close(fd)
            for logger, handlers, propagate in saved:
                logger.handlers, logger.propagate = handlers, propagate
            sink.seek(0)
            written = sink.read().decode(errors="replace") + python_out.getvalue() + python_err.getvalue()
            lines.extend(line for line in written.splitlines() if line.strip())


@functools.cache
def _torchlib_ops(build: Any) -> tuple:
    """onnxscript's table of ATen translations, built once per process by ``build``."""
    return tuple(build())


@contextlib.contextmanager
def torchlib_table_once() -> Iterator[None]:
    """Within the block, every ``dynamo=True`` export reads onnxscript's table of ATen
    translations from one copy per process instead of rebuilding it.

    The exporter rebuilds that table on every call by parsing the source of about 500
    onnxscript functions (about half a second each time); the table depends only on the
    installed onnxscript, so the copy is the same table and the files are the same. With
    versions that lack the hook this does nothing.
    """
    from torch.onnx._internal import _lazy_import

    try:
        module = importlib.import_module(_lazy_import.onnxscript_apis._name)
        build = module.get_torchlib_ops
    except (AttributeError, ImportError):
        yield
        return
    module.get_torchlib_ops = lambda: list(_torchlib_ops(build))
    try:
        yield
    finally:
        module.get_torchlib_ops = build


_SHARED_TABLE: list[contextlib.AbstractContextManager] = []  # held open for the process


def share_torchlib_table() -> None:
    """From now on in this process, every ``dynamo=True`` export reads onnxscript's table of
    ATen translations from one copy: :func:`torchlib_table_once` for the whole process (a
    notebook whose cells export one after another). Calling it again changes nothing."""
    if not _SHARED_TABLE:
        block = torchlib_table_once()
        block.__enter__()
        _SHARED_TABLE.append(block)  # kept referenced: never closed, so never restored


@dataclass
class Export:
    """One export attempt: the file it wrote, or the trimmed error; what it logged."""

    exporter: str  # "dynamo" or "legacy"
    path: Path
    error: str = ""  # trimmed error text; empty when the export worked
    logs: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.error

    def input_shape(self, index: int = 0) -> list[int | str]:
        """The declared shape of graph input ``index`` (numbers are fixed, names dynamic)."""
        from helpers.graph.checks import summarize

        return list(summarize(self.path).inputs[index].shape)


def try_export(model: nn.Module, args: tuple, stem: Path, exporter: str, **kwargs: Any) -> Export:
    """``torch.onnx.export`` with one exporter, collecting its output; a failure is returned.

    Writes ``<stem>_<exporter>.onnx`` as one file (dynamo: ``external_data=False`` unless
    given). ``kwargs`` go to ``torch.onnx.export`` unchanged. Dynamo exports share one copy of
    onnxscript's translation table (:func:`torchlib_table_once`).
    """
    if exporter not in EXPORTERS:
        raise ValueError(f"exporter must be one of {sorted(EXPORTERS)}, got {exporter!r}")
    path = Path(stem).with_name(f"{Path(stem).name}_{exporter}.onnx")
    path.unlink(missing_ok=True)
    options: dict[str, Any] = {"dynamo": exporter == "dynamo"}
    if exporter == "dynamo":
        options.update(external_data=False, verbose=False)
    options.update(kwargs)
    error = ""
    with collected_output() as logs, torchlib_table_once():
        try:
            torch.onnx.export(model.eval(), args, path, **options)
        except Exception as caught:  # noqa: BLE001 - every exporter error is a result here
            error = tidy(caught) or type(caught).__name__
    if not error and not path.is_file():
        error = "the exporter returned without writing a file"
    return Export(exporter, path, error, logs)


def leaves(value: Any) -> list[np.ndarray]:
    """The tensors inside nested lists, tuples and dicts, in order (what ONNX outputs hold)."""
    if isinstance(value, torch.Tensor):
        return [value.detach().cpu().numpy()]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in leaves(item)]
    return []  # strings, None, numbers: not tensors


@dataclass(frozen=True)
class Verdict:
    """What running an export in ORT against PyTorch showed (one of ``VERDICTS``)."""

    status: str
    detail: str = ""

    def __str__(self) -> str:
        return self.status + (f" ({self.detail})" if self.detail else "")


def verdict(result: Export, model: nn.Module, *inputs: np.ndarray,
            rtol: float = 1e-4) -> Verdict:
    """Run ``result`` in ORT on ``inputs`` and compare with ``model`` on the same inputs.

    ``correct`` when every output has PyTorch's shape and max |Δ| ≤ rtol·max(1, max |ref|);
    otherwise ``wrong answer``; ``ORT refuses`` when ORT cannot load or run the file;
    ``export fails`` when there is no file.
    """
    from helpers.runtime.sessions import create_session, default_providers

    if not result.ok:
        return Verdict("export fails", result.error.splitlines()[0][:120])
    try:
        session = create_session(result.path, providers=default_providers())
        feeds = {i.name: x for i, x in zip(session.get_inputs(), inputs, strict=True)}
        got = session.run(None, feeds)
    except Exception as error:  # noqa: BLE001 - whatever ORT says is the result
        return Verdict("ORT refuses", tidy(error, 2).replace("\n", " ")[:200])
    with torch.no_grad():
        want = leaves(model.eval()(*[torch.from_numpy(np.asarray(x)) for x in inputs]))
    if len(got) != len(want) or any(g.shape != w.shape for g, w in zip(got, want, strict=False)):
        return Verdict("wrong answer", f"shapes {[g.shape for g in got]} vs PyTorch "
                                       f"{[w.shape for w in want]}")
    worst = max((float(np.abs(g.astype(np.float64) - w).max()) for g, w in zip(got, want, strict=True)
                 if g.size), default=0.0)
    scale = max((float(np.abs(w).max()) for w in want if w.size), default=0.0)
    if worst > rtol * max(1.0, scale):
        return Verdict("wrong answer", f"max |Δ| = {worst:.3g}")
    return Verdict("correct")


@dataclass
class Findings:
    """A table of limitations, one row per limitation and exporter, filled from verdicts."""

    rows: list[dict] = field(default_factory=list)

    def add(self, limitation: str, exporter: str, still_a_problem: bool, today: str,
            workaround: str, workaround_works: bool | None = None, *,
            by_design: bool = False) -> None:
        """One row. ``by_design``: a behaviour to know that loses nothing (BatchNorm folded into
        the Conv, outputs flattened because ONNX has no dicts): shown as "by design" when it
        happens, and never counted as a problem."""
        if exporter not in EXPORTERS:
            raise ValueError(f"exporter must be one of {sorted(EXPORTERS)}, got {exporter!r}")
        still = ("by design" if by_design else "yes") if still_a_problem else "no"
        self.rows.append({"limitation": limitation, "exporter": EXPORTERS[exporter],
                          "still a problem today": still, "today": today,
                          "workaround": workaround,
                          "workaround verified": None if workaround_works is None
                          else bool(workaround_works)})

    def frame(self):
        """The rows in the order they were added: still a problem yes / no / by design, and
        whether the workaround was verified (``NO`` = it failed)."""
        import pandas as pd

        frame = pd.DataFrame(self.rows)
        order = list(dict.fromkeys(frame["limitation"]))
        exporters: Sequence[str] = list(EXPORTERS.values())
        frame = frame.sort_values(
            ["limitation", "exporter"],
            key=lambda c: c.map(order.index) if c.name == "limitation" else c.map(exporters.index),
        ).reset_index(drop=True)
        frame["workaround verified"] = frame["workaround verified"].map(
            {True: "yes", False: "NO"}).fillna("")
        return frame

    def pivot(self):
        """One row per limitation, one column per exporter: still a problem today (yes/no)."""
        frame = self.frame()
        order = list(dict.fromkeys(frame["limitation"]))
        table = frame.pivot(index="limitation", columns="exporter", values="still a problem today")
        return table.loc[order, list(EXPORTERS.values())]
