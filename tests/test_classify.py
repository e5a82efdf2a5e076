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
