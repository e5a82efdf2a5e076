"""A grid's result and its report files: results.csv, results.json, summary.md."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.bench.common import BenchError


@dataclass
class GridResult:
    """Records of a grid run, with the machine (and how busy it was), settings and wall time."""

    records: list[dict[str, Any]]
    machine: dict[str, Any]
    settings: dict[str, Any]
    wall_s: float
    reused: int = 0

    def frame(self):
        from helpers.bench.analysis import results_frame

        return results_frame(self.records)


def load_report(folder: str | Path) -> GridResult | None:
    """A report written by :func:`write_report`, or None when there is none."""
    path = Path(folder) / "results.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    records = data["records"]
    return GridResult(records, data["machine"], data["settings"], data["wall_s"], len(records))


def markdown_table(frame) -> str:
    """A DataFrame as a Markdown table (no extra dependency)."""
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def format_table(records: Sequence[dict[str, Any]]) -> str:
    """A readable table of records for people (``--format table``)."""
    from helpers.bench.analysis import results_frame

    frame = results_frame(records)
    if frame.empty:
        return "(no measurements)"
    columns = [c for c in ("model", "batch", "size", "engine", "threads", "median_ms", "low_ms",
                           "high_ms", "rounds", "runs", "quality", "peak_rss_mb", "status",
                           "note") if c in frame.columns]
    return frame[columns].round(2).astype(object).fillna("").to_string(index=False)


def busy_summary(machine: dict[str, Any]) -> str:
    """One sentence on how busy the machine was during the grid (loud when it was)."""
    total, busy = machine.get("rounds_total", 0), machine.get("rounds_busy", 0)
    share = machine.get("others_cpu_share_max", 0.0)
    text = (f"{busy}/{total} rounds ran while the machine was busy (other programs used up to "
            f"{share:.0%} of the CPUs; load average at start {machine.get('load_average')}, at "
            f"the end {machine.get('load_average_end')})")
    return ("WARNING: BUSY MACHINE. " + text + "; busy rounds are left out of a cell's figure "
            "where two quiet rounds exist.") if busy else text + "."


def summary_markdown(result: GridResult) -> str:
    """The report's text: machine, settings, busy-ness, wall time, findings, headline."""
    from helpers.bench.analysis import findings, findings_frame, headline
    from helpers.sysinfo import format_machine

    frame = result.frame()
    settings = result.settings
    lines = ["# Benchmark report", "", f"Machine: {format_machine(result.machine)}.", "",
             busy_summary(result.machine), "",
             f"Grid: {settings['grid']}; {len(result.records)} cells, "
             f"{settings['policy']['rounds']} rounds each, interleaved across engines and "
             f"shapes; wall time {result.wall_s / 60:.1f} min; {settings['threads']} threads "
             f"for every engine; exporter {settings['exporter']}; run policy per round "
             f"{settings['policy']}.", "",
             f"Cells measured again because a sanity check failed: "
             f"{settings.get('remeasured_cells', 0)}; still suspect, left out of the findings: "
             f"{settings.get('suspect_cells', 0)}.", ""]
    ceiling = {k: v for k, v in result.machine.items() if k.endswith("_gflops_best")}
    if ceiling:
        lines += ["Best measured float32 matrix multiply: " + ", ".join(
            f"{k.removesuffix('_gflops_best')} {v} GFLOP/s" for k, v in ceiling.items()) + ".", ""]
    try:
        top = headline(frame)
        lines += [f"resnet18, batch 1, 224×224: PyTorch {top['torch_ms']:.1f} ms, ORT "
                  f"{top['ort_ms']:.1f} ms (median of round medians); PyTorch / ORT = "
                  f"{top['ratio']:.2f}× (range over rounds {top['ratio_low']:.2f}–"
                  f"{top['ratio_high']:.2f}×).", ""]
    except BenchError:
        pass
    if {"torch", "ort"} <= set(frame.get("engine", [])):
        lines += ["## The reference tutorial's conclusions, checked here", "",
                  markdown_table(findings_frame(findings(frame))), ""]
    suspect = [r for r in result.records if r.get("quality") == "suspect"]
    if suspect:
        lines += ["## Suspect cells (left out of the findings)", ""]
        lines += [f"- {r['model']} b{r['batch']} {r['size']} px {r['engine']}: "
                  f"{r.get('quality_note')}" for r in suspect] + [""]
    errors = [r for r in result.records if r.get("status") == "error"]
    if errors:
        lines += [f"{len(errors)} cell(s) failed; see results.csv (status, note).", ""]
    return "\n".join(lines)


def write_report(result: GridResult, folder: str | Path) -> dict[str, Path]:
    """results.csv, results.json (with machine and settings) and summary.md in ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"csv": folder / "results.csv", "json": folder / "results.json",
             "summary": folder / "summary.md"}
    frame = result.frame()
    frame.drop(columns=[c for c in ("round_data",) if c in frame.columns]).to_csv(
        paths["csv"], index=False)
    paths["json"].write_text(json.dumps({"machine": result.machine, "settings": result.settings,
                                         "wall_s": result.wall_s, "records": result.records},
                                        indent=1, default=str), encoding="utf-8")
    paths["summary"].write_text(summary_markdown(result), encoding="utf-8")
    return paths


def _category(level: str) -> str:
    return "holds except at …" if level.startswith("holds except") else level


MOVED_FACTOR = 1.25  # a cell "moved" between runs: medians this far apart, ranges apart too


def moved_cells(first: GridResult, second: GridResult,
                factor: float = MOVED_FACTOR) -> list[dict[str, Any]]:
    """Cells measured well in both runs whose figures disagree beyond both spreads.

    A cell moved when its medians differ by more than ``factor`` and its round ranges
    ``[low_ms, high_ms]`` do not overlap: round spread cannot see process-to-process or
    run-to-run changes, this can. Sorted by how far they moved.
    """
    def usable(result: GridResult) -> dict[tuple, dict[str, Any]]:
        return {(r["model"], r["batch"], r["size"], r["engine"]): r for r in result.records
                if r.get("status") == "ok" and r.get("quality", "ok") == "ok" and "low_ms" in r}

    a, b = usable(first), usable(second)
    moved = []
    for key in a.keys() & b.keys():
        x, y = a[key], b[key]
        ratio = y["median_ms"] / x["median_ms"]
        apart = x["high_ms"] < y["low_ms"] or y["high_ms"] < x["low_ms"]
        if apart and max(ratio, 1 / ratio) > factor:
            moved.append({"model": key[0], "batch": key[1], "size": key[2], "engine": key[3],
                          "first_ms": x["median_ms"], "second_ms": y["median_ms"],
                          "ratio": ratio})
    return sorted(moved, key=lambda m: -max(m["ratio"], 1 / m["ratio"]))


def compare_runs(first: GridResult, second: GridResult) -> dict[str, Any]:
    """Do two grids say the same? Findings (level by level) and the headline ratio.

    The headline ratios agree when they differ by less than the wider of the two runs'
    round-to-round ranges of that ratio; ``same`` is True when every finding has the same
    level category in both runs and the headline ratios agree.
    """
    from helpers.bench.analysis import findings, headline

    a, b = findings(first.frame()), findings(second.frame())
    rows = [{"claim": x.claim, "first": x.level, "second": y.level,
             "same level": _category(x.level) == _category(y.level)}
            for x, y in zip(a, b, strict=True)]
    ha, hb = headline(first.frame()), headline(second.frame())
    spread = max(ha["ratio_high"] - ha["ratio_low"], hb["ratio_high"] - hb["ratio_low"])
    within = abs(ha["ratio"] - hb["ratio"]) < spread if spread > 0 else ha["ratio"] == hb["ratio"]
    return {"findings": rows, "headline": (ha, hb), "spread": spread, "headline_agrees": within,
            "same": all(r["same level"] for r in rows) and within,
            "moved": moved_cells(first, second),
            "cells": sum(r.get("status") == "ok" for r in first.records),
            "wall_min": (first.wall_s / 60, second.wall_s / 60),
            "suspect": (first.settings.get("suspect_cells"), second.settings.get("suspect_cells")),
            "busy": (first.machine.get("rounds_busy"), second.machine.get("rounds_busy"))}


def comparison_markdown(result: dict[str, Any]) -> str:
    """The closing note's evidence: both runs' findings and headline ratios side by side."""
    ha, hb = result["headline"]
    lines = ["# Two full grids, back to back", "",
             f"Wall time: {result['wall_min'][0]:.1f} and {result['wall_min'][1]:.1f} min; "
             f"busy rounds {result['busy'][0]} and {result['busy'][1]}; suspect cells left out "
             f"{result['suspect'][0]} and {result['suspect'][1]}.", "",
             f"Headline (resnet18 b1 224, PyTorch / ORT): {ha['ratio']:.2f}× (rounds "
             f"{ha['ratio_low']:.2f}–{ha['ratio_high']:.2f}) and {hb['ratio']:.2f}× (rounds "
             f"{hb['ratio_low']:.2f}–{hb['ratio_high']:.2f}); difference "
             f"{abs(ha['ratio'] - hb['ratio']):.2f} versus spread {result['spread']:.2f}: "
             f"{'agree' if result['headline_agrees'] else 'DO NOT AGREE'}.", "",
             "| claim | first run | second run | same level |", "|---|---|---|---|"]
    lines += [f"| {r['claim']} | {r['first']} | {r['second']} | {'yes' if r['same level'] else 'NO'} |"
              for r in result["findings"]]
    moved = result.get("moved", [])
    lines += ["", f"Cells that moved between the runs (medians more than {MOVED_FACTOR:.2f}× "
              f"apart and round ranges apart): {len(moved)} of {result.get('cells', '?')}."]
    lines += [f"- {m['model']} b{m['batch']} {m['size']} px {m['engine']}: {m['first_ms']:.1f} → "
              f"{m['second_ms']:.1f} ms ({m['ratio']:.2f}×)" for m in moved[:10]]
    if len(moved) > 10:
        lines.append(f"- … and {len(moved) - 10} more")
    lines += ["", "Same findings and agreeing headline: " + ("yes" if result["same"] else "NO"), ""]
    return "\n".join(lines)
