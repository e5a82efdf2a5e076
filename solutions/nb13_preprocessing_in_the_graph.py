"""Notebook 13's exercise: digits accuracy of an all-in-one file exported without antialiasing."""

from __future__ import annotations

import dataclasses

import numpy as np
from sklearn.datasets import load_digits

from helpers.data.datasets import digit_to_rgb, load_digits_splits
from helpers.export.pipeline import DIGITS, export_pipeline
from helpers.models.course import NUM_CLASSES, load_or_train_course_model
from helpers.paths import artifacts_dir
from helpers.runtime.sessions import create_session, run


def exercise() -> int:
    """Test digits (all of them, rendered at 100x100) classified correctly without antialiasing."""
    course = load_or_train_course_model(progress=False)
    path = export_pipeline(course.model, dataclasses.replace(DIGITS, antialias=False),
                           artifacts_dir("nb13", "solution") / "course_pipeline_no_aa.onnx",
                           classes=NUM_CLASSES, k=1, labels="digits")
    session = create_session(path)
    splits = load_digits_splits()
    scans = load_digits().images
    rendered = {digit_to_rgb(scan).tobytes(): scan for scan in scans}
    correct = 0
    for image, label in zip(splits.x_test, splits.y_test, strict=True):
        large = digit_to_rgb(rendered[image.tobytes()], size=100)
        correct += int(run(session, np.ascontiguousarray(large))[1][0] == label)
    return correct
