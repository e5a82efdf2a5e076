"""helpers.classify with an all-in-one file (uint8 pixels in, top-k out): no client preprocessing."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from PIL import Image

from helpers import classify
from helpers.data.datasets import digit_png_paths
from helpers.export.pipeline import DIGITS, export_pipeline
from helpers.models.course import NUM_CLASSES, load_or_train_course_model


@pytest.fixture(scope="module")
def digits_pipeline(tmp_path_factory):
    trained = load_or_train_course_model(progress=False)
    path = tmp_path_factory.mktemp("cli_pipe") / "digits_pipeline.onnx"
    return export_pipeline(trained.model, DIGITS, path, classes=NUM_CLASSES, k=3,
                           labels="digits", weights="trained on digits")


def first_lines(out: str) -> list[str]:
    return [line.strip() for line in out.splitlines() if line.startswith("  1. ")]


def test_all_in_one_file_classifies_digit_pngs(digits_pipeline, capsys):
    paths = digit_png_paths()
    status = classify.main([*map(str, paths), "--model", str(digits_pipeline),
                            "--labels", "digits", "--topk", "2"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    firsts = first_lines(captured.out)
    truths = [p.stem.split("_")[1] for p in paths]
    assert len(firsts) == len(paths)
    assert sum(f.startswith(f"1. {t} ") for f, t in zip(firsts, truths, strict=True)) >= 9
    assert captured.out.count("  2. ") == len(paths)


def test_any_image_size_goes_in_unchanged(digits_pipeline, tmp_path, capsys):
    """A 3 enlarged to 150x130: the file resizes and crops it itself."""
    three = next(p for p in digit_png_paths() if p.name.startswith("digit_3_"))
    big = tmp_path / "three_big.png"
    Image.open(three).resize((130, 150), Image.BILINEAR).save(big)
    assert classify.main([str(big), "--model", str(digits_pipeline), "--labels", "digits",
                          "--topk", "1"]) == 0
    assert first_lines(capsys.readouterr().out)[0].startswith("1. 3 (")


def test_topk_above_what_the_file_returns_is_clamped_with_a_note(digits_pipeline, capsys):
    assert classify.main([str(digit_png_paths()[0]), "--model", str(digits_pipeline),
                          "--labels", "digits", "--topk", "5"]) == 0
    captured = capsys.readouterr()
    assert "returns its top 3 classes" in captured.err
    assert captured.out.count("\n  ") == 3  # ranks 1 to 3, no more
    assert "  3. " in captured.out and "  4. " not in captured.out


def test_label_set_is_checked_against_the_metadata(digits_pipeline, capsys):
    assert classify.main([str(digit_png_paths()[0]), "--model", str(digits_pipeline)]) == 2
    assert "10 classes but --labels imagenet has 1000" in capsys.readouterr().err


def test_recognised_from_its_uint8_input_without_metadata(digits_pipeline, tmp_path, capsys):
    """The same file with its metadata removed and its outputs renamed: the uint8 input and the
    two outputs (probabilities, then indices) alone tell the command what it holds."""
    proto = onnx.load(str(digits_pipeline))
    del proto.metadata_props[:]
    renames = dict(zip([o.name for o in proto.graph.output], ("probabilities", "indices"),
                       strict=True))
    for node in proto.graph.node:
        node.output[:] = [renames.get(name, name) for name in node.output]
    for output in proto.graph.output:
        output.name = renames[output.name]
    onnx.checker.check_model(proto)
    path = tmp_path / "bare.onnx"
    onnx.save(proto, str(path))
    assert classify.main([str(digit_png_paths()[7]), "--model", str(path),
                          "--labels", "digits", "--topk", "1"]) == 0
    assert first_lines(capsys.readouterr().out)[0].startswith("1. 7 (")


def test_bad_image_still_a_clear_error(digits_pipeline, tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    good = digit_png_paths()[0]
    assert classify.main([str(bad), str(good), "--model", str(digits_pipeline),
                          "--labels", "digits"]) == 1
    captured = capsys.readouterr()
    assert "cannot read bad.png" in captured.err and f"{good.name}:" in captured.out


def test_runs_without_torch(digits_pipeline, classify_without_torch):
    done = classify_without_torch(digits_pipeline, digit_png_paths()[3])
    assert done.returncode == 0, done.stderr
    assert "1. 3 (" in done.stdout


def test_pipeline_outputs_are_used_as_they_are(digits_pipeline):
    """The CLI prints the file's own probabilities (no second softmax)."""
    from helpers.runtime.pipeline import classify_pixels
    from helpers.runtime.sessions import create_session

    session = create_session(digits_pipeline)
    image = np.asarray(Image.open(digit_png_paths()[5]).convert("RGB"))
    predictions = classify_pixels(session, image, [str(i) for i in range(10)])
    probabilities = [p.probability for p in predictions]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1 + 1e-6
    assert predictions[0].label == "5"
