"""The course-wide check of figures two notebooks both state (scripts/check_course.py)."""

from __future__ import annotations

import importlib.util
import json
import sys

from helpers.paths import REPO_ROOT

spec = importlib.util.spec_from_file_location("check_course", REPO_ROOT / "scripts" / "check_course.py")
check_course = importlib.util.module_from_spec(spec)
sys.modules["check_course"] = check_course  # dataclasses look their module up there
spec.loader.exec_module(check_course)


def write(folder, name, quick=False, **values):
    (folder / f"{name}.json").write_text(json.dumps(
        {k: {"value": v, "quick": quick} for k, v in values.items()}))


def test_agreeing_disagreeing_and_missing_figures(tmp_path):
    write(tmp_path, "nb03", named_dim_loop_batch3="ORT refuses")
    write(tmp_path, "nb09", named_dim_loop_batch3="wrong answer")
    write(tmp_path, "nb05", resnet18_ort_b1_224_ms=12.8)
    write(tmp_path, "nb13", resnet18_ort_b1_224_ms=14.0)
    write(tmp_path, "nb15", quick=True, load_c1_p50_ms=5.0, server_work_ms=3.0, http_cost_ms=1.5)
    verdicts = [v for _, v, _ in check_course.check(check_course.load_facts(tmp_path))]
    assert verdicts == ["DISAGREE", "agree", "agree"]
    write(tmp_path, "nb13", resnet18_ort_b1_224_ms=25.7)  # the 1.5× tolerance exceeded
    write(tmp_path, "nb15", load_c1_p50_ms=2.0, server_work_ms=3.0, http_cost_ms=1.5)  # faster than the work
    verdicts = [v for _, v, _ in check_course.check(check_course.load_facts(tmp_path))]
    assert verdicts == ["DISAGREE", "DISAGREE", "DISAGREE"]
    (tmp_path / "nb09.json").unlink()
    write(tmp_path, "nb13", quick=True, resnet18_ort_b1_224_ms=12.8)
    results = check_course.check(check_course.load_facts(tmp_path))
    assert [v for _, v, _ in results][:2] == ["not run", "not run"]
    assert "quick and full runs mixed" in results[1][2]


def test_share_records_a_figure_for_the_check(tmp_path):
    from helpers.notebook import Course

    course = Course(name="nb99", seed=0, quick=True, work=tmp_path / "nb99")
    assert course.share("ms", 1.5) == 1.5
    course.share("verdict", "correct")
    facts = check_course.load_facts(tmp_path / "facts")
    assert facts == {"nb99.ms": {"value": 1.5, "quick": True},
                     "nb99.verdict": {"value": "correct", "quick": True}}
