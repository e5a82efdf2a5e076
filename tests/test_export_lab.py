"""helpers.export.lab: quiet exports, trimmed errors, verdicts in ORT, the findings table."""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import os
import sys
import warnings

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from helpers.export.lab import (
    EXPORTERS,
    Export,
    Findings,
    collected_output,
    leaves,
    tidy,
    torchlib_table_once,
    try_export,
    verdict,
)
from helpers.paths import REPO_ROOT


class Double(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2


class CentreFloat(nn.Module):
    """Exports without error, but the legacy tracer bakes the example's mean in."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - float(x.mean())


class SignFlip(nn.Module):
    """A Python ``if`` on a tensor value: the dynamo exporter refuses it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            return x * 2
        return -x


def test_tidy_removes_colour_codes_repo_paths_and_addresses():
    raw = RuntimeError(f"\x1b[96mstep 1/3\x1b[0m failed in {REPO_ROOT / 'helpers' / 'x.py'} "
                       f"for <Foo object at 0x7f3a2b1c> and /home/someone/.cache/w.onnx")
    text = tidy(raw)
    assert text.startswith("RuntimeError: step 1/3 failed in helpers")
    assert "\x1b" not in text and str(REPO_ROOT) not in text and "0x7f" not in text
    assert "/home/someone" not in text and "w.onnx" in text
    assert "https://pytorch.org/docs/x" in tidy("see https://pytorch.org/docs/x")  # URLs stay


def test_tidy_shortens_site_packages_paths_and_cells():
    raw = ('File "/usr/lib/python3/dist-packages/torch/onnx/_x.py", line 3\n'
           'File "/tmp/ipykernel_123/456.py", line 7')
    text = tidy(raw)
    assert 'File "torch/onnx/_x.py", line 3' in text and 'File "<cell>", line 7' in text
    assert "/usr/lib" not in text and "/tmp" not in text


def test_tidy_keeps_a_dynamo_summary_without_advice():
    raw = ("TorchExportError: Failed to export. \x1b[96mThis is step 1/3\x1b[0m. Next steps:\n"
           "- Modify the model code. Refer to https://pytorch.org/docs\n"
           "\n## Exception summary\n\n<class 'GuardOnDataDependentSymNode'>: Could not guard\n\n"
           "consider using data-dependent friendly APIs\n"
           "For more information, run with TORCH_LOGS=\"dynamic\"\n"
           "(Refer to the full stack trace above for more information.)")
    text = tidy(raw, max_lines=None)
    assert text.splitlines() == ["TorchExportError: Failed to export. This is step 1/3. Next steps:",
                                 "GuardOnDataDependentSymNode: Could not guard"]
    assert tidy("<class 'torch.onnx._internal.exporter._errors.ConversionError'>: x") == "ConversionError: x"
    assert len(tidy("a\nb\nc\nd\ne\nf", max_lines=2).splitlines()) == 2
    assert tidy("x" * 500, width=50).endswith("...") and len(tidy("x" * 500, width=50)) == 50


def test_collected_output_captures_c_level_python_logs_and_warnings(capfd):
    with collected_output() as lines:
        os.write(1, b"from C on fd 1\n")
        os.write(2, b"from C on fd 2\n")
        print("python print")
        print("python stderr", file=sys.stderr)
        logging.getLogger("torch.onnx").warning("a torch.onnx log record")
        warnings.warn("a warning", UserWarning, stacklevel=1)
    shown = capfd.readouterr()
    for text in ("from C on fd 1", "from C on fd 2", "python print", "python stderr",
                 "a torch.onnx log record", "a warning"):
        assert text in lines, text
        assert text not in shown.out + shown.err, f"{text!r} was printed"
    print("after the block")
    assert "after the block" in capfd.readouterr().out  # streams restored


def test_collected_output_restores_streams_after_an_exception(capfd):
    with pytest.raises(ValueError), collected_output():
        raise ValueError("boom")
    os.write(1, b"fd 1 works again\n")
    assert "fd 1 works again" in capfd.readouterr().out


def test_leaves_flattens_nested_outputs_and_drops_strings():
    a, b, c = torch.ones(1), torch.zeros(2), torch.full((3,), 2.0)
    flat = leaves({"x": a, "y": [b, ("label", [c])]})
    assert [x.shape for x in flat] == [(1,), (2,), (3,)]


@pytest.mark.parametrize("exporter", list(EXPORTERS))
def test_a_correct_export_is_correct(tmp_path, exporter):
    result = try_export(Double(), (torch.rand(2, 3),), tmp_path / "double", exporter)
    assert result.ok and result.path == tmp_path / f"double_{exporter}.onnx"
    assert result.input_shape() == [2, 3]
    assert verdict(result, Double(), np.full((2, 3), -1.5, np.float32)).status == "correct"


def test_a_wrong_answer_is_caught_on_a_fresh_input(tmp_path):
    result = try_export(CentreFloat(), (torch.rand(2, 4),), tmp_path / "centre", "legacy")
    assert result.ok
    assert any("TracerWarning" in line or "trace" in line.lower() for line in result.logs)
    other = np.random.default_rng(0).normal(5, 2, (2, 4)).astype(np.float32)
    judged = verdict(result, CentreFloat(), other)
    assert judged.status == "wrong answer" and "max |Δ|" in judged.detail


def test_a_failing_export_is_returned_not_raised(tmp_path, capfd):
    result = try_export(SignFlip(), (torch.ones(2, 3),), tmp_path / "sign", "dynamo")
    shown = capfd.readouterr()
    assert not result.ok and "\x1b" not in result.error and str(REPO_ROOT) not in result.error
    assert "guard" in result.error.lower()
    assert shown.out == shown.err == "", "nothing printed"
    assert verdict(result, SignFlip(), np.ones((2, 3), np.float32)).status == "export fails"


def test_a_file_ort_cannot_load_is_refused(tmp_path):
    garbage = tmp_path / "garbage_dynamo.onnx"
    garbage.write_bytes(b"not a protobuf at all")
    judged = verdict(Export("dynamo", garbage), Double(), np.ones((2, 3), np.float32))
    assert judged.status == "ORT refuses" and str(tmp_path) not in judged.detail


def test_a_wrong_input_shape_is_refused_by_ort(tmp_path):
    result = try_export(Double(), (torch.rand(2, 3),), tmp_path / "fixed", "dynamo")
    assert verdict(result, Double(), np.ones((5, 3), np.float32)).status == "ORT refuses"


def test_torchlib_table_once_gives_the_same_table_and_the_same_file(tmp_path):
    from torch.onnx._internal import _lazy_import

    module = importlib.import_module(_lazy_import.onnxscript_apis._name)
    original = module.get_torchlib_ops
    rebuilt = [(m.qualified_name, m.function) for m in original()]
    with torchlib_table_once():
        assert module.get_torchlib_ops is not original
        first, second = module.get_torchlib_ops(), module.get_torchlib_ops()
        assert [(m.qualified_name, m.function) for m in first] == rebuilt
        assert first == second and first is not second, "each export gets its own list"
    assert module.get_torchlib_ops is original, "restored after the block"

    plain = tmp_path / "plain.onnx"
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(Double(), (torch.rand(2, 3),), plain, dynamo=True, external_data=False)
    shared = try_export(Double(), (torch.rand(2, 3),), tmp_path / "shared", "dynamo")
    assert onnx.load(plain).graph == onnx.load(shared.path).graph


def test_share_torchlib_table_keeps_one_copy_for_the_process(monkeypatch):
    from torch.onnx._internal import _lazy_import

    from helpers.export import lab

    module = importlib.import_module(_lazy_import.onnxscript_apis._name)
    original = module.get_torchlib_ops
    monkeypatch.setattr(lab, "_SHARED_TABLE", [])
    try:
        lab.share_torchlib_table()
        shared = module.get_torchlib_ops
        assert shared is not original
        lab.share_torchlib_table()  # a second call changes nothing
        assert module.get_torchlib_ops is shared and len(lab._SHARED_TABLE) == 1
        assert [m.qualified_name for m in shared()] == [m.qualified_name for m in original()]
    finally:
        module.get_torchlib_ops = original  # the test leaves the process as it found it


def test_try_export_rejects_an_unknown_exporter(tmp_path):
    with pytest.raises(ValueError, match="exporter must be one of"):
        try_export(Double(), (torch.rand(1),), tmp_path / "x", "tracing")


def test_findings_table_and_pivot():
    findings = Findings()
    findings.add("second", "legacy", True, "wrong answer", "fix b", False)
    findings.add("first", "dynamo", False, "correct", "none")
    findings.add("first", "legacy", True, "wrong answer", "fix a", True)
    findings.add("second", "dynamo", False, "correct", "none")
    frame = findings.frame()
    assert list(frame["limitation"]) == ["second", "second", "first", "first"]
    assert list(frame["exporter"]) == ["dynamo=True", "dynamo=False"] * 2
    assert list(frame["workaround verified"]) == ["", "NO", "", "yes"]
    pivot = findings.pivot()
    assert pivot.loc["second", "dynamo=False"] == "yes" and pivot.loc["first", "dynamo=True"] == "no"
    findings.add("third", "dynamo", True, "folded", "nothing to fix", by_design=True)
    findings.add("third", "legacy", False, "kept", "none", by_design=True)
    assert findings.pivot().loc["third"].tolist() == ["by design", "no"]
    assert (findings.pivot() == "yes").sum().tolist() == [0, 2], "by design is never a problem"
    with pytest.raises(ValueError):
        findings.add("x", "torchscript", True, "", "")
