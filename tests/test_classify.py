"""helpers.classify: the torch-free command line."""

from __future__ import annotations

import pytest
import torch

from helpers import classify
from helpers.data.datasets import digit_png_paths
from helpers.export.exporters import export_onnx


def test_classifies_digit_pngs_correctly(digits_onnx, capsys):
    paths = digit_png_paths()
    status = classify.main([*map(str, paths), "--model", str(digits_onnx),
                            "--labels", "digits", "--topk", "2"])
    out = capsys.readouterr().out.splitlines()
    assert status == 0
    firsts = [out[i + 1].strip() for i in range(0, len(out), 3)]
    labels = [p.stem.split("_")[1] for p in paths]
    correct = sum(first.startswith(f"1. {label} ") for first, label in zip(firsts, labels, strict=True))
    assert correct >= 9, out


def test_runs_without_torch(digits_onnx, classify_without_torch):
    """The command must work where PyTorch is not installed: block the import and run it."""
    done = classify_without_torch(digits_onnx, digit_png_paths()[3])
    assert done.returncode == 0, done.stderr
    assert "1. 3 (" in done.stdout


def test_missing_model_and_bad_image(tmp_path, digits_onnx, capsys):
    assert classify.main(["x.png", "--model", str(tmp_path / "none.onnx")]) == 2
    assert "ONNX model not found" in capsys.readouterr().err
    bad = tmp_path / "bad.png"
    bad.write_text("hello")
    assert classify.main([str(bad), "--model", str(digits_onnx), "--labels", "digits"]) == 1
    assert "cannot read bad.png as an image" in capsys.readouterr().err


def test_label_set_must_match_model(digits_onnx, capsys):
    status = classify.main([str(digit_png_paths()[0]), "--model", str(digits_onnx)])
    assert status == 2
    assert "outputs 10 classes but --labels imagenet has 1000" in capsys.readouterr().err


def test_bad_topk_exits_with_usage_error(digits_onnx, capsys):
    with pytest.raises(SystemExit) as info:
        classify.main([str(digit_png_paths()[0]), "--model", str(digits_onnx),
                       "--labels", "digits", "--topk", "11"])
    assert info.value.code == 2
    assert "--topk must be between 1 and 10" in capsys.readouterr().err


def test_random_weights_are_flagged(tmp_path, tiny_model, capsys):
    path = tmp_path / "random.onnx"
    export_onnx(tiny_model, torch.zeros(1, 3, 64, 64), path, dynamo=False,
                metadata={"weights": "random"})
    assert classify.main([str(digit_png_paths()[0]), "--model", str(path), "--labels", "digits"]) == 0
    assert "RANDOM weights" in capsys.readouterr().err


def channels_last_model(path, height, width):
    """A 10-class file whose input is [N, H, W, 3] (NHWC), as a Keras-style export would be."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.ones((3, 10), dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Transpose", ["x"], ["nchw"], perm=[0, 3, 1, 2]),
         helper.make_node("ReduceMean", ["nchw"], ["pooled"], axes=[2, 3], keepdims=0),
         helper.make_node("MatMul", ["pooled", "w"], ["logits"])],
        "nhwc", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", height, width, 3])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], [weights])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


@pytest.mark.parametrize("height, width", [("H", "W"), (64, 64)], ids=["dynamic", "fixed"])
def test_a_channels_last_model_is_refused_with_the_axis_that_is_wrong(tmp_path, capsys,
                                                                        height, width):
    path = channels_last_model(tmp_path / "nhwc.onnx", height, width)
    status = classify.main([str(digit_png_paths()[0]), "--model", str(path), "--labels", "digits"])
    err = capsys.readouterr().err
    assert status == 2, err
    assert f"axis 1 is {height!r} where this command puts the 3 colour channels" in err
    assert "channels-last (NHWC)" in err and "got (1, 3" not in err
