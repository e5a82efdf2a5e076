"""helpers.export.exporters and helpers.graph.checks: both exporters, the checker, summaries, bad files."""

from __future__ import annotations

import copy

import onnx
import pytest
import torch

from helpers.export import exporters
from helpers.export.exporters import export_if_missing, export_key, export_onnx, stored_export_key
from helpers.graph.checks import (
    InvalidModelError,
    check_model,
    format_summary,
    load_model,
    op_counts_frame,
    summarize,
)


@pytest.mark.parametrize("dynamo", [True, False])
def test_export_with_dynamic_dims(tmp_path, tiny_model, dynamo):
    path = tmp_path / "model.onnx"
    result = export_onnx(tiny_model, torch.randn(1, 3, 64, 64), path, dynamo=dynamo,
                         dynamic_dims={0: "batch", 2: "height", 3: "width"},
                         dim_bounds={"height": (32, 256), "width": (32, 256)},
                         metadata={"weights": "random"})
    assert result.exporter == ("dynamo" if dynamo else "torchscript")
    assert result.size_bytes == path.stat().st_size > 0
    assert not path.with_name("model.onnx.data").exists()  # one self-contained file
    summary = summarize(path)
    (inp,) = summary.inputs
    assert inp.name == "input" and inp.dtype == "float"
    assert isinstance(inp.shape[0], str) and inp.shape[1] == 3
    assert isinstance(inp.shape[2], str) and isinstance(inp.shape[3], str)
    assert summary.outputs[0].name == "logits" and summary.outputs[0].shape[1] == 10
    assert summary.opset == result.opset
    assert summary.parameters >= 8 * 3 * 9 + 8 * 10  # conv and linear weights at least
    meta = {p.key: p.value for p in load_model(path).metadata_props}
    assert meta["weights"] == "random"


def test_legacy_opset_is_respected(tmp_path, tiny_model):
    result = export_onnx(tiny_model, torch.randn(1, 3, 32, 32), tmp_path / "m.onnx",
                         dynamo=False, opset=13)
    assert result.opset == 13
    assert summarize(result.path).inputs[0].shape == (1, 3, 32, 32)


def test_export_rejects_non_image_example(tmp_path, tiny_model):
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        export_onnx(tiny_model, torch.randn(3, 64, 64), tmp_path / "m.onnx")


def test_export_if_missing_reuses_only_the_same_export(tmp_path, tiny_model, capsys, monkeypatch):
    monkeypatch.setattr(exporters, "EXPORT_CACHE", tmp_path / "cache")  # nothing exported before
    tiny_model = copy.deepcopy(tiny_model)  # the fixture is shared; this test edits weights
    path = tmp_path / "m.onnx"
    example = torch.randn(1, 3, 32, 32)
    export_if_missing(tiny_model, example, path, dynamo=False)
    assert "exported m.onnx (not there yet)" in capsys.readouterr().out
    before = path.stat().st_mtime_ns
    export_if_missing(tiny_model, torch.randn(1, 3, 32, 32), path, dynamo=False)
    assert "reused m.onnx" in capsys.readouterr().out  # said out loud, file untouched
    assert path.stat().st_mtime_ns == before
    # other export arguments: a new file, and the reason is printed
    export_if_missing(tiny_model, example, path, dynamo=False, opset=13)
    assert "other arguments" in capsys.readouterr().out
    assert summarize(path).opset == 13
    # other weights (same arguments): exported again too
    with torch.no_grad():
        next(tiny_model.parameters()).add_(1.0)
    export_if_missing(tiny_model, example, path, dynamo=False, opset=13)
    assert "other arguments or weights" in capsys.readouterr().out
    # a file without a key (made elsewhere) is replaced, never trusted
    export_onnx(tiny_model, example, path, dynamo=False)
    export_if_missing(tiny_model, example, path, dynamo=False, announce=False)
    assert capsys.readouterr().out == ""
    assert stored_export_key(path) == export_key(tiny_model, example, dynamo=False)


def test_the_same_export_for_another_path_is_copied_not_made_again(tmp_path, tiny_model, capsys,
                                                                  monkeypatch):
    monkeypatch.setattr(exporters, "EXPORT_CACHE", tmp_path / "cache")
    example = torch.randn(1, 3, 32, 32)
    first = export_if_missing(tiny_model, example, tmp_path / "a" / "m.onnx", dynamo=False)
    assert "exported m.onnx (not there yet)" in capsys.readouterr().out
    calls = []
    monkeypatch.setattr(exporters, "export_onnx", lambda *a, **k: calls.append(a))
    second = export_if_missing(tiny_model, example, tmp_path / "b" / "m.onnx", dynamo=False)
    said = capsys.readouterr().out
    assert said.startswith("copied m.onnx (not there yet) from ") and "exported earlier" in said
    assert calls == [] and second.read_bytes() == first.read_bytes()
    assert stored_export_key(second) == export_key(tiny_model, example, dynamo=False)
    # other arguments: not in the cache, so the exporter runs
    export_if_missing(tiny_model, example, tmp_path / "b" / "m.onnx", dynamo=False, opset=13)
    assert len(calls) == 1


def test_export_key_covers_mode_shape_and_arguments(tiny_model):
    example = torch.randn(1, 3, 32, 32)
    base = export_key(tiny_model, example, dynamo=True)
    assert base == export_key(tiny_model, torch.randn(1, 3, 32, 32), dynamo=True)  # values don't matter
    assert base != export_key(tiny_model, torch.randn(2, 3, 32, 32), dynamo=True)
    assert base != export_key(tiny_model, example, dynamo=False)
    assert base != export_key(copy.deepcopy(tiny_model).train(), example, dynamo=True)


@pytest.mark.parametrize("dynamo", [True, False])
def test_both_exporters_default_to_opset_20(tmp_path, tiny_model, dynamo):
    """No hidden course default: opset=None is torch.onnx.export's own default (20 in torch 2.14)."""
    result = export_onnx(tiny_model, torch.randn(1, 3, 32, 32), tmp_path / "m.onnx", dynamo=dynamo)
    assert result.opset == 20


def test_check_model_passes_valid_model(tiny_onnx):
    inferred = check_model(tiny_onnx)
    assert isinstance(inferred, onnx.ModelProto)
    assert len(inferred.graph.value_info) > 0  # shape inference annotated intermediate tensors


def test_check_model_catches_a_dangling_edge(tmp_path, tiny_onnx):
    model = onnx.load(str(tiny_onnx))
    del model.graph.node[0]  # the next node now reads a tensor that nobody produces
    broken = tmp_path / "broken.onnx"
    onnx.save(model, str(broken))
    with pytest.raises(InvalidModelError, match="broken.onnx failed the ONNX checker"):
        check_model(broken)


def test_missing_and_corrupt_files(tmp_path, corrupt_onnx):
    with pytest.raises(FileNotFoundError, match="ONNX model not found"):
        summarize(tmp_path / "nope.onnx")
    with pytest.raises(InvalidModelError, match="corrupt.onnx is not a valid ONNX model"):
        check_model(corrupt_onnx)


def test_summary_text_and_frame(tiny_onnx):
    summary = summarize(tiny_onnx)
    text = format_summary(summary)
    assert "input     input: float[batch, 3, 64, 64]" in text
    assert f"opset {summary.opset}" in text
    frame = op_counts_frame({"a": summary, "b": summary})
    assert frame.loc["total", "a"] == summary.node_count == frame.loc["total", "b"]
    assert frame.loc["Conv", "a"] == 1
