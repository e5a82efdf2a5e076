"""Notebook 04's exercise: the course model's accuracy on the digit PNGs mirrored left-right."""

from __future__ import annotations

import math
import re

import numpy as np

from helpers.data.datasets import digit_png_paths
from helpers.data.images import load_image, preprocess_digit
from helpers.data.labels import softmax
from helpers.models.course import export_course_model
from helpers.paths import artifacts_dir
from helpers.runtime.sessions import create_session, run


def exercise() -> float:
    """Top-1 accuracy (fraction, 2 decimals) of the ORT course model on flipped digit PNGs."""
    path = export_course_model(artifacts_dir("nb04", "solution"))
    session = create_session(path)
    paths = digit_png_paths()
    correct = 0
    for p in paths:
        true = int(re.fullmatch(r"digit_(\d)_\d+\.png", p.name).group(1))
        flipped = np.ascontiguousarray(np.fliplr(load_image(p)))
        predicted = int(np.argmax(softmax(run(session, preprocess_digit(flipped))[0][0])))
        correct += predicted == true
    return round(correct / len(paths), 2)


def is_correct(answer, expected: float) -> bool:
    """A number within 0.005 of the reference."""
    try:
        return math.isclose(float(answer), expected, abs_tol=0.005)
    except (TypeError, ValueError):
        return False
