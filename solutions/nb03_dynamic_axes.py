"""Notebook 03's exercise: a batch-only dynamic export accepts other batches, not other sizes."""

from __future__ import annotations

import numpy as np
import torch

from helpers.export.exporters import export_if_missing
from helpers.models.course import INPUT_SHAPE, load_or_train_course_model
from helpers.paths import artifacts_dir
from helpers.runtime.sessions import create_session

CANDIDATES = ((2, 3, 64, 64), (1, 3, 96, 96), (5, 3, 64, 64))


def exercise() -> list[tuple[int, ...]]:
    """Return the shapes among ``CANDIDATES`` that ONNX Runtime runs on a batch-only dynamic export."""
    course = load_or_train_course_model(progress=False)
    path = export_if_missing(course.model, torch.randn(*INPUT_SHAPE),
                             artifacts_dir("nb03", "solution") / f"course_batch_{course.config.tag()}.onnx",
                             dynamo=True, dynamic_dims={0: "batch"})
    session = create_session(path)
    accepted = []
    for shape in CANDIDATES:
        try:
            session.run(None, {"input": np.zeros(shape, dtype=np.float32)})
        except Exception:  # noqa: BLE001 - ORT raises InvalidArgument for a wrong shape
            continue
        accepted.append(shape)
    return accepted
