"""helpers.start: the set-up every notebook calls, its quick-mode knob and its skip record."""

from __future__ import annotations

import random

import numpy as np
import pytest

import helpers
from helpers import notebook


def test_start_seeds_makes_the_folder_and_reads_quick_mode(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_QUICK", "1")
    first = helpers.start("nbtest", seed=3)
    a = (random.random(), np.random.rand())
    helpers.start("nbtest", seed=3, show=False)
    assert a == (random.random(), np.random.rand())
    assert first.work.is_dir() and first.work.name == "nbtest" and first.quick
    assert "quick mode" in capsys.readouterr().out
    assert first.sizes(quick=1, full=2) == 1
    monkeypatch.setenv("COURSE_QUICK", "0")
    assert helpers.start("nbtest", show=False).sizes(quick=1, full=2) == 2


@pytest.mark.parametrize("name", ["", "../x", ".hidden", "a/b"])
def test_start_refuses_a_name_that_is_not_a_short_folder(name):
    with pytest.raises(ValueError, match="short folder name"):
        helpers.start(name, show=False)


def test_summary_lists_skipped_sections():
    course = helpers.start("nbtest", show=False)
    assert course.summary() == "every section ran on this machine and every expectation held"
    course.skipped.append("'with course_page(...)' (needs chromium)")
    assert "1 cell(s) skipped" in course.summary() and "chromium" in course.summary()


def test_expectations_print_a_finding_and_never_raise(capsys):
    course = helpers.start("nbtest", show=False)
    assert course.expect("a cold start costs more than 3 warm runs", True, "12×") is True
    assert course.expect("ORT is faster at batch 1", False, "0.9×") is False
    out = capsys.readouterr().out
    assert "✔ held: a cold start" in out and "(measured: 12×)" in out
    assert "✘ not held on " in out and "cores" in out  # the CPU is named
    assert course.not_held == ["ORT is faster at batch 1"]
    assert "1 expectation(s) not held" in course.summary() and "batch 1" in course.summary()


def test_missing_tools_names_each_with_its_install_command(monkeypatch):
    from helpers import doctor

    monkeypatch.setattr(doctor, "find_tool", lambda tool: None if tool == "hey" else f"/x/{tool}")
    monkeypatch.setattr(doctor, "install_system", lambda: "brew")
    assert notebook.missing_tools(["chromium", "hey"]) == [("hey", "brew install hey")]
    with pytest.raises(ValueError, match="unknown tool"):
        notebook.missing_tools(["netscape"])
