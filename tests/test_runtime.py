"""helpers.runtime.sessions: sessions, input validation and parity."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from helpers.graph.checks import InvalidModelError
from helpers.runtime.sessions import (
    InputValidationError,
    check_parity,
    compare_outputs,
    create_session,
    default_providers,
    input_specs,
    run,
    session_options,
)


@pytest.fixture(scope="module")
def session(tiny_onnx):
    return create_session(tiny_onnx, threads=1)


def test_providers_and_options():
    assert default_providers()[-1] == "CPUExecutionProvider"
    options = session_options(threads=2, optimization=ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    assert options.intra_op_num_threads == 2
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_DISABLE_ALL


def test_session_errors(tmp_path, corrupt_onnx):
    with pytest.raises(FileNotFoundError, match="ONNX model not found"):
        create_session(tmp_path / "missing.onnx")
    with pytest.raises(InvalidModelError, match="ONNX Runtime cannot load corrupt.onnx"):
        create_session(corrupt_onnx)


def test_input_specs(session):
    (spec,) = input_specs(session)
    assert spec.name == "input" and spec.shape[1:] == (3, 64, 64) and spec.dtype is np.float32
    assert spec.describe() == "'input' of shape [batch, 3, 64, 64] float32"


def test_run_and_parity(session, tiny_model):
    x = np.random.default_rng(0).standard_normal((4, 3, 64, 64), dtype=np.float32)
    (logits,) = run(session, x)
    assert logits.shape == (4, 10)
    report = check_parity(tiny_model, session, x)
    assert report.allclose and report.max_abs_diff < 1e-4
    assert report.top1_agreement == 1.0 and report.topk_agreement == 1.0 and report.rows == 4
    assert run(session, {"input": x})[0].shape == (4, 10)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.zeros((3, 64, 64), np.float32), r"got \(3, 64, 64\) float32 \(rank 3 instead of 4\)"),
        (np.zeros((1, 3, 64, 64), np.float64), r"float64 \(wrong dtype\)"),
        (np.zeros((1, 3, 64, 64), np.uint8), r"uint8 \(wrong dtype\)"),
        (np.zeros((1, 1, 64, 64), np.float32), r"axis 1 must be 3"),
        (np.zeros((1, 3, 32, 64), np.float32), r"axis 2 must be 64"),
        (np.zeros((0, 3, 64, 64), np.float32), r"axis 0 is empty"),
        ({"image": np.zeros((1, 3, 64, 64), np.float32)}, r"expected input names \['input'\], got \['image'\]"),
        ([[0.0]], r"as a numpy array, got list"),
    ],
)
def test_bad_inputs_are_named_clearly(session, bad, message):
    with pytest.raises(InputValidationError, match=message):
        run(session, bad)


def test_validation_message_names_what_was_expected(session):
    with pytest.raises(InputValidationError) as info:
        run(session, np.zeros((3, 64, 64), np.uint8))
    assert str(info.value).startswith("expected input 'input' of shape [batch, 3, 64, 64] float32")


def test_compare_outputs_counts_disagreements():
    reference = np.array([[3.0, 2.0, 1.0], [0.0, 1.0, 2.0]])
    candidate = np.array([[3.0, 2.0, 1.0], [0.0, 2.5, 2.0]])  # row 2 changes its top-1
    report = compare_outputs(reference, candidate, k=2)
    assert report.max_abs_diff == pytest.approx(1.5)
    assert report.mean_abs_diff == pytest.approx(0.25)
    assert not report.allclose
    assert report.top1_agreement == 0.5
    assert report.topk_agreement == 1.0  # same two classes on top, in another order
    with pytest.raises(ValueError, match="outputs differ in shape"):
        compare_outputs(reference, candidate[:1])
