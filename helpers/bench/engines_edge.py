"""Engines for devices (notebook 18), registered by name: ``executorch`` (XNNPACK, FP32),
``executorch-int8`` (XNNPACK, PT2E static INT8) and ``ort-format`` (ONNX Runtime on an
ORT-format file). The load functions live in :mod:`helpers.bench.loaders_edge`."""

from __future__ import annotations

from helpers.bench.loaders_edge import executorch_unavailable, load_executorch, load_ort_format
from helpers.bench.registry import register_engine

register_engine("executorch", "ExecuTorch XNNPACK FP32", load_executorch, files="weights",
                family="executorch", aliases=("et", "pte"), color="#882255",
                available=executorch_unavailable)
register_engine("executorch-int8", "ExecuTorch XNNPACK INT8 (PT2E)", load_executorch,
                files="weights", family="executorch", aliases=("et-int8",), color="#CC6677",
                available=executorch_unavailable, options={"int8": True})
register_engine("ort-format", "ORT on an ORT-format file", load_ort_format, files="onnx-fixed",
                family="ort", aliases=("ort-mobile", "ort-file"), color="#332288")
