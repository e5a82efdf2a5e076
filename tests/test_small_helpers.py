"""helpers.show.exercises, helpers.show.plots, helpers.paths and helpers' top level."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import helpers  # noqa: E402
from helpers.data.labels import top_k  # noqa: E402
from helpers.paths import REPO_ROOT, artifacts_dir, relative  # noqa: E402
from helpers.show.exercises import check_exercise  # noqa: E402
from helpers.show.plots import plot_op_counts, plot_top_k, show_images  # noqa: E402


def test_check_exercise_paths(capsys):
    assert check_exercise(None, lambda: 42) is None
    assert "No answer yet" in capsys.readouterr().out
    check_exercise(42, lambda: 42)
    assert "Correct" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="Not quite: your answer is 41"):
        check_exercise(41, lambda: 42)
    check_exercise(0.1001, lambda: 0.1, lambda a, b: abs(a - b) < 1e-3)
    with pytest.raises(AssertionError, match="reference solution does not pass"):
        check_exercise(None, lambda: float("nan"))  # nan != nan: a broken solution is caught


SECRET = "7319.25 secret-op-Gemm"


@pytest.mark.parametrize("answer", [None, "wrong", 7319, ["Gemm"]])
def test_check_exercise_never_reveals_the_solution(capsys, answer):
    """Not answered or answered wrongly: neither stdout, stderr nor the error names the value."""
    shown = ""
    try:
        check_exercise(answer, lambda: SECRET)
    except AssertionError as error:
        shown += str(error) + repr(error)
    captured = capsys.readouterr()
    shown += captured.out + captured.err
    assert shown, "the learner must be told something"
    for fragment in (SECRET, "7319.25", "secret-op"):
        assert fragment not in shown


def test_check_exercise_runs_the_solution_even_without_an_answer(capsys):
    calls = []

    def chatty_solution():
        calls.append(1)
        print(f"the answer is {SECRET}")
        return SECRET

    check_exercise(None, chatty_solution)
    assert calls == [1] and SECRET not in capsys.readouterr().out


def test_paths_are_relative_and_inside_repo():
    folder = artifacts_dir("unit-test")
    assert folder.is_dir() and relative(folder) == "artifacts/unit-test"
    assert relative("/somewhere/else/model.onnx") == "model.onnx"
    assert (REPO_ROOT / "pyproject.toml").exists()


def test_quick_mode_and_versions(monkeypatch):
    monkeypatch.setenv("COURSE_QUICK", "1")
    assert helpers.quick_mode()
    monkeypatch.setenv("COURSE_QUICK", "0")
    assert not helpers.quick_mode()
    line = helpers.versions_line()
    assert "torch" in line and "onnxruntime" in line


def test_plots_draw_what_they_are_given():
    images = [np.zeros((8, 8, 3), np.uint8)] * 5
    fig = show_images(images, [f"img {i}" for i in range(5)], columns=3)
    assert len(fig.axes) == 6 and fig.axes[4].get_title() == "img 4"
    ax = plot_top_k(top_k(np.array([0.2, 0.5, 0.3]), ["a", "b", "c"], k=3), title="t")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "c", "b"]
    ax = plot_op_counts({"Conv": 3, "Relu": 2})
    assert [round(p.get_height()) for p in ax.patches] == [3, 2]


def test_progress_bar_is_text_when_asked(monkeypatch):
    import tqdm

    monkeypatch.setenv("COURSE_TEXT_PROGRESS", "1")
    bar = helpers.progress_bar(range(3), disable=True)
    assert type(bar) is tqdm.std.tqdm and list(bar) == [0, 1, 2]
    monkeypatch.delenv("COURSE_TEXT_PROGRESS")
    auto = helpers.progress_bar(range(3), disable=True)  # not in a kernel: the text bar too
    assert isinstance(auto, tqdm.std.tqdm) and list(auto) == [0, 1, 2]


def test_made_once_makes_a_second_process_wait_and_partial_paths_are_private(tmp_path):
    import subprocess
    import sys

    from helpers.paths import made_once, partial_path

    target = tmp_path / "model.onnx"
    other = ("import sys; from filelock import FileLock, Timeout\n"
             "try:\n    FileLock(sys.argv[1], timeout=0.3).acquire()\n"
             "except Timeout:\n    print('waited')\nelse:\n    print('entered')")
    lock = str(target.with_name(target.name + ".lock"))
    with made_once(target):
        held = subprocess.run([sys.executable, "-c", other, lock], capture_output=True, text=True)
    after = subprocess.run([sys.executable, "-c", other, lock], capture_output=True, text=True)
    assert (held.stdout.strip(), after.stdout.strip()) == ("waited", "entered")
    partial = partial_path(target)
    assert partial.parent == target.parent and partial.suffix == ".onnx" and partial != target
    assert str(__import__("os").getpid()) in partial.name


def test_projector_style_enlarges_text_and_lines(monkeypatch):
    import matplotlib as mpl

    from helpers.show.style import use_style

    before = dict(mpl.rcParams)
    try:
        with pytest.raises(ValueError, match="expected a style among"):
            use_style("poster")
        monkeypatch.setenv("COURSE_PROJECTOR", "1")
        assert use_style() == "projector"
        assert mpl.rcParams["font.size"] >= 14 and mpl.rcParams["lines.linewidth"] > 2
        assert mpl.rcParams["backend"] == before["backend"]
    finally:
        mpl.rcParams.update(before)


def test_check_exercise_answer_of_the_wrong_kind_is_a_clear_wrong_answer():
    from helpers.show.exercises import WrongAnswer

    with pytest.raises(WrongAnswer, match="is a str, which cannot be compared") as caught:
        check_exercise("-0.3", lambda: -0.25, is_correct=lambda got, want: abs(got - want) <= 0.15)
    assert "0.25" not in str(caught.value)
