"""Load functions and variant builders for reduced precision and a second runtime.

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

from helpers.bench.common import Job


def _fixed_batch(path: Path) -> int:
    """The batch dimension of the file's float input (1 when symbolic)."""
    from helpers.graph.checks import load_model

    dim = load_model(path).graph.input[0].type.tensor_type.shape.dim[0]
    return dim.dim_value if dim.HasField("dim_value") else 1


def photo_reader(source: Path):
    """A calibration reader over the sample photos, sized and batched for ``source``."""
    from helpers.graph.checks import load_model
    from helpers.runtime.quantization import (
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
    from helpers.runtime.quantization import QuantRecipe, quantize_int8

    quantize_int8(source, target, photo_reader(source), QuantRecipe(activations=activations))


def build_int8_dynamic(source: Path, target: Path) -> None:
    from helpers.runtime.quantization import quantize_dynamic_int8

    quantize_dynamic_int8(source, target, weights="u8")


def build_fp16(source: Path, target: Path) -> None:
    from helpers.runtime.quantization import convert_fp16

    convert_fp16(source, target)



def openvino_missing() -> str | None:
    import importlib.util

    return None if importlib.util.find_spec("openvino") else "openvino is not installed"


def load_openvino(job: Job):
    """OpenVINO on the CPU (LATENCY hint, ``job.threads`` threads), one infer request reused."""
    from helpers.runtime.openvino import compile_onnx

    model = compile_onnx(job.files["onnx"], precision=job.options.get("precision", "f32"),
                         threads=job.threads)
    job.info["precision_used"] = model.precision_used
    request = model.compiled.create_infer_request()
    x = job.input()
    return lambda: request.infer({0: x})
