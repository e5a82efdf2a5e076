"""Notebook 07 exercise: the course model in ONNX Runtime with every graph optimisation off."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import torch

from helpers.data.datasets import load_digits_splits
from helpers.export.exporters import export_if_missing
from helpers.models.course import INPUT_SHAPE, load_or_train_course_model, to_tensors
from helpers.paths import artifacts_dir
from helpers.runtime.sessions import create_session, run, session_options, torch_outputs


def exercise() -> dict[str, float]:
    """Test-split predictions that differ from PyTorch, and the largest |Δ logit|, without ORT's optimiser."""
    course = load_or_train_course_model(progress=False)
    path = export_if_missing(
        course.model, torch.zeros(INPUT_SHAPE),
        artifacts_dir("nb07") / f"course_{course.config.tag()}_legacy.onnx",
        dynamo=False, dynamic_dims={0: "batch"},
    )
    options = session_options(optimization=ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    session = create_session(path, providers=["CPUExecutionProvider"], options=options)
    splits = load_digits_splits()
    x, _ = to_tensors(splits.x_test, splits.y_test)
    reference = torch_outputs(course.model, x.numpy())
    unoptimised = run(session, x.numpy())[0]
    return {"differing": int((reference.argmax(1) != unoptimised.argmax(1)).sum()),
            "max_abs_diff": float(np.abs(reference - unoptimised).max())}


def is_correct(answer: dict, expected: dict) -> bool:
    """Same count of differing predictions; the same |Δ logit| up to float32 noise."""
    try:
        differing = int(answer["differing"])
        diff = float(answer["max_abs_diff"])
    except (TypeError, KeyError, ValueError):
        return False
    return differing == expected["differing"] and bool(
        np.isclose(diff, expected["max_abs_diff"], rtol=0.5, atol=1e-6))
