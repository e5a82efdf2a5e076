"""ExecuTorch for the course: lower a PyTorch model to a ``.pte`` file (XNNPACK, FP32 or INT8)
and run it with ExecuTorch's Python runtime.

The notebook shows these calls itself (notebook 18); this module is what the benchmark's
workers and the exercise repeat. ExecuTorch is imported inside the functions, so importing
this module costs nothing where ExecuTorch is missing.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

from helpers.paths import made_once, partial_path

# torchao registers an Enum with torch's pytree on import and torch warns that this is
# deprecated: one line of noise per process, about torchao's code, not the learner's
logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)


class EdgeError(RuntimeError):
    """ExecuTorch missing, or a ``.pte`` file that cannot be made or run."""


def executorch_missing() -> str | None:
    """None when ExecuTorch (with its XNNPACK backend) is importable, else the reason."""
    if importlib.util.find_spec("executorch") is None:
        return "executorch is not installed (pip install -r requirements.txt)"
    return None


def xnnpack_quantizer():
    """XNNPACK's PT2E quantizer, symmetric INT8 weights per channel, static activations."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )

    quantizer = XNNPACKQuantizer()
    quantizer.set_global(get_symmetric_quantization_config(is_per_channel=True))
    return quantizer


@torch.no_grad()
def quantize_pt2e(model: nn.Module, example: torch.Tensor,
                  calibration: Iterable[torch.Tensor]) -> nn.Module:
    """PT2E static INT8 for XNNPACK: export, ``prepare_pt2e``, calibrate, ``convert_pt2e``."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    captured = torch.export.export(model.eval(), (example,)).module()
    prepared = prepare_pt2e(captured, xnnpack_quantizer())
    for batch in calibration:
        prepared(batch)
    return convert_pt2e(prepared)


def lower_to_pte(model: nn.Module, example: torch.Tensor) -> bytes:
    """``torch.export`` → ``to_edge_transform_and_lower`` (XNNPACK) → ExecuTorch program bytes."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    exported = torch.export.export(model, (example,))
    lowered = to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()])
    return lowered.to_executorch().buffer


def write_pte_if_missing(path: str | Path, make: Callable[[], bytes]) -> Path:
    """Write ``make()``'s bytes to ``path`` once (locked, via a partial name); reuse it after."""
    path = Path(path)
    with made_once(path):
        if not path.exists():
            partial = partial_path(path)
            partial.write_bytes(make())
            partial.replace(path)
    return path


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Drop what ExecuTorch's runtime logs meanwhile (its CPU probing and thread-pool changes):
    its Python bindings write the log to ``sys.stderr`` piece by piece, its C++ code to file
    descriptor 2."""
    import ctypes
    import io

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull, contextlib.redirect_stderr(io.StringIO()):
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).fflush(None)  # C stdio buffers still hold some of it: drop them too
        os.dup2(saved, 2)
        os.close(saved)


def set_threads(threads: int) -> int:
    """Size ExecuTorch's thread pool (XNNPACK runs on it); returns the count it reports.

    Call it before loading a program: XNNPACK keeps the pool it found at load time, and
    resizing the pool under a loaded program crashed the process here (ExecuTorch 1.5.1).
    """
    if threads < 1:
        raise EdgeError(f"threads must be at least 1, got {threads}")
    with native_stderr_silenced():
        from executorch.extension.pybindings import portable_lib

        portable_lib._unsafe_reset_threadpool(int(threads))  # the only switch the bindings offer
        return int(portable_lib._threadpool_get_thread_count())


def load_method(path: str | Path, name: str = "forward"):
    """The ``forward`` method of a ``.pte`` file, loaded with ``executorch.runtime``."""
    from executorch.runtime import Runtime

    path = Path(path)
    if not path.is_file():
        raise EdgeError(f"no ExecuTorch program at {path.name}")
    method = Runtime.get().load_program(path).load_method(name)
    if method is None:
        raise EdgeError(f"{path.name} has no method {name!r}")
    return method


def run_pte(method, images: np.ndarray, batch: int = 1) -> np.ndarray:
    """Logits for ``images`` (N, 3, H, W float32), ``batch`` at a time (the program's batch)."""
    if images.ndim != 4 or images.dtype != np.float32:
        raise EdgeError(f"expected images [N, 3, H, W] float32, got {images.shape} {images.dtype}")
    if len(images) % batch:
        raise EdgeError(f"{len(images)} images do not split into batches of {batch}")
    outputs = [method.execute([torch.from_numpy(np.ascontiguousarray(images[i:i + batch]))])[0]
               for i in range(0, len(images), batch)]
    return torch.cat(outputs).numpy()


def delegated_share(pte: str | Path) -> dict[str, int | list[str]]:
    """How many instructions of the program call a delegate (XNNPACK) and how many call a
    portable or optimized kernel, read from the ``.pte`` file."""
    from executorch.exir._serialize._program import deserialize_pte_binary

    program = deserialize_pte_binary(Path(pte).read_bytes())
    program = getattr(program, "program", program)
    plan = program.execution_plan[0]
    counts: dict[str, int | list[str]] = {"delegate calls": 0, "kernel calls": 0}
    for chain in plan.chains:
        for instruction in chain.instructions:
            kind = type(instruction.instr_args).__name__
            if kind == "DelegateCall":
                counts["delegate calls"] += 1
            elif kind == "KernelCall":
                counts["kernel calls"] += 1
    counts["kernel operators"] = sorted({op.name for op in plan.operators})
    return counts
