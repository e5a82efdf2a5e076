"""Inputs nobody picked for the helpers: bombs, directories, empty files, NaN, bad flags.

Each case was first seen failing (a traceback, a machine path, a silent wrong answer);
these tests pin the clear behaviour that replaced it.
"""

from __future__ import annotations

import struct
import subprocess
import sys
import warnings
import zlib

import numpy as np
import onnx
import pytest

from helpers import classify
from helpers.data.datasets import digit_png_paths
from helpers.data.images import ImageReadError, decode_image, load_image
from helpers.graph.checks import InvalidModelError, load_model
from helpers.paths import REPO_ROOT
from helpers.runtime.sessions import (
    InputValidationError,
    NonFiniteWarning,
    create_session,
    run,
    session_options,
)


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels (a decompression bomb's shape)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


# --- images -------------------------------------------------------------------------------

def test_a_decompression_bomb_is_a_clear_image_error(tmp_path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header_only(20_000, 20_000))
    assert bomb.stat().st_size < 100
    with pytest.raises(ImageReadError, match=r"bomb\.png: 20000×20000 = 400\.0 megapixels"):
        load_image(bomb)


def test_a_large_image_below_pillows_error_gives_our_error_without_pillows_warning(tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(png_header_only(10_000, 10_000))  # 100 MP: Pillow would only warn
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning (Pillow's, with its path) fails the test
        with pytest.raises(ImageReadError, match="more than the 89.5 megapixels allowed"):
            load_image(big)
    with pytest.raises(ImageReadError, match="more than the 1.0 megapixels allowed"):
        decode_image(png_header_only(2000, 1000), "wide.png", max_pixels=1_000_000)


def test_a_directory_is_not_reported_as_missing(tmp_path):
    with pytest.raises(ImageReadError, match="is a directory, not an image file"):
        load_image(tmp_path)


def test_decode_image_reads_bytes_and_names_the_source():
    data = digit_png_paths()[0].read_bytes()
    assert decode_image(data, "upload").shape == (64, 64, 3)
    with pytest.raises(ImageReadError, match="upload is empty"):
        decode_image(b"", "upload")
    with pytest.raises(ImageReadError, match="cannot read upload as an image"):
        decode_image(data[: len(data) // 2], "upload")


@pytest.mark.parametrize("data", [b"hello, this is text", b"\x89PNG\r\n\x1a\n" + b"\0" * 40,
                                  b"GIF89a" + b"\xff" * 30, bytes(range(256))], ids=str)
def test_an_unreadable_image_is_described_not_shown_as_an_object(data):
    with pytest.raises(ImageReadError) as caught:
        decode_image(data, "upload")
    text = str(caught.value)
    assert "cannot read upload as an image" in text and "expected PNG, JPEG" in text
    assert " object at 0x" not in text and "BytesIO" not in text, text


# --- models -------------------------------------------------------------------------------

def test_an_empty_file_is_not_an_empty_model(tmp_path):
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(InvalidModelError, match="empty.onnx is empty"):
        load_model(empty)
    with pytest.raises(InvalidModelError, match="empty.onnx is empty"):
        create_session(empty)


def test_a_directory_is_not_a_model(tmp_path):
    folder = tmp_path / "model.onnx"
    folder.mkdir()
    with pytest.raises(InvalidModelError, match="model.onnx is a directory"):
        load_model(folder)
    with pytest.raises(InvalidModelError, match="model.onnx is a directory"):
        create_session(folder)


def test_missing_external_data_names_the_file_not_the_machine_path(tmp_path, tiny_onnx):
    model = onnx.load(str(tiny_onnx))
    path = tmp_path / "external.onnx"
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="external.onnx.data", size_threshold=0)
    (tmp_path / "external.onnx.data").unlink()
    for attempt in (load_model, create_session):
        with pytest.raises(InvalidModelError) as info:
            attempt(path)
        message = str(info.value)
        assert "external.onnx.data" in message and "missing" in message, message
        assert str(tmp_path) not in message, message


# --- inputs -------------------------------------------------------------------------------

def test_non_finite_inputs_warn_by_default_and_can_be_refused(tiny_onnx):
    session = create_session(tiny_onnx, threads=1)
    batch = np.zeros((2, 3, 64, 64), dtype=np.float32)
    batch[0, 0, 0, :3] = np.nan
    batch[1, 1, 1, 1] = np.inf
    with pytest.warns(NonFiniteWarning, match=r"input 'input' holds 3 NaN and 1 infinite"):
        logits = run(session, batch)[0]
    assert not np.isfinite(logits).all()  # the warning was about something real
    with pytest.raises(InputValidationError, match="expected finite values"):
        run(session, batch, nonfinite="error")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run(session, np.zeros((1, 3, 64, 64), dtype=np.float32))  # finite: no warning


def test_threads_must_be_positive():
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        session_options(threads=-1)
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        session_options(threads=0)


# --- the command line ------------------------------------------------------------------------

def test_cli_reports_a_bomb_in_one_line_and_classifies_the_rest(tmp_path, digits_onnx):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header_only(20_000, 20_000))
    good = digit_png_paths()[3]
    done = subprocess.run(
        [sys.executable, "-m", "helpers.classify", str(bomb), str(good), str(tmp_path),
         "--model", str(digits_onnx), "--labels", "digits", "--topk", "1"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert done.returncode == 1, done.stderr
    errors = done.stderr.strip().splitlines()
    assert len(errors) == 2, done.stderr  # one line for the bomb, one for the directory
    assert errors[0].startswith("error: bomb.png: 20000×20000"), errors
    assert "is a directory, not an image file" in errors[1], errors
    assert "Traceback" not in done.stderr and str(tmp_path) not in done.stderr
    assert f"{good.name}:" in done.stdout and "1. 3 (" in done.stdout


def test_cli_rejects_non_positive_threads(digits_onnx, capsys):
    for bad in ("-1", "0"):
        with pytest.raises(SystemExit) as info:
            classify.main([str(digit_png_paths()[0]), "--model", str(digits_onnx),
                           "--labels", "digits", "--threads", bad])
        assert info.value.code == 2
        assert "--threads: expected a positive integer" in capsys.readouterr().err


def test_cli_says_a_directory_is_not_a_model(tmp_path, capsys):
    assert classify.main([str(digit_png_paths()[0]), "--model", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "is a directory" in err and "not found" not in err
