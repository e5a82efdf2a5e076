"""OpenVINO through ONNX Runtime's own API (notebook 11, section 9), registered by name:
``ort-openvino`` and ``ort-openvino-int8``. Both need the ``onnxruntime-ep-openvino`` plugin
and an Intel CPU (the plugin offers no device elsewhere); ``--help`` says which is missing.
Loaders live in :mod:`helpers.bench.loaders_ortov`."""

from __future__ import annotations

from helpers.bench.loaders_ortov import load_ort_openvino, ort_openvino_missing
from helpers.bench.registry import register_engine

register_engine("ort-openvino", "ORT + OpenVINO EP plugin (FP32 file, f32 hint)", load_ort_openvino,
                files="onnx-fixed", family="ort-openvino", available=ort_openvino_missing,
                color="#332288", aliases=("ort-ov",))
register_engine("ort-openvino-int8", "ORT + OpenVINO EP plugin (INT8 QDQ file, f32 hint)",
                load_ort_openvino, files="onnx-fixed", variant="int8", family="ort-openvino",
                available=ort_openvino_missing, color="#44AA99", aliases=("ort-ov-int8",))
