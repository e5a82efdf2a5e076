"""Engines for reduced precision and a second runtime (notebook 11), registered by name:
``ort-int8`` (U8S8, per-channel), ``ort-int8-s8s8``, ``ort-int8-dynamic``, ``ort-fp16``,
``openvino`` (f32 hint), ``openvino-default`` and ``openvino-int8``. Loaders and the variant
builders live in :mod:`helpers.bench.loaders_quantized`."""

from __future__ import annotations

from helpers.bench.loaders_core import load_ort
from helpers.bench.loaders_quantized import (
    build_fp16,
    build_int8,
    build_int8_dynamic,
    load_openvino,
    openvino_missing,
)
from helpers.bench.registry import register_engine
from helpers.bench.store import register_variant

register_variant("int8", build_int8)
register_variant("int8_s8s8", lambda source, target: build_int8(source, target, "s8"))
register_variant("int8_dynamic", build_int8_dynamic)
register_variant("fp16", build_fp16)

register_engine("ort-int8", "ORT INT8 (QDQ U8S8, per-channel)", load_ort, files="onnx-fixed",
                variant="int8", family="ort-reduced", aliases=("int8",))
register_engine("ort-int8-s8s8", "ORT INT8 (QDQ S8S8, library default)", load_ort,
                files="onnx-fixed", variant="int8_s8s8", family="ort-reduced",
                color="#C51B7D")
register_engine("ort-int8-dynamic", "ORT INT8 dynamic (U8 weights)", load_ort,
                files="onnx-fixed", variant="int8_dynamic", family="ort-reduced",
                color="#F1B6DA")
register_engine("ort-fp16", "ORT FP16 (float32 I/O)", load_ort, files="onnx-fixed",
                variant="fp16", family="ort-reduced", aliases=("fp16",))
register_engine("openvino", "OpenVINO CPU, f32 hint", load_openvino, files="onnx-fixed",
                family="openvino", aliases=("ov",), available=openvino_missing,
                options={"precision": "f32"})
register_engine("openvino-default", "OpenVINO CPU, default precision", load_openvino,
                files="onnx-fixed", family="openvino", available=openvino_missing,
                options={"precision": "default"})
register_engine("openvino-int8", "OpenVINO CPU on the INT8 QDQ file", load_openvino,
                files="onnx-fixed", variant="int8", family="openvino", color="#262626",
                available=openvino_missing, options={"precision": "f32"})
