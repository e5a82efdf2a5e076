"""Notebook 01's exercise: an ONNX file of the course model for a device with an older runtime."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from helpers.data.datasets import load_digits_splits
from helpers.data.images import preprocess_digit
from helpers.models.course import INPUT_SHAPE, load_or_train_course_model
from helpers.paths import artifacts_dir

MAX_IR, MAX_OPSET, BATCH = 8, 17, 16


def exercise() -> Path:
    """The course model as one file with IR ≤ 8, opset ≤ 17 and a dynamic batch named ``input``."""
    model = load_or_train_course_model(progress=False).model
    path = artifacts_dir("nb01", "solution") / "course_for_device.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation warning
        torch.onnx.export(model, (torch.randn(*INPUT_SHAPE),), path, dynamo=False,
                          opset_version=MAX_OPSET, input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    return path


def problems(path: str | Path) -> list[str]:
    """What keeps ``path`` from running on the target device (an empty list: nothing)."""
    path = Path(path)
    if not path.is_file():
        return [f"no file at {path.name}"]
    found = []
    if path.with_name(path.name + ".data").exists() or list(path.parent.glob(path.stem + "*.data")):
        found.append("weights in a separate .data file (the device takes one file)")
    proto = onnx.load(path, load_external_data=False)
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
    if proto.ir_version > MAX_IR:
        found.append(f"IR version {proto.ir_version} (the device loads IR ≤ {MAX_IR})")
    if opset > MAX_OPSET:
        found.append(f"opset {opset} (the device runs opset ≤ {MAX_OPSET})")
    if found:
        return found
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    if [i.name for i in session.get_inputs()] != ["input"]:
        return [f"inputs {[i.name for i in session.get_inputs()]} (expected one named 'input')"]
    x = preprocess_digit(load_digits_splits().x_test[:BATCH])
    try:
        got = session.run(None, {"input": x})[0]
    except Exception:  # noqa: BLE001 - a fixed batch is refused here
        return [f"a batch of {BATCH} is refused (the batch axis must be dynamic)"]
    with torch.no_grad():
        want = load_or_train_course_model(progress=False).model.eval()(torch.from_numpy(x)).numpy()
    if np.abs(got - want).max() > 1e-4:
        return ["the outputs differ from PyTorch's"]
    return []


def meets_target(answer: str | Path, _solution: Path) -> bool:
    """The check for the notebook: the learner's file has no problem for the device."""
    found = problems(answer)
    for problem in found:
        print("  -", problem)
    return not found
