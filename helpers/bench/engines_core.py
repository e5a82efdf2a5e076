"""The course's built-in engines, registered by name: PyTorch (eager, channels_last,
torch.compile, CUDA), ORT (fixed or dynamic axes, with or without onnxsim), preprocessing,
the reference tutorial's loop and two matrix-multiply kernels. The load functions live in
:mod:`helpers.bench.loaders_core`; the registry finds this module by its name."""

from __future__ import annotations

from helpers.bench.loaders_core import (
    cuda_missing,
    load_ort,
    load_ort_matmul,
    load_preprocess,
    load_reference_loop,
    load_torch,
    load_torch_matmul,
)
from helpers.bench.registry import register_engine

register_engine("torch", "PyTorch eager CPU", load_torch, files="weights", family="pytorch",
                aliases=("pytorch", "torch-cpu", "eager"))
register_engine("torch-channels-last", "PyTorch channels_last", load_torch, files="weights",
                family="pytorch", aliases=("channels-last",), options={"channels_last": True})
register_engine("torch-compile", "PyTorch torch.compile (Inductor)", load_torch,
                files="weights", family="pytorch", aliases=("compile", "inductor"),
                options={"compile": True, "keep_loaded": True})
register_engine("torch-cuda", "PyTorch CUDA", load_torch, files="weights", family="pytorch",
                aliases=("cuda",), options={"device": "cuda"}, available=cuda_missing)
register_engine("ort", "ORT fixed axes", load_ort, files="onnx-fixed", family="ort",
                aliases=("onnxruntime", "ort-fixed"))
register_engine("ort-dynamic", "ORT dynamic axes", load_ort, files="onnx-dynamic", family="ort")
register_engine("ort-sim", "ORT fixed + onnxsim", load_ort, files="onnx-fixed",
                variant="onnxsim", family="ort", aliases=("ort-fixed-sim",))
register_engine("ort-dynamic-sim", "ORT dynamic + onnxsim", load_ort, files="onnx-dynamic",
                variant="onnxsim", family="ort")
register_engine("preprocess", "preprocessing only", load_preprocess, model_engine=False,
                family="tool")
register_engine("reference-loop", "reference-style loop (ORT dynamic)", load_reference_loop,
                files="onnx-dynamic", model_engine=False, family="tool")
register_engine("matmul", "torch.mm float32 (n x n)", load_torch_matmul, model_engine=False,
                family="tool")
register_engine("ort-matmul", "ORT MatMul float32 (n x n)", load_ort_matmul,
                model_engine=False, family="tool")
