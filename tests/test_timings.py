"""The run times the notebooks and the instructor's guide state come from docs/timings.json,
which `make timings` fills from the last measured runs (scripts/timings.py)."""

from __future__ import annotations

import importlib.util

from helpers.paths import REPO_ROOT

spec = importlib.util.spec_from_file_location("timings", REPO_ROOT / "scripts" / "timings.py")
timings = importlib.util.module_from_spec(spec)
spec.loader.exec_module(timings)

RECORD = {"quick": {"machine": "M", "date": "d", "seconds": {"05": 170.0, "00": 8.0}},
          "full": {"machine": "M", "date": "d", "seconds": {"05": 1500.0}}}


def test_stated_run_times_are_the_recorded_ones():
    record = timings.load_record()
    stale = [p.name for p, text in timings.expected_texts(record).items()
             if p != timings.GUIDE and p.read_text() != text]
    assert not stale, f"{stale} state other times than docs/timings.json: make timings"
    if timings.GUIDE.exists():  # each measured notebook's row in the guide, as the record says
        guide = timings.GUIDE.read_text()
        rows = [row for row in timings.timings_table(record).splitlines()
                if row.startswith("| ") and "not measured | not measured" not in row]
        missing = [row for row in rows[2:] if row not in guide]
        assert not missing, f"the guide's table differs from docs/timings.json: {missing[:2]}"


def test_run_line_and_minutes():
    assert timings.minutes(30) == "under a minute" and timings.minutes(90) == "1.5 min"
    assert timings.minutes(1500) == "25 min"
    line = timings.run_line("05", RECORD)
    assert line.startswith("**Run time:** 2.8 min in quick mode and 25 min in full mode")
    assert timings.run_line("07", RECORD) is None
    replaced = timings.title_cell_with("# T\n\n**Run time:** old.\n\nmore", line)
    assert replaced.count("**Run time:**") == 1 and line in replaced and replaced.endswith("more")


def test_write_run_merges_runs(tmp_path):
    path = tmp_path / "t.json"
    timings.write_run("quick", {"01": 10.04}, path)
    timings.write_run("quick", {"02": 20.0}, path)
    data = __import__("json").loads(path.read_text())
    assert data["seconds"] == {"01": 10.0, "02": 20.0} and data["mode"] == "quick"


def test_schedule_packs_notebooks_in_order_into_days():
    text = timings.schedule(timings.load_record(), day_minutes=6 * 60)
    one, two = (line for line in text.splitlines() if "-day plan" in line)
    first_day = one.split(": ", 1)[1].split(" (")[0].split(", ")
    assert first_day[0] == "00" and first_day == sorted(first_day)
    assert len(two.split(": ", 1)[1].split(" (")[0].split(", ")) >= len(first_day)
