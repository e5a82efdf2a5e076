"""Notebook 02's exercise: a zeroed bias passes the checker but breaks parity and costs accuracy."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from helpers.data.datasets import load_digits_splits
from helpers.data.images import preprocess_digit
from helpers.graph.checks import InvalidModelError, check_model
from helpers.models.course import export_course_model, load_or_train_course_model
from helpers.paths import artifacts_dir
from helpers.runtime.sessions import check_parity, create_session, run

N_DIGITS = 200


def exercise() -> tuple[bool, bool, int]:
    """Zero ``fc.bias`` in the course model's ONNX file: (checker passes, allclose, correct of 200)."""
    course = load_or_train_course_model(progress=False)
    folder = artifacts_dir("nb02", "solution")
    source = export_course_model(folder)
    model = onnx.load(source)
    bias = next(t for t in model.graph.initializer if t.name == "fc.bias")
    bias.CopyFrom(numpy_helper.from_array(np.zeros_like(numpy_helper.to_array(bias)), "fc.bias"))
    edited = folder / "course_zero_bias.onnx"
    onnx.save(model, edited)
    try:
        check_model(edited)
        checker_passes = True
    except InvalidModelError:
        checker_passes = False
    splits = load_digits_splits()
    x = preprocess_digit(splits.x_test[:N_DIGITS])
    session = create_session(edited)
    report = check_parity(course.model, session, x)
    correct = int((run(session, x)[0].argmax(1) == splits.y_test[:N_DIGITS]).sum())
    return checker_passes, report.allclose, correct


def same_answer(answer: tuple, expected: tuple) -> bool:
    """The two booleans exactly, the count within one."""
    return (len(answer) == 3 and tuple(answer[:2]) == tuple(expected[:2])
            and abs(int(answer[2]) - int(expected[2])) <= 1)
