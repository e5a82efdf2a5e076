"""Notebook 11 exercise: S8S8, per-tensor, Percentile calibration on 64 validation digits."""

from __future__ import annotations

from pathlib import Path

import torch
from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from helpers.data.datasets import load_digits_splits
from helpers.export.exporters import export_if_missing
from helpers.models.course import (
    INPUT_SHAPE,
    default_config,
    load_or_train_course_model,
    to_tensors,
)
from helpers.paths import artifacts_dir
from helpers.runtime.quantization import (
    ArrayCalibrationReader,
    digits_validation_images,
    float_input_name,
    optimized_op_counts,
)
from helpers.runtime.sessions import create_session, run


def _up_to_date(target: Path, source: Path) -> bool:
    """True when ``target`` exists and was written after ``source``."""
    return target.exists() and target.stat().st_mtime_ns >= source.stat().st_mtime_ns


def exercise() -> dict[str, int]:
    """Float Conv nodes ORT still runs, and test predictions that differ from FP32 (the
    quantized file is kept until the FP32 file changes)."""
    work = artifacts_dir("nb11")
    fp32 = work / f"course_{default_config().tag()}.onnx"  # the notebook's FP32 file
    if not fp32.exists():
        course = load_or_train_course_model(progress=False)
        export_if_missing(course.model, torch.zeros(INPUT_SHAPE), fp32, dynamic_dims={0: "batch"})
    pre = work / f"{fp32.stem}_exercise_pre.onnx"
    int8 = work / f"{fp32.stem}_exercise_s8s8_pt_percentile_n64.onnx"
    if not _up_to_date(int8, fp32):  # made once per FP32 file
        quant_pre_process(str(fp32), str(pre))
        reader = ArrayCalibrationReader(float_input_name(pre), digits_validation_images(64, seed=0),
                                        batch_size=32)
        quantize_static(str(pre), str(int8), reader, quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,  # S8S8
                        per_channel=False,  # one scale per weight tensor
                        calibrate_method=CalibrationMethod.Percentile)
    splits = load_digits_splits()
    x, _ = to_tensors(splits.x_test, splits.y_test)
    cpu = ["CPUExecutionProvider"]
    reference = run(create_session(fp32, providers=cpu), x.numpy())[0]
    quantized = run(create_session(int8, providers=cpu), x.numpy())[0]
    return {"float_conv": int(optimized_op_counts(int8)["Conv"]),
            "differing": int((reference.argmax(1) != quantized.argmax(1)).sum())}


def is_correct(answer: dict, expected: dict) -> bool:
    """Both counts exactly."""
    try:
        return (int(answer["float_conv"]) == expected["float_conv"]
                and int(answer["differing"]) == expected["differing"])
    except (TypeError, KeyError, ValueError):
        return False
