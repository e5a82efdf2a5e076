"""helpers.doctor: the readiness report, its exit status, and what it says with tools hidden."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from helpers import doctor
from helpers.machine import describe_machine
from helpers.paths import REPO_ROOT


def _doctor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "helpers.doctor", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300, env=env)


def test_doctor_runs_and_passes_here():
    result = _doctor()
    assert result.returncode == 0, result.stdout + result.stderr
    for heading in ("Machine", "What to expect on this CPU", "Packages", "Optional tools",
                    "Notebook sections", "ImageNet weights"):
        assert f"\n{heading}\n" in result.stdout, heading
    assert describe_machine().cpu_class in result.stdout


def test_hidden_tools_are_reported_missing_and_do_not_fail(tmp_path):
    """With PATH pointing at an empty folder no optional tool is found; the course still runs."""
    env = {**os.environ, "PATH": str(tmp_path)}
    result = _doctor("--json", "--no-weights", env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    tools = {c["name"]: c for c in report["checks"] if c["group"] == "tool"}
    for name in doctor.TOOLS:
        assert tools[name]["status"] == "missing" and tools[name]["fix"], tools[name]
    sections = {c["name"]: c["status"] for c in report["checks"] if c["group"] == "section"}
    assert sections == {"12 graph pictures": "skip", "15 load test": "ok",
                        "16 the browser chapter": "skip"}, sections
    assert report["exit_code"] == 0 and report["machine"]["cpu_class"]


def test_a_missing_pinned_package_stops_the_course():
    report = doctor.run_checks(pins={"surely-not-installed-xyz": "1.0", "numpy": "0.0.1"},
                               weights=False)
    assert report.exit_code == 1
    by_name = {c.name: c for c in report.checks}
    missing = by_name["surely-not-installed-xyz"]
    assert missing.status == "error" and "requirements.txt" in missing.fix
    assert by_name["numpy"].status == "warn"  # another version is a warning, not a stop


def test_python_versions():
    assert doctor.check_python((3, 9, 18), "apt").status == "error"
    assert doctor.check_python((2, 7, 18), "brew").status == "error"
    assert doctor.check_python((3, 12, 3), "windows").status == "warn"
    assert doctor.check_python((3, 11, 7), "linux").status == "ok"
    assert "winget" in doctor.check_python((3, 9, 0), "windows").fix


def test_chrome_under_another_name_and_fixes_per_system():
    found = {"google-chrome": "/opt/google/chrome/google-chrome", "chromedriver": "/opt/bin/chromedriver"}
    checks, paths = doctor.check_tools(which=found.get, system="brew")
    assert paths["chromium"] == found["google-chrome"] and paths["hey"] is None
    fixes = {c.name: c.fix for c in checks}
    assert fixes["hey"] == "brew install hey" and fixes["chromium"] is None
    sections = {c.name: c for c in doctor.check_sections({**paths, "web/node_modules": "web"})}
    assert sections["12 graph pictures"].status == "ok" and "Netron" in sections["12 graph pictures"].detail
    assert sections["15 load test"].status == "ok"  # the course's Python client stands in for hey
    assert sections["16 the browser chapter"].status == "ok"
    graphviz_only = {c.name: c for c in doctor.check_sections({"dot": "/bin/dot"})}
    assert "graphviz" in graphviz_only["12 graph pictures"].detail
    windows = {c.name: c.fix for c in doctor.check_tools(which=lambda name: None, system="windows")[0]}
    assert windows["chromium"].startswith("winget") and windows["dot"].startswith("winget")


def test_pins_are_read_and_archspec_is_pinned_in_both_files():
    pins = doctor.read_pins()
    assert pins["torch"] and pins["archspec"]
    assert f"- archspec=={pins['archspec']}" in (REPO_ROOT / "environment.yml").read_text()


def test_text_report_names_every_problem_with_its_fix():
    report = doctor.Report([doctor.Check("tool", "hey", "missing", "load", "brew install hey")],
                           describe_machine("apple-m2").to_dict(), [])
    text = doctor.format_report(report)
    assert "Apple M2 (m2)" in text and "NEON dotprod" in text and "fix: brew install hey" in text
    assert report.exit_code == 0
