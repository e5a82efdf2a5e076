"""Notebook 18 exercise: the operators a reduced ORT build needs for the INT8 course model on
an ARM phone, converted with the 'Runtime' optimisation style."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from helpers.export.exporters import export_if_missing
from helpers.models.course import INPUT_SHAPE, default_config, load_or_train_course_model
from helpers.paths import artifacts_dir
from helpers.runtime import edge
from helpers.runtime.quantization import (
    ArrayCalibrationReader,
    digits_validation_images,
    float_input_name,
)


def _up_to_date(target: Path, source: Path) -> bool:
    """True when ``target`` exists and was written after ``source``."""
    return target.exists() and target.stat().st_mtime_ns >= source.stat().st_mtime_ns


def exercise() -> set[str]:
    """Operator names in the 'Runtime'-style config of the INT8 file alone, for ARM.

    Starts from the notebook's FP32 file (exported here if it is missing); the INT8 file and
    the converter's output are kept until the file they were made from changes.
    """
    fp32 = artifacts_dir("nb18", "onnx") / f"course_{default_config().tag()}.onnx"
    if not fp32.exists():  # the notebook's export call, when the solution runs on its own
        course = load_or_train_course_model(progress=False)
        export_if_missing(course.model, torch.zeros(INPUT_SHAPE), fp32, dynamic_dims={0: "batch"})
    alone = artifacts_dir("nb18", "solution", "int8_only")  # the converter takes a folder
    int8 = alone / f"{fp32.stem}_u8s8.onnx"
    if not _up_to_date(int8, fp32):  # notebook 11's recipe: U8S8, per-channel, MinMax
        with tempfile.TemporaryDirectory() as folder:
            pre = Path(folder) / "pre.onnx"
            quant_pre_process(str(fp32), str(pre))
            reader = ArrayCalibrationReader(float_input_name(pre), digits_validation_images(32, seed=0),
                                            batch_size=32)  # 32 validation digits
            quantize_static(str(pre), str(int8), reader, quant_format=QuantFormat.QDQ,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            per_channel=True, calibrate_method=CalibrationMethod.MinMax)
    out = artifacts_dir("nb18", "solution", "ort_runtime_arm")
    config = out / "required_operators_and_types.with_runtime_opt.config"
    if not _up_to_date(config, int8):
        subprocess.run([sys.executable, "-m", "onnxruntime.tools.convert_onnx_models_to_ort", str(alone),
                        "--output_dir", str(out), "--optimization_style", "Runtime",
                        "--target_platform", "arm", "--enable_type_reduction"],
                       check=True, capture_output=True)
    return set(edge.read_operator_config(config).operator)


def is_correct(answer, expected: set[str]) -> bool:
    """The same operator names (any iterable of strings; order and repeats do not matter)."""
    if isinstance(answer, str) or not all(isinstance(name, str) for name in answer):
        return False
    return {name.strip() for name in answer} == expected
