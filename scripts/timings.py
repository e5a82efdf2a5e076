"""How long each notebook runs, measured: the figures the notebooks and the instructor's guide state.

    python scripts/timings.py update   # fold the last runs' timings into docs/timings.json,
                                       # then rewrite each notebook's run-time line and the guide
    python scripts/timings.py check    # exit 1 when a stated figure differs from docs/timings.json

``make course`` writes ``build/timings-full.json`` (or ``-quick`` with ``--quick``) and ``make
test`` writes ``build/timings-quick.json``: seconds per notebook on this machine. ``update``
copies them into the committed ``docs/timings.json`` with the machine and the date, and writes
the sentences from that file, so a stated time is always a measured one.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
RECORD = ROOT / "docs" / "timings.json"
GUIDE = ROOT / "docs" / "instructor.md"
BUILD = ROOT / "build"
MODES = ("quick", "full")
RUN_LINE = re.compile(r"\*\*Run time:\*\*[^\n]*")
LIVE_LIMIT_S = 180  # a notebook presented live in quick mode should finish within 3 minutes


def machine_name() -> str:
    """The CPU and core count, in the words the notebooks' versions line uses."""
    sys.path.insert(0, str(ROOT))
    from helpers.machine import short_machine

    return short_machine()


def write_run(mode: str, seconds: dict[str, float], path: Path | None = None) -> Path:
    """Record one run's seconds per notebook (``{"05": 165.2, ...}``) under build/."""
    path = path or BUILD / f"timings-{mode}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    old = json.loads(path.read_text()) if path.exists() else {}
    merged = {**old.get("seconds", {}), **{k: round(v, 1) for k, v in seconds.items()}}
    path.write_text(json.dumps({"mode": mode, "machine": machine_name(),
                                "date": dt.date.today().isoformat(),
                                "seconds": dict(sorted(merged.items()))}, indent=1) + "\n")
    return path


def load_record(path: Path = RECORD) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def minutes(seconds: float) -> str:
    """``"under a minute"``, ``"1.5 min"``, ``"12 min"``."""
    if seconds < 60:
        return "under a minute"
    return f"{seconds / 60:.1f} min" if seconds < 600 else f"{seconds / 60:.0f} min"


def run_line(number: str, record: dict) -> str | None:
    """The sentence a notebook's title cell states, from the record (None when unmeasured)."""
    parts = []
    for mode in MODES:
        entry = record.get(mode, {})
        if number in entry.get("seconds", {}):
            parts.append(f"{minutes(entry['seconds'][number])} in {mode} mode")
    if not parts:
        return None
    machines = sorted({record[m]["machine"] for m in MODES if number in
                       record.get(m, {}).get("seconds", {})})
    return (f"**Run time:** {' and '.join(parts)}, measured on {' / '.join(machines)} "
            "(`make test` runs quick mode, `make course` full mode; a busy or slower machine "
            "takes longer).")


def title_cell_with(source: str, line: str) -> str:
    """The title cell's text with its run-time line replaced, or added after the Time paragraph."""
    if RUN_LINE.search(source):
        return RUN_LINE.sub(line, source)
    return source.rstrip() + "\n\n" + line


def notebook_numbers() -> list[str]:
    return [p.name[:2] for p in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))]


def timings_table(record: dict) -> str:
    """The guide's table: per notebook, quick and full run time and whether it fits live."""
    rows = ["| notebook | quick mode | full mode | live in quick mode |", "|---|---|---|---|"]
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        n = path.name[:2]
        quick = record.get("quick", {}).get("seconds", {}).get(n)
        full = record.get("full", {}).get("seconds", {}).get(n)
        fits = "—" if quick is None else ("yes" if quick <= LIVE_LIMIT_S else "no: run before class")
        rows.append(f"| {path.stem} | {minutes(quick) if quick else 'not measured'} | "
                    f"{minutes(full) if full else 'not measured'} | {fits} |")
    notes = [f"{m} mode: {record[m]['machine']}, {record[m]['date']}"
             + (f" ({record[m]['note']})" if record[m].get("note") else "")
             for m in MODES if m in record]
    return "\n".join(rows) + "\n\nMeasured: " + "; ".join(notes) + "."


def reading_minutes_of(path: Path) -> int:
    text = "".join(json.loads(path.read_text())["cells"][0]["source"])
    found = re.search(r"\*\*Time:\*\*\s+about (\d+) minutes to read", text)
    return int(found.group(1)) if found else 0


def schedule(record: dict, day_minutes: int = 6 * 60) -> str:
    """One-day and two-day plans: notebooks in order, each taking its reading time plus its quick
    run, packed into days of ``day_minutes`` of teaching."""
    items = []
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        quick = record.get("quick", {}).get("seconds", {}).get(path.name[:2], 0)
        items.append((path.stem, reading_minutes_of(path) + quick / 60))
    total = sum(m for _, m in items)
    lines = [f"All notebooks: about {total / 60:.1f} hours of reading, discussion and quick-mode "
             "runs (reading times by the course's rule, run times measured)."]
    for days in (1, 2):
        budget = day_minutes * days
        chosen, used = [], 0.0
        for name, m in items:  # in course order, up to the first that no longer fits
            if used + m > budget:
                break
            chosen.append(name)
            used += m
        lines.append(f"\n**{days}-day plan** ({budget // 60} h of teaching): "
                     + ", ".join(n[:2] for n in chosen) + f" (about {used / 60:.1f} h)"
                     + ("; the rest as reading at home: "
                        + ", ".join(n[:2] for n, _ in items if n not in chosen)
                        if len(chosen) < len(items) else "; every notebook fits") + ".")
    return "\n".join(lines)


def replace_block(text: str, name: str, body: str) -> str:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if start not in text or end not in text:
        return text
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


def expected_texts(record: dict) -> dict[Path, str]:
    """Every file whose text follows from the record, with the text it should have."""
    out = {}
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        line = run_line(path.name[:2], record)
        if line is None:
            continue
        notebook = json.loads(path.read_text())
        first = notebook["cells"][0]
        new = title_cell_with("".join(first["source"]), line)
        first["source"] = new.splitlines(keepends=True)
        out[path] = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
    if GUIDE.exists():
        text = GUIDE.read_text()
        text = replace_block(text, "timings", timings_table(record))
        out[GUIDE] = replace_block(text, "schedule", schedule(record))
    return out


def update() -> int:
    record = load_record()
    for mode in MODES:
        run = BUILD / f"timings-{mode}.json"
        if run.exists():
            data = json.loads(run.read_text())
            entry = record.setdefault(mode, {"seconds": {}})
            entry["seconds"] = {**entry.get("seconds", {}), **data["seconds"]}
            entry["machine"], entry["date"] = data["machine"], data["date"]
            entry.pop("note", None)  # a note was about the run this one replaces
            print(f"{mode}: {len(data['seconds'])} notebooks from {run.relative_to(ROOT)}")
    RECORD.parent.mkdir(parents=True, exist_ok=True)
    RECORD.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    for path, text in expected_texts(record).items():
        if path.read_text() != text:
            path.write_text(text)
            print(f"rewrote {path.relative_to(ROOT)}")
    return 0


def check() -> int:
    stale = [p for p, text in expected_texts(load_record()).items() if p.read_text() != text]
    for path in stale:
        print(f"{path.relative_to(ROOT)} states other times than docs/timings.json: "
              "run `python scripts/timings.py update`")
    return 1 if stale else 0


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command not in ("update", "check"):
        raise SystemExit(__doc__)
    raise SystemExit(update() if command == "update" else check())
