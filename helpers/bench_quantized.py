"""Benchmark engines for reduced precision and a second runtime, registered in helpers.bench.

``ort-int8`` (the course's recipe: U8S8, per-channel, MinMax), ``ort-int8-s8s8`` (the library's
default types), ``ort-int8-dynamic``, ``ort-fp16``, ``openvino`` (f32 hint),
``openvino-default`` (OpenVINO's own precision choice) and ``openvino-int8`` (the INT8 QDQ file
in OpenVINO). The model store builds each variant file once from the exported FP32 file and
caches it beside it. The ImageNet models are calibrated on the course's sample photos: enough
for speed, meaningless for accuracy (their weights are random when not cached).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from helpers.bench.engines_core import load_ort
from helpers.bench.registry import Job, register_engine
from helpers.bench.store import register_variant


def _fixed_batch(path: Path) -> int:
    """The batch dimension of the file's float input (1 when symbolic)."""
    from helpers.checks import load_model

    dim = load_model(path).graph.input[0].type.tensor_type.shape.dim[0]
    return dim.dim_value if dim.HasField("dim_value") else 1


def photo_reader(source: Path):
    """A calibration reader over the sample photos, sized and batched for ``source``."""
    from helpers.checks import load_model
    from helpers.quantization import (
        ArrayCalibrationReader,
        float_input_name,
        photo_calibration_images,
    )

    size = load_model(source).graph.input[0].type.tensor_type.shape.dim[3].dim_value or 224
    batch = _fixed_batch(source)
    photos = photo_calibration_images(size)
    count = -(-len(photos) // batch) * batch  # whole batches, cycling through the photos
    images = photos[np.arange(count) % len(photos)]
    return ArrayCalibrationReader(float_input_name(source), images, batch_size=batch)


def build_int8(source: Path, target: Path, activations: str = "u8") -> None:
    from helpers.quantization import QuantRecipe, quantize_int8

    quantize_int8(source, target, photo_reader(source), QuantRecipe(activations=activations))


def build_int8_dynamic(source: Path, target: Path) -> None:
    from helpers.quantization import quantize_dynamic_int8

    quantize_dynamic_int8(source, target, weights="u8")


def build_fp16(source: Path, target: Path) -> None:
    from helpers.quantization import convert_fp16

    convert_fp16(source, target)


def load_ort_variant(job: Job):
    """ORT on a variant file; defined here so that a worker process imports this module
    (and with it these engines) before it looks the engine up."""
    return load_ort(job)


def _openvino_missing() -> str | None:
    import importlib.util

    return None if importlib.util.find_spec("openvino") else "openvino is not installed"


def load_openvino(job: Job):
    """OpenVINO on the CPU (LATENCY hint, ``job.threads`` threads), one infer request reused."""
    from helpers.openvino_runner import compile_onnx

    model = compile_onnx(job.files["onnx"], precision=job.options.get("precision", "f32"),
                         threads=job.threads)
    job.info["precision_used"] = model.precision_used
    request = model.compiled.create_infer_request()
    x = job.input()
    return lambda: request.infer({0: x})


register_variant("int8", build_int8)
register_variant("int8_s8s8", lambda source, target: build_int8(source, target, "s8"))
register_variant("int8_dynamic", build_int8_dynamic)
register_variant("fp16", build_fp16)

register_engine("ort-int8", "ORT INT8 (QDQ U8S8, per-channel)", load_ort_variant, files="onnx-fixed",
                variant="int8", family="ort-reduced", aliases=("int8",))
register_engine("ort-int8-s8s8", "ORT INT8 (QDQ S8S8, library default)", load_ort_variant,
                files="onnx-fixed", variant="int8_s8s8", family="ort-reduced",
                color="#C51B7D")
register_engine("ort-int8-dynamic", "ORT INT8 dynamic (U8 weights)", load_ort_variant,
                files="onnx-fixed", variant="int8_dynamic", family="ort-reduced",
                color="#F1B6DA")
register_engine("ort-fp16", "ORT FP16 (float32 I/O)", load_ort_variant, files="onnx-fixed",
                variant="fp16", family="ort-reduced", aliases=("fp16",))
register_engine("openvino", "OpenVINO CPU, f32 hint", load_openvino, files="onnx-fixed",
                family="openvino", aliases=("ov",), available=_openvino_missing,
                options={"precision": "f32"})
register_engine("openvino-default", "OpenVINO CPU, default precision", load_openvino,
                files="onnx-fixed", family="openvino", available=_openvino_missing,
                options={"precision": "default"})
register_engine("openvino-int8", "OpenVINO CPU on the INT8 QDQ file", load_openvino,
                files="onnx-fixed", variant="int8", family="openvino", color="#262626",
                available=_openvino_missing, options={"precision": "f32"})
