"""Notebook 16's exercise: make a colleague's model, which the page refuses, load in the page."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

from helpers.data.datasets import digit_png_paths
from helpers.paths import artifacts_dir
from helpers.serve.app import load_classifier
from helpers.serve.browser import compare_with_python, course_page
from helpers.show.exercises import report_problems

TEMPERATURE = 2.0  # the colleague's calibration: logits divided by 2


def colleague_file(source: str | Path, folder: str | Path) -> Path:
    """The course model as a colleague's tools wrote it: calibrated (``fc`` divided by the
    temperature), re-stamped with the newest IR version ``onnx`` knows, and saved with its
    weights in a side file. Python ORT loads it; this page does not. Made once per source."""
    path = Path(folder) / f"{Path(source).stem}_colleague.onnx"
    if path.exists():
        return path
    model = onnx.load(str(source))
    for tensor in model.graph.initializer:
        if tensor.name in ("fc.weight", "fc.bias"):
            scaled = numpy_helper.to_array(tensor) / np.float32(TEMPERATURE)
            tensor.CopyFrom(numpy_helper.from_array(scaled.astype(np.float32), tensor.name))
    model.ir_version = onnx.IR_VERSION
    onnx.save(model, str(path), save_as_external_data=True, location=path.name + ".data",
              size_threshold=1024)
    return path


def exercise(colleague: str | Path) -> Path:
    """Load the weights back into the model, declare IR 10 (what the exporter wrote), one file."""
    model = onnx.load(str(colleague))  # reads the side file's weights into the model
    model.ir_version = 10
    path = artifacts_dir("nb16", "solution") / "colleague_for_the_page.onnx"
    onnx.save(model, str(path))  # every tensor inside the one file
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64), dtype=np.float32)
    outputs = [ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
               for p in (colleague, path)]
    assert np.abs(outputs[0] - outputs[1]).max() < 1e-6, "the fix changed what the model computes"
    return path


def problems(answer, solution: Path) -> list[str]:
    """Serve ``answer`` to the page; what keeps it from computing there what the colleague's
    model computes in Python ORT (``solution``: the reference fix, equal to it in Python)."""
    try:
        path = Path(answer)
    except TypeError:
        return ["the answer is the path of your file"]
    if not path.is_file():
        return [f"no file at {path.name}"]
    reference = load_classifier(solution, threads=1)  # the colleague's model, in Python ORT
    try:
        with course_page(path) as driver:
            parity = compare_with_python(driver, reference, digit_png_paths())
    except Exception as error:  # noqa: BLE001 - the page's (or the server's) own message
        return [f"{type(error).__name__}: {str(error)[:400]}"]
    if (parity["browser top-1"] != parity["Python top-1"]).any() or (
            parity["max |Δ probability|"].max() > 1e-5):
        return [f"the page loads {path.name}, but its probabilities are not those of the "
                "colleague's model in Python ORT"]
    return []


def is_correct(answer, solution: Path) -> bool:
    """The check for the notebook: prints what is wrong, if anything."""
    return report_problems(problems(answer, solution))
