"""The exercise checks' shared logic (helpers.show.exercises) and the cheap parts of the checks."""

from __future__ import annotations

import pytest

from helpers.show.exercises import WrongAnswer, check_exercise, report_problems, spread_verdict
from solutions import nb05_speed_comparison as nb05


def test_spread_verdict_needs_the_rounds_apart():
    assert spread_verdict({"a": [3.0, 3.2, 3.1], "b": [9.0, 8.0, 12.0]}) == "a"
    assert spread_verdict({"a": [9.0, 8.0], "b": [3.0, 3.2]}) == "b"
    # medians far apart but one slow round of the faster setting overlaps the other's range
    assert spread_verdict({"a": [3.0, 3.1, 8.5], "b": [8.0, 9.0, 9.5]}) == "same"
    with pytest.raises(ValueError, match="exactly two"):
        spread_verdict({"a": [1.0]})
    with pytest.raises(ValueError, match="at least one"):
        spread_verdict({"a": [], "b": [1.0]})


def test_report_problems_prints_each_and_says_whether_any(capsys):
    assert report_problems([]) is True and capsys.readouterr().out == ""
    assert report_problems(["one", "two"]) is False
    assert capsys.readouterr().out == "  - one\n  - two\n"


REFERENCE = {"rounds": {"disable_all": [9.0, 10.0, 11.0], "enable_all": [3.0, 3.1, 3.2]},
             "faster": "enable_all"}


def answer(faster: str, scale: float = 1.0, **rounds) -> dict:
    base = {"disable_all": [8.0, 9.5, 12.0], "enable_all": [3.3, 3.0, 3.4]} | rounds
    return {"rounds": {k: [t * scale for t in v] for k, v in base.items()}, "faster": faster}


def test_nb05_check_judges_the_decision_from_the_learners_own_rounds():
    assert nb05.problems(answer("enable_all"), REFERENCE) == []
    # rounds that overlap: "same" is right for them, whatever the reference measured
    overlapping = answer("same", enable_all=[3.3, 3.0, 8.0])
    assert nb05.problems(overlapping, REFERENCE) == []
    assert any("does not follow" in p for p in nb05.problems(answer("same"), REFERENCE))
    assert any("does not follow" in p
               for p in nb05.problems(answer("enable_all", enable_all=[3.3, 3.0, 8.0]), REFERENCE))


@pytest.mark.parametrize("bad, says", [
    (answer("enable_all", scale=1e-3), "far from a measurement"),  # seconds, not ms
    ({"rounds": {"disable_all": [9.0], "enable_all": [3.0]}, "faster": "enable_all"}, "at least"),
    ({"rounds": {"a": [1.0], "b": [2.0]}, "faster": "a"}, "keys"),
    (answer("fastest"), "one of"),
    ([1, 2], "keys"),
])
def test_nb05_check_names_what_is_wrong(bad, says):
    found = nb05.problems(bad, REFERENCE)
    assert any(says in p for p in found), found


def test_nb05_check_never_shows_the_reference_figures(capsys):
    with pytest.raises(WrongAnswer) as caught:
        check_exercise(answer("enable_all", scale=1e-3), lambda: REFERENCE, nb05.is_correct)
    shown = capsys.readouterr().out + str(caught.value)
    assert "10.0" not in shown and "3.1" not in shown


@pytest.mark.parametrize("name", ["nb06_simplification_and_ort_tuning",
                                  "nb12_graph_editing_and_debugging", "nb16_in_the_browser"])
def test_file_checks_say_when_there_is_no_file(tmp_path, name):
    import importlib

    module = importlib.import_module(f"solutions.{name}")
    assert module.problems(tmp_path / "missing.onnx", tmp_path / "reference.onnx") == [
        "no file at missing.onnx"]
    assert "path" in module.problems(None, tmp_path / "reference.onnx")[0]


def test_nb15_check_wants_the_app_object():
    from solutions import nb15_serving_over_http as nb15

    assert "FastAPI app" in nb15.problems("http://127.0.0.1:8000", None)[0]
