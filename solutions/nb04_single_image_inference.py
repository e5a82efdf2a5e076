"""Notebook 04's exercise: the digit PNG the course model is least sure about (torch-free inference)."""

from __future__ import annotations

import torch

from helpers.course_model import INPUT_SHAPE, load_or_train_course_model
from helpers.data import digit_png_paths
from helpers.export import export_if_missing
from helpers.images import load_image, preprocess_digit
from helpers.labels import softmax
from helpers.paths import artifacts_dir
from helpers.runtime import create_session, run


def exercise() -> str:
    """File name of the digit PNG with the lowest top-1 probability in ONNX Runtime."""
    course = load_or_train_course_model(progress=False)
    path = export_if_missing(course.model, torch.randn(*INPUT_SHAPE),
                             artifacts_dir("nb04", "solution") / f"course_{course.config.tag()}.onnx",
                             dynamo=True, dynamic_dims={0: "batch"})
    session = create_session(path)
    confidence = {p.name: float(softmax(run(session, preprocess_digit(load_image(p)))[0][0]).max())
                  for p in digit_png_paths()}
    return min(confidence, key=confidence.get)
