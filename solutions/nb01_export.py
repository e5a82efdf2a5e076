"""Notebook 01's exercise: batch norms in an unfolded legacy export of the course model."""

from __future__ import annotations

import warnings

import torch

from helpers.checks import summarize
from helpers.course_model import INPUT_SHAPE, load_or_train_course_model
from helpers.paths import artifacts_dir


def exercise() -> int:
    """Export the course model with ``dynamo=False, do_constant_folding=False``; count BatchNormalization."""
    model = load_or_train_course_model(progress=False).model
    path = artifacts_dir("nb01", "solution") / "course_legacy_nofold.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation warning
        torch.onnx.export(model, (torch.randn(*INPUT_SHAPE),), path, dynamo=False,
                          do_constant_folding=False, input_names=["input"],
                          output_names=["logits"])
    return summarize(path).op_counts["BatchNormalization"]
