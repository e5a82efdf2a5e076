"""Notebook 18 exercise: the operators a reduced ORT build needs for the INT8 course model on
an ARM phone, converted with the 'Runtime' optimisation style."""

from __future__ import annotations

import shutil
import subprocess
import sys

from helpers.models.course import export_course_model
from helpers.paths import artifacts_dir
from helpers.runtime import edge
from helpers.runtime.quantization import digits_calibration_reader, quantize_int8


def exercise() -> set[str]:
    """Operator names in the 'Runtime'-style config of the INT8 file alone, for ARM."""
    work = artifacts_dir("nb18", "solution")
    fp32 = export_course_model(work)
    int8 = work / f"{fp32.stem}_u8s8.onnx"
    if not int8.exists():  # notebook 11's recipe: U8S8, per-channel, MinMax, validation digits
        quantize_int8(fp32, int8, digits_calibration_reader(fp32, 32, batch_size=32))
    alone = artifacts_dir("nb18", "solution", "int8_only")
    shutil.copy(int8, alone / int8.name)
    out = artifacts_dir("nb18", "solution", "ort_runtime_arm")
    subprocess.run([sys.executable, "-m", "onnxruntime.tools.convert_onnx_models_to_ort", str(alone),
                    "--output_dir", str(out), "--optimization_style", "Runtime",
                    "--target_platform", "arm", "--enable_type_reduction"],
                   check=True, capture_output=True)
    config = out / "required_operators_and_types.with_runtime_opt.config"
    return set(edge.read_operator_config(config).operator)


def is_correct(answer, expected: set[str]) -> bool:
    """The same operator names (any iterable of strings; order and repeats do not matter)."""
    if isinstance(answer, str) or not all(isinstance(name, str) for name in answer):
        return False
    return {name.strip() for name in answer} == expected
