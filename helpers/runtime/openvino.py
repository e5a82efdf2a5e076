"""The same ``.onnx`` file in OpenVINO on the CPU, with its inference precision stated.

OpenVINO reads ONNX directly. On a CPU with bf16 support (AVX-512 BF16 or AMX) its default
inference precision is bf16, not f32: ``precision="f32"`` asks for float32 explicitly, for a
like-for-like comparison with ONNX Runtime.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

PRECISIONS = ("f32", "default")


class OpenVINOError(ValueError):
    """A file OpenVINO cannot run, or a bad request (unknown precision, wrong input)."""


@dataclass
class OpenVINOModel:
    """A model compiled for the CPU, with the precision OpenVINO actually chose."""

    compiled: Any  # openvino.CompiledModel
    precision_asked: str  # "f32" or "default"
    precision_used: str  # what INFERENCE_PRECISION_HINT resolved to, e.g. "f32" or "bf16"
    threads: int | None

    @property
    def input_name(self) -> str:
        return self.compiled.input(0).get_any_name()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Run one batch; returns the first output as a numpy array."""
        if not isinstance(x, np.ndarray) or x.dtype != np.float32 or x.ndim != 4:
            got = f"{x.shape} {x.dtype}" if isinstance(x, np.ndarray) else type(x).__name__
            raise OpenVINOError(f"expected a float32 array of shape [B, C, H, W], got {got}")
        result = self.compiled(np.ascontiguousarray(x))
        return np.asarray(result[self.compiled.output(0)])


def compile_onnx(path: str | Path, precision: str = "f32", threads: int | None = None,
                 config: dict[str, Any] | None = None) -> OpenVINOModel:
    """Compile an ONNX file for OpenVINO's CPU plugin with the LATENCY hint.

    ``precision="f32"`` sets ``INFERENCE_PRECISION_HINT`` to f32; ``"default"`` leaves
    OpenVINO's choice (bf16 on CPUs that support it). ``threads`` sets
    ``INFERENCE_NUM_THREADS`` (None: OpenVINO decides).
    """
    import openvino as ov

    path = Path(path)
    if precision not in PRECISIONS:
        raise OpenVINOError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if not path.is_file():
        raise FileNotFoundError(f"ONNX model not found: {path.name}")
    settings: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
    if precision == "f32":
        settings["INFERENCE_PRECISION_HINT"] = "f32"
    if threads is not None:
        settings["INFERENCE_NUM_THREADS"] = int(threads)
    settings.update(config or {})
    try:
        compiled = ov.Core().compile_model(str(path), "CPU", settings)
    except RuntimeError as error:
        raise OpenVINOError(f"OpenVINO cannot compile {path.name} ({precision} precision): "
                            f"{openvino_reason(str(error))}") from error
    hint = compiled.get_property("INFERENCE_PRECISION_HINT")  # an openvino.Type
    used = hint.get_type_name() if hasattr(hint, "get_type_name") else str(hint)
    return OpenVINOModel(compiled, precision, used, threads)


def openvino_reason(text: str, most: int = 3) -> str:
    """The informative lines of an OpenVINO error, without its source-location preamble.

    OpenVINO prefixes its messages with one ``Exception from src/...cpp:N:`` line per layer
    it passed through; the reason (a node name, an unsupported type) comes after them.
    """
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith("Exception from ")]
    reason = " / ".join(useful[:most]) or (lines[-1] if lines else "RuntimeError")
    return reason if len(reason) <= 500 else reason[:497] + "..."


def cpu_bf16_flags() -> list[str]:
    """The CPU flags that make OpenVINO pick bf16 by default (Linux; empty elsewhere)."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return []
    return sorted({f for f in flags if f in ("avx512_bf16", "amx_bf16", "amx_tile")})
