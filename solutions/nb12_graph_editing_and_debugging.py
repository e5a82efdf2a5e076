"""Notebook 12's exercise: cut the course model's backbone out with ``onnx.utils.extract_model``."""

from __future__ import annotations

import onnx

from helpers.data.datasets import load_digits_splits
from helpers.data.images import preprocess_digit
from helpers.models.course import export_course_model
from helpers.paths import artifacts_dir
from helpers.runtime.sessions import create_session, run


def exercise() -> tuple[int, ...]:
    """Extract input → the tensor the final Gemm reads; return its output shape for 2 digits."""
    folder = artifacts_dir("nb12", "solution")
    source = export_course_model(folder)
    model = onnx.load(source)
    gemm = next(n for n in reversed(model.graph.node) if n.op_type in ("Gemm", "MatMul"))
    backbone = folder / "backbone.onnx"
    onnx.utils.extract_model(str(source), str(backbone), ["input"], [gemm.input[0]])
    features = run(create_session(backbone), preprocess_digit(load_digits_splits().x_test[:2]))[0]
    return tuple(int(d) for d in features.shape)
