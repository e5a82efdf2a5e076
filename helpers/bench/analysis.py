"""Analysis: tables from a grid's records, sanity checks that can fail, and findings.

Findings have three levels: "holds", "holds except at …" (the exceptions named), and "does
not hold", so a verdict never reads against its own numbers. Cells flagged suspect by the
sanity checks are left out of every finding, and the count is said.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from helpers.bench.common import BenchError
from helpers.bench.registry import engines
from helpers.paths import REFERENCE_DIR, relative

MAX_SPREAD_PCT = 50.0   # round-to-round spread above this: the cell is suspect
FALL_MARGIN = 0.10      # latency may fall with size by less than this before it is suspect
AGREE_TOLERANCE = 0.25  # a re-timed configuration must land within the grid's range ± this
MOSTLY = 0.75           # "holds except at …" needs the claim true at this share of shapes
REFERENCE_SPEED_CSV = REFERENCE_DIR / "speed_table.csv"
REFERENCE_VARIANTS = {"pytorch_cpu": "torch", "pytorch_gpu": "torch-cuda", "onnx_fixed": "ort",
                      "onnx_dynamic": "ort-dynamic", "onnx_fixed_sim": "ort-sim",
                      "onnx_dynamic_sim": "ort-dynamic-sim"}
SHAPE = ["model", "batch", "size"]


def results_frame(records: Sequence[dict[str, Any]]):
    """Records as a DataFrame with the key columns first."""
    import pandas as pd

    frame = pd.DataFrame(list(records))
    if frame.empty:
        return frame
    first = [c for c in ("model", "batch", "size", "engine", "status", "quality", "threads",
                         "median_ms", "low_ms", "high_ms", "spread_pct") if c in frame.columns]
    return frame[first + [c for c in frame.columns if c not in first]]


def trusted(frame):
    """Cells that ran and passed the sanity checks (what findings are computed from)."""
    keep = frame["status"] == "ok" if "status" in frame.columns else np.ones(len(frame), bool)
    if "quality" in frame.columns:
        keep &= frame["quality"].fillna("ok") != "suspect"
    return frame[keep]


def latency_table(frame, value: str = "median_ms", *, include_suspect: bool = False):
    """One row per (model, batch, size), one column per engine (registry order)."""
    part = frame[frame["status"] == "ok"] if include_suspect else trusted(frame)
    table = part.pivot_table(index=SHAPE, columns="engine", values=value, sort=True)
    order = [e for e in engines() if e in table.columns]
    return table[order + [c for c in table.columns if c not in order]]


def family_engines(frame, family: str) -> list[str]:
    known = engines()
    return [e for e in dict.fromkeys(frame["engine"]) if e in known and known[e].family == family]


def speedup_table(frame, baseline: str = "torch", engines_: Sequence[str] | None = None,
                  value: str = "median_ms", *, include_suspect: bool = False):
    """How many times faster each engine is than ``baseline`` (baseline / engine)."""
    table = latency_table(frame, value, include_suspect=include_suspect)
    if baseline not in table.columns:
        raise BenchError(f"no {baseline!r} measurements to compare with")
    chosen = engines_ if engines_ is not None else family_engines(frame, "ort")
    return table[[e for e in chosen if e in table.columns]].rdiv(table[baseline], axis=0)


def memory_table(frame, value: str = "peak_rss_mb"):
    """Peak resident memory (MiB) per engine and shape."""
    return latency_table(frame, value=value)


def suspect_cells(records: Sequence[dict[str, Any]]) -> dict[tuple, str]:
    """Cells that fail a sanity check, with the reason.

    - the round-to-round spread is above ``MAX_SPREAD_PCT`` %;
    - latency *falls* as the input grows (same model, batch and engine) by more than
      ``FALL_MARGIN`` and beyond the spread (the larger input's slowest round is faster than
      the smaller input's fastest round): both cells are suspect.
    """
    reasons: dict[tuple, list[str]] = {}
    ok = [r for r in records if r.get("status") == "ok" and "low_ms" in r]
    for r in ok:
        key = (r["model"], r["batch"], r["size"], r["engine"])
        if r.get("spread_pct", 0) > MAX_SPREAD_PCT:
            reasons.setdefault(key, []).append(f"round-to-round spread {r['spread_pct']:.0f} %")
    series: dict[tuple, list] = {}
    for r in ok:
        series.setdefault((r["model"], r["batch"], r["engine"]), []).append(r)
    for (model, batch, engine), rows in series.items():
        rows = sorted(rows, key=lambda r: r["size"])
        for small, large in zip(rows, rows[1:], strict=False):
            if (large["median_ms"] < (1 - FALL_MARGIN) * small["median_ms"]
                    and large["high_ms"] < small["low_ms"]):
                text = (f"latency falls from {small['size']} px ({small['median_ms']:.1f} ms) to "
                        f"{large['size']} px ({large['median_ms']:.1f} ms)")
                for r in (small, large):
                    reasons.setdefault((model, batch, r["size"], engine), []).append(text)
    return {k: "; ".join(dict.fromkeys(v)) for k, v in reasons.items()}


def check_agreement(frame, model: str, batch: int, size: int, engine: str, median_ms: float,
                    tolerance: float = AGREE_TOLERANCE) -> dict[str, Any]:
    """Does a re-timed configuration agree with the grid? Within [low, high] ± ``tolerance``."""
    rows = frame[(frame.model == model) & (frame.batch == batch) & (frame["size"] == size)
                 & (frame.engine == engine) & (frame.status == "ok")]
    if rows.empty:
        raise BenchError(f"the grid has no {engine} {model} b{batch} {size} px to compare with")
    row = rows.iloc[0]
    low, high = row["low_ms"] * (1 - tolerance), row["high_ms"] * (1 + tolerance)
    return {"grid_ms": float(row["median_ms"]), "grid_low_ms": float(row["low_ms"]),
            "grid_high_ms": float(row["high_ms"]), "again_ms": float(median_ms),
            "ratio": float(median_ms / row["median_ms"]), "tolerance": tolerance,
            "agrees": bool(low <= median_ms <= high)}


@dataclass(frozen=True)
class Finding:
    """One of the reference tutorial's conclusions, checked against this run's data."""

    claim: str
    level: str  # "holds", "holds except at …", "does not hold", "not measured"
    measured: str
    shapes: int
    left_out: int = 0

    @property
    def holds(self) -> bool | None:
        return None if self.level == "not measured" else self.level.startswith("holds")


def _level(true_at: int, total: int, exceptions: Sequence[str]) -> str:
    if total == 0:
        return "not measured"
    if true_at == total:
        return "holds"
    if true_at >= MOSTLY * total:
        return "holds except at " + _shape_list(exceptions)
    return "does not hold"


def _shape_list(shapes: Sequence[str], most: int = 3) -> str:
    """'a, b, c and 2 more': the first few shapes of a list."""
    more = f" and {len(shapes) - most} more" if len(shapes) > most else ""
    return ", ".join(shapes[:most]) + more


def _name(key) -> str:
    return f"{key[0]} b{key[1]} {key[2]} px"


def _pair(frame, a: str, b: str):
    """Per shape: median a / median b, and whether a's and b's round ranges overlap."""
    med, low, high = (latency_table(frame, v) for v in ("median_ms", "low_ms", "high_ms"))
    both = med[[a, b]].dropna().index
    ratio = med.loc[both, a] / med.loc[both, b]
    overlap = ((low.loc[both, a] <= high.loc[both, b]) & (low.loc[both, b] <= high.loc[both, a]))
    return ratio, overlap


def _same_speed(claim: str, what: str, ratio, overlap, tolerance: float, left_out: int) -> Finding:
    same = (np.abs(ratio - 1) <= tolerance) | overlap
    exceptions = [f"{_name(k)} ({r:.2f}×)" for k, r, s in zip(ratio.index, ratio, same,
                                                                strict=True) if not s]
    text = (f"{what} within ±{tolerance:.0%} or inside the round-to-round spread at "
            f"{int(same.sum())}/{len(ratio)} shapes; median ratio {ratio.median():.2f} "
            f"(range {ratio.min():.2f}–{ratio.max():.2f})") if len(ratio) else "no shapes"
    return Finding(claim, _level(int(same.sum()), len(ratio), exceptions), text, len(ratio),
                   left_out)


def findings(frame, tolerance: float = 0.10) -> list[Finding]:
    """The reference tutorial's conclusions, each recomputed from the trusted cells of ``frame``."""
    left_out = int((frame.get("quality", "ok") == "suspect").sum()) if "quality" in frame else 0
    table = latency_table(frame)
    result: list[Finding] = []
    if {"torch", "ort"} <= set(table.columns):
        ratio, overlap = _pair(frame, "torch", "ort")  # speedup of ORT
        faster = ratio > 1
        exceptions = [f"{_name(k)} ({r:.2f}×{', within spread' if o else ''})"
                      for k, r, o in zip(ratio.index, ratio, overlap, strict=True) if r <= 1]
        result.append(Finding(
            "ORT is faster than PyTorch on CPU at every size",
            _level(int(faster.sum()), len(ratio), exceptions),
            f"ORT faster at {int(faster.sum())}/{len(ratio)} shapes (round ranges apart at "
            f"{int((faster & ~overlap).sum())}); median speedup {ratio.median():.2f}× (range "
            f"{ratio.min():.2f}–{ratio.max():.2f}×)", len(ratio), left_out))
    if {"ort", "ort-dynamic"} <= set(table.columns):
        ratio, overlap = _pair(frame, "ort-dynamic", "ort")
        result.append(_same_speed("Fixed and dynamic axes run at the same speed",
                                  "dynamic / fixed latency", ratio, overlap, tolerance, left_out))
    pairs = [(s, b) for s, b in (("ort-sim", "ort"), ("ort-dynamic-sim", "ort-dynamic"))
             if {s, b} <= set(table.columns)]
    if pairs:
        import pandas as pd

        parts = [_pair(frame, s, b) for s, b in pairs]
        ratio = pd.concat([r for r, _ in parts])
        overlap = pd.concat([o for _, o in parts])
        result.append(_same_speed("onnxsim makes no difference to speed",
                                  "simplified / original latency", ratio, overlap, tolerance,
                                  left_out))
    memory = memory_table(frame)
    if {"torch", "ort"} <= set(memory.columns):
        ratio = (memory["torch"] / memory["ort"]).dropna()
        less = ratio > 1
        exceptions = [f"{_name(k)} ({r:.2f}×)" for k, r in ratio.items() if r <= 1]
        result.append(Finding(
            "ORT needs much less memory than PyTorch on CPU",
            _level(int(less.sum()), len(ratio), exceptions),
            f"ORT's process peaked lower at {int(less.sum())}/{len(ratio)} shapes; PyTorch / "
            f"ORT peak memory median {ratio.median():.2f}× (range {ratio.min():.2f}–"
            f"{ratio.max():.2f}×)", len(ratio), left_out))
    if "torch-cuda" in table.columns and "torch" in table.columns:
        pair = table[["torch", "torch-cuda"]].dropna()
        pair = pair[(pair.index.get_level_values("batch") == 1)
                    & (pair.index.get_level_values("size") >= 256)]
        wins = pair["torch-cuda"] < pair["torch"]
        exceptions = [_name(k) for k, w in wins.items() if not w]
        result.append(Finding("A GPU wins from 256×256 up at batch 1",
                              _level(int(wins.sum()), len(pair), exceptions),
                              f"CUDA faster at {int(wins.sum())}/{len(pair)} batch-1 shapes "
                              "from 256 up", len(pair), left_out))
    else:
        result.append(Finding("A GPU wins from 256×256 up at batch 1", "not measured",
                              "not measured: no CUDA device on this machine", 0, left_out))
    return result


def findings_frame(items: Sequence[Finding]):
    """Findings as a DataFrame (claim, verdict here, what was measured, shapes, left out)."""
    import pandas as pd

    return pd.DataFrame([{"reference claim": f.claim, "here": f.level,
                          "measured here": f.measured, "shapes": f.shapes,
                          "suspect cells left out": f.left_out} for f in items])


def headline(frame, model: str = "resnet18", batch: int = 1, size: int = 224) -> dict[str, float]:
    """PyTorch and ORT (fixed) for one shape, their ratio, and its range over paired rounds."""
    table = latency_table(frame, include_suspect=True)
    key = (model, batch, size)
    if key not in table.index or not {"torch", "ort"} <= set(table.columns):
        raise BenchError(f"no torch and ort measurements for {model} batch {batch} {size}x{size}")
    torch_ms, ort_ms = float(table.loc[key, "torch"]), float(table.loc[key, "ort"])
    ratios = _round_ratios(frame, key)
    return {"torch_ms": torch_ms, "ort_ms": ort_ms, "ratio": torch_ms / ort_ms,
            "ratio_low": min(ratios, default=torch_ms / ort_ms),
            "ratio_high": max(ratios, default=torch_ms / ort_ms)}


def _round_ratios(frame, key) -> list[float]:
    """PyTorch / ORT per round (round i of one against round i of the other: interleaved)."""
    if "round_medians_ms" not in frame.columns:
        return []
    rows = frame[(frame.model == key[0]) & (frame.batch == key[1]) & (frame["size"] == key[2])]
    per = {r.engine: r.round_medians_ms for r in rows.itertuples() if isinstance(
        r.round_medians_ms, list)}
    if not {"torch", "ort"} <= set(per):
        return []
    return [t / o for t, o in zip(per["torch"], per["ort"], strict=False)]


def reference_table(path: Path = REFERENCE_SPEED_CSV):
    """The reference tutorial's published figures, long format, in milliseconds."""
    import pandas as pd

    if not Path(path).is_file():
        raise BenchError(f"reference figures not found: {relative(path)} (shipped with the course)")
    raw = pd.read_csv(path)
    if not (raw["height"] == raw["width"]).all():
        raise BenchError(f"{relative(path)}: expected square sizes (height == width)")
    unknown = set(raw["variant"]) - set(REFERENCE_VARIANTS)
    if unknown:
        raise BenchError(f"{relative(path)}: unknown variants {sorted(unknown)}; "
                         f"expected {sorted(REFERENCE_VARIANTS)}")
    long = pd.DataFrame({"model": raw["model"], "batch": raw["batch"], "size": raw["height"],
                         "engine": raw["variant"].map(REFERENCE_VARIANTS),
                         "median_ms": raw["seconds_per_run"] * 1000, "status": "ok"})
    return long.dropna(subset=["median_ms"]).reset_index(drop=True)


def compare_with_reference(frame):
    """Per shape: this machine's and the reference's PyTorch / ORT speedup, and if they agree."""
    import pandas as pd

    ours, theirs = latency_table(frame), latency_table(reference_table())
    rows = []
    for key in ours.index.intersection(theirs.index):
        if not {"torch", "ort"} <= set(ours.columns) or ours.loc[key, ["torch", "ort"]].isna().any():
            continue
        our, their = (t.loc[key, "torch"] / t.loc[key, "ort"] for t in (ours, theirs))
        rows.append({"model": key[0], "batch": key[1], "size": key[2], "speedup": our,
                     "ref_speedup": their, "agrees": bool((our > 1) == (their > 1))})
    return pd.DataFrame(rows)


def profile_table(path: str | Path, runs: int | None = None, by: str = "op"):
    """ORT's profile (``enable_profiling``) as time per operator type (``by="op"``) or per node.

    ``runs`` divides the totals to give milliseconds per run (default: the number of
    ``model_run`` events in the file).
    """
    import pandas as pd

    events = json.loads(Path(path).read_text(encoding="utf-8"))
    nodes = [e for e in events if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time")]
    if not nodes:
        raise BenchError(f"{Path(path).name} has no node events; was profiling enabled?")
    runs = runs or sum(1 for e in events if e.get("name") == "model_run") or 1
    frame = pd.DataFrame({"op": [e["args"].get("op_name", "?") for e in nodes],
                          "node": [e["name"].removesuffix("_kernel_time") for e in nodes],
                          "ms": [e["dur"] / 1000 for e in nodes]})
    if by == "node":
        table = frame.groupby(["node", "op"])["ms"].sum().div(runs).rename("ms_per_run")
        return table.sort_values(ascending=False).reset_index()
    table = frame.groupby("op")["ms"].agg(total_ms="sum", calls="count")
    table["ms_per_run"] = table["total_ms"] / runs
    table["nodes"] = (table["calls"] / runs).round().astype(int)
    table["share_%"] = 100 * table["total_ms"] / table["total_ms"].sum()
    return table.sort_values("total_ms", ascending=False)[["nodes", "ms_per_run", "share_%"]]
