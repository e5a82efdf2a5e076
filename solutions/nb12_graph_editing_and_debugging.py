"""Notebook 12's exercise: a second output, the L2-normalised features the classifier's fc reads."""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper
from torch import nn

from helpers.data.datasets import load_digits_splits
from helpers.data.images import preprocess_digit
from helpers.graph.checks import InvalidModelError, check_model
from helpers.models.course import load_or_train_course_model
from helpers.paths import artifacts_dir
from helpers.runtime.sessions import create_session
from helpers.show.exercises import report_problems

N_DIGITS = 64
ATOL = 1e-4


def exercise(source: str | Path) -> Path:
    """``source`` (the course model's ONNX file) with a second output ``embedding``:
    LpNormalization (p=2) of the tensor the final Gemm reads."""
    model = onnx.load(str(source))
    gemm = next(n for n in reversed(model.graph.node) if n.op_type == "Gemm")
    model.graph.node.append(helper.make_node("LpNormalization", [gemm.input[0]], ["embedding"],
                                             axis=1, p=2, name="embedding_l2"))
    model.graph.output.append(helper.make_tensor_value_info("embedding", TensorProto.FLOAT,
                                                            ["batch", 512]))
    path = artifacts_dir("nb12", "solution") / "course_with_embedding.onnx"
    onnx.save(model, path)
    return path


@functools.cache
def reference(n_digits: int = N_DIGITS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Test digits, PyTorch's logits and unit-length features (the model with ``fc`` removed)."""
    x = preprocess_digit(load_digits_splits().x_test[:n_digits])
    model = load_or_train_course_model(progress=False).model.eval()
    backbone = copy.deepcopy(model)
    backbone.fc = nn.Identity()
    with torch.no_grad():
        logits = model(torch.from_numpy(x)).numpy()
        features = backbone(torch.from_numpy(x)).numpy()
    return x, logits, features / np.linalg.norm(features, axis=1, keepdims=True)


def problems(answer, _solution: Path | None = None) -> list[str]:
    """What is wrong with the learner's file (an empty list: nothing)."""
    try:
        path = Path(answer)
    except TypeError:
        return ["the answer is the path of your edited file"]
    if not path.is_file():
        return [f"no file at {path.name}"]
    try:
        check_model(path)
    except InvalidModelError as error:
        return [f"the checker refuses {path.name}: {str(error)[:300]}"]
    session = create_session(path)
    names = [o.name for o in session.get_outputs()]
    if names != ["logits", "embedding"]:
        return [f"outputs {names}: expected 'logits' first (as before), then 'embedding'"]
    x, want_logits, want_embedding = reference()
    logits, embedding = session.run(None, {session.get_inputs()[0].name: x})
    found = []
    if logits.shape != want_logits.shape or np.abs(logits - want_logits).max() > ATOL:
        found.append("'logits' no longer match the course model's")
    if embedding.shape != want_embedding.shape:
        found.append(f"'embedding' has shape {embedding.shape} for {N_DIGITS} digits: one vector "
                     "per image, as long as what the fc layer reads")
    elif np.abs(embedding - want_embedding).max() > ATOL:
        norms = np.linalg.norm(embedding, axis=1)
        hint = ("its rows are not of length 1" if np.abs(norms - 1).max() > 1e-3
                else "it is not the tensor the fc layer reads")
        found.append(f"'embedding' differs from the reference computed in PyTorch: {hint}")
    return found


def is_correct(answer, solution: Path) -> bool:
    """The check for the notebook: prints what is wrong, if anything."""
    return report_problems(problems(answer, solution))
