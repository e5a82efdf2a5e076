"""helpers.bench.analysis and report: sanity checks, three-level findings, tables, files."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from helpers import bench
from helpers.bench import BenchError, GridResult, findings, suspect_cells
from helpers.sysinfo import machine_info

ORT_FAMILY = ["ort", "ort-dynamic", "ort-sim", "ort-dynamic-sim"]


def synthetic_records(ort_factor=0.5, dynamic_factor=1.0, sim_factor=1.0, cuda=False,
                      spread=0.05, sizes=(32, 64)):
    """Records shaped like the grid's output, with chosen ratios between engines."""
    records = []
    for model in ("resnet18", "mobilenet_v3_small"):
        for batch in (1, 16):
            for size in sizes:
                base = batch * size / 10
                values = {"torch": base, "ort": base * ort_factor,
                          "ort-dynamic": base * ort_factor * dynamic_factor,
                          "ort-sim": base * ort_factor * sim_factor,
                          "ort-dynamic-sim": base * ort_factor * dynamic_factor * sim_factor}
                if cuda:
                    values["torch-cuda"] = base / 4
                for engine, ms in values.items():
                    records.append({
                        "model": model, "batch": batch, "size": size, "engine": engine,
                        "threads": 2, "status": "ok", "median_ms": ms,
                        "low_ms": ms * (1 - spread), "high_ms": ms * (1 + spread),
                        "spread_pct": 200 * spread, "rounds": 3,
                        "round_medians_ms": [ms * (1 - spread), ms, ms * (1 + spread)][
                            ::1 if engine == "torch" else -1],  # rounds that do not pair up
                        "round_busy": [False] * 3, "quality": "ok",
                        "peak_rss_mb": 700.0 if engine == "torch" else 200.0})
                if not cuda:
                    records.append({"model": model, "batch": batch, "size": size,
                                    "engine": "torch-cuda", "threads": 2, "status": "skipped",
                                    "note": "no CUDA device on this machine"})
    return records


def frame_of(records):
    return bench.results_frame(records)


def test_speedup_and_latency_tables():
    frame = frame_of(synthetic_records(ort_factor=0.5))
    assert "torch-cuda" not in bench.latency_table(frame).columns, "skipped is not measured"
    speedup = bench.speedup_table(frame)
    assert np.allclose(speedup["ort"], 2.0) and list(speedup.columns) == ORT_FAMILY
    with pytest.raises(BenchError):
        bench.speedup_table(frame[frame.engine != "torch"])


def test_findings_three_levels():
    agree = {f.claim: f for f in findings(frame_of(synthetic_records()))}
    faster = agree["ORT is faster than PyTorch on CPU at every size"]
    assert faster.level == "holds" and "8/8 shapes" in faster.measured
    assert "2.00×" in faster.measured
    assert agree["Fixed and dynamic axes run at the same speed"].level == "holds"
    assert agree["ORT needs much less memory than PyTorch on CPU"].level == "holds"
    assert agree["A GPU wins from 256×256 up at batch 1"].level == "not measured"

    records = synthetic_records()
    for r in records:  # ORT slower at one shape of eight: holds except there
        if (r["model"], r["batch"], r["size"], r["engine"]) == ("resnet18", 16, 64, "ort"):
            for key in ("median_ms", "low_ms", "high_ms"):
                r[key] *= 3
    mostly = {f.claim: f for f in findings(frame_of(records))}[
        "ORT is faster than PyTorch on CPU at every size"]
    assert mostly.level.startswith("holds except at resnet18 b16 64 px")
    assert mostly.holds is True

    disagree = {f.claim: f for f in findings(frame_of(
        synthetic_records(ort_factor=1.25, dynamic_factor=1.3, sim_factor=0.8)))}
    assert disagree["ORT is faster than PyTorch on CPU at every size"].level == "does not hold"
    assert disagree["Fixed and dynamic axes run at the same speed"].level == "does not hold"
    assert disagree["onnxsim makes no difference to speed"].level == "does not hold"
    table = bench.findings_frame(disagree.values())
    assert list(table.columns) == ["reference claim", "here", "measured here", "shapes",
                                   "suspect cells left out"]


def test_memory_verdict_never_reads_against_its_numbers():
    records = synthetic_records()
    for record in records:
        if (record["model"], record["batch"], record["size"], record["engine"]) == (
                "resnet18", 16, 64, "ort"):
            record["peak_rss_mb"] = 900.0  # above PyTorch's 700 MB at this one shape
    memory = {f.claim: f for f in findings(frame_of(records))}[
        "ORT needs much less memory than PyTorch on CPU"]
    assert "peaked lower at 7/8 shapes" in memory.measured
    assert memory.level == "holds except at resnet18 b16 64 px (0.78×)"


def test_same_speed_allows_for_the_round_to_round_spread():
    records = synthetic_records(spread=0.10)
    for record in records:  # batch 16: dynamic 15 % slower, inside the round spread (±10 %)
        if record["engine"] == "ort-dynamic" and record["batch"] == 16:
            for key in ("median_ms", "low_ms", "high_ms"):
                record[key] *= 1.15
    same = {f.claim: f for f in findings(frame_of(records))}[
        "Fixed and dynamic axes run at the same speed"]
    assert same.level == "holds" and "at 8/8 shapes" in same.measured
    apart = {f.claim: f for f in findings(frame_of(synthetic_records(dynamic_factor=1.3)))}
    assert apart["Fixed and dynamic axes run at the same speed"].level == "does not hold"


def test_sanity_checks_flag_a_latency_that_falls_with_size_and_a_wild_spread():
    records = synthetic_records(sizes=(32, 64, 128))
    for r in records:
        if (r["model"], r["batch"], r["engine"]) == ("resnet18", 1, "torch") and r["size"] == 64:
            for key in ("median_ms", "low_ms", "high_ms"):
                r[key] *= 5  # the 512-px-at-1128-ms kind of row: 64 px slower than 128 px
        if (r["model"], r["batch"], r["size"], r["engine"]) == ("resnet18", 16, 32, "ort"):
            r["spread_pct"] = 80.0
    flagged = suspect_cells(records)
    assert set(flagged) == {("resnet18", 1, 64, "torch"), ("resnet18", 1, 128, "torch"),
                            ("resnet18", 16, 32, "ort")}
    assert "falls from 64 px" in flagged[("resnet18", 1, 128, "torch")]
    assert "spread 80 %" in flagged[("resnet18", 16, 32, "ort")]
    assert suspect_cells(synthetic_records()) == {}, "a clean grid has no suspects"


def test_suspect_cells_are_left_out_of_findings_and_counted():
    records = synthetic_records()
    for r in records:
        if (r["model"], r["batch"], r["size"], r["engine"]) == ("resnet18", 1, 32, "ort"):
            r.update(quality="suspect", median_ms=r["median_ms"] * 10)  # slower, but untrusted
    faster = findings(frame_of(records))[0]
    assert faster.level == "holds" and faster.shapes == 7 and faster.left_out == 1


def test_check_agreement():
    frame = frame_of(synthetic_records())
    ort_ms = 1.6  # resnet18 b1 32 px: ORT median 1.6 ms, rounds 1.52–1.68
    assert bench.check_agreement(frame, "resnet18", 1, 32, "ort", ort_ms * 1.1)["agrees"]
    far = bench.check_agreement(frame, "resnet18", 1, 32, "ort", ort_ms * 2)
    assert not far["agrees"] and far["ratio"] == pytest.approx(2.0)
    with pytest.raises(BenchError, match="has no"):
        bench.check_agreement(frame, "resnet18", 1, 999, "ort", 1.0)


def test_headline_gives_the_ratio_range_over_paired_rounds():
    frame = frame_of(synthetic_records())
    top = bench.headline(frame, model="resnet18", batch=1, size=64)
    assert top["ratio"] == pytest.approx(2.0)
    assert top["ratio_low"] == pytest.approx(2 * 0.95 / 1.05)
    assert top["ratio_high"] == pytest.approx(2 * 1.05 / 0.95)
    with pytest.raises(BenchError, match="no torch and ort"):
        bench.headline(frame)


def test_reference_table_and_comparison(tmp_path):
    table = bench.reference_table()
    assert len(table) == 160  # resnet18: 6 variants, mobilenet: 4 (no onnxsim), 16 shapes each
    assert table.loc[(table.model == "resnet18") & (table.batch == 1) & (table["size"] == 32)
                     & (table.engine == "ort"), "median_ms"].item() == pytest.approx(57.7)
    with pytest.raises(BenchError, match="reference figures not found"):
        bench.reference_table(tmp_path / "missing.csv")
    compared = bench.compare_with_reference(frame_of(synthetic_records(ort_factor=0.5)))
    assert len(compared) == 8 and compared["agrees"].all()


def test_profile_table_per_op_and_per_node(tmp_path):
    events = [{"cat": "Session", "name": "model_run", "dur": 5000}] * 2 + [
        {"cat": "Node", "name": "conv1_kernel_time", "dur": 3000, "args": {"op_name": "Conv"}},
        {"cat": "Node", "name": "conv1_kernel_time", "dur": 3000, "args": {"op_name": "Conv"}},
        {"cat": "Node", "name": "conv2_kernel_time", "dur": 500, "args": {"op_name": "Conv"}},
        {"cat": "Node", "name": "conv2_kernel_time", "dur": 500, "args": {"op_name": "Conv"}},
        {"cat": "Node", "name": "relu_kernel_time", "dur": 1000, "args": {"op_name": "Relu"}},
        {"cat": "Node", "name": "relu_kernel_time", "dur": 1000, "args": {"op_name": "Relu"}},
        {"cat": "Node", "name": "relu_fence_before", "dur": 9, "args": {"op_name": "Relu"}},
    ]
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(events))
    table = bench.profile_table(path)
    assert list(table.index) == ["Conv", "Relu"] and table.loc["Conv", "nodes"] == 2
    assert table.loc["Conv", "ms_per_run"] == pytest.approx(3.5)
    nodes = bench.profile_table(path, by="node")
    assert list(nodes.node) == ["conv1", "relu", "conv2"]
    assert nodes.ms_per_run.tolist() == pytest.approx([3.0, 1.0, 0.5])
    path.write_text("[]")
    with pytest.raises(BenchError, match="no node events"):
        bench.profile_table(path)


def test_report_round_trip_says_busy_and_suspects(tmp_path):
    records = synthetic_records()
    records[0].update(quality="suspect", quality_note="latency falls from 32 px")
    machine = {**machine_info(with_engines=False), "rounds_total": 6, "rounds_busy": 2,
               "others_cpu_share_max": 0.6}
    settings = bench.grid_settings(bench.GRIDS["quick"])
    settings.update(remeasured_cells=3, suspect_cells=1)
    paths = bench.write_report(GridResult(records, machine, settings, wall_s=12.0), tmp_path)
    summary = paths["summary"].read_text()
    assert "WARNING: BUSY MACHINE. 2/6 rounds" in summary
    assert "measured again because a sanity check failed: 3" in summary
    assert "latency falls from 32 px" in summary and "| reference claim |" in summary
    loaded = bench.load_report(tmp_path)
    assert loaded is not None and len(loaded.records) == len(records)
    assert pd.read_csv(paths["csv"]).shape[0] == len(records)
    assert bench.load_report(tmp_path / "nothing") is None


def test_compare_runs_same_findings_and_headline_within_spread(tmp_path, capsys):
    from helpers.bench.__main__ import main
    from helpers.bench.report import compare_runs

    settings = bench.grid_settings(bench.GRIDS["quick"])
    machine = {**machine_info(with_engines=False), "rounds_busy": 0, "rounds_total": 6}
    shapes = {"sizes": (32, 224)}
    first = GridResult(synthetic_records(**shapes), machine, settings, wall_s=600)
    second = GridResult(synthetic_records(ort_factor=0.52, **shapes), machine, settings,
                        wall_s=610)
    same = compare_runs(first, second)
    assert same["same"] and same["headline_agrees"]  # 2.00 vs 1.92; spread 0.40
    different = compare_runs(first, GridResult(synthetic_records(ort_factor=1.5, **shapes),
                                               machine, settings, wall_s=600))
    assert not different["same"] and not different["headline_agrees"]
    assert different["findings"][0]["same level"] is False
    assert same["moved"] == [], "0.52 against 0.50 is within the 5 % round ranges"
    moved = {(m["engine"], m["size"]) for m in different["moved"]}
    assert ("ort", 224) in moved and not any(engine == "torch" for engine, _ in moved)
    bench.write_report(first, tmp_path / "a")
    bench.write_report(second, tmp_path / "b")
    assert main(["--compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "Same findings and agreeing headline: yes" in out and "moved between the runs" in out
    assert main(["--compare", str(tmp_path / "a"), str(tmp_path / "nothing")]) == 2


def test_max_pixels_leaves_out_only_the_larger_calls():
    spec = bench.GridSpec(models=("resnet18",), sizes=(32, 512, 1024), batches=(1, 16),
                          engines=("ort",), max_pixels=16 * 512**2)
    shapes = {(cell.batch, cell.size) for cell in spec.cells()}
    assert shapes == {(1, 32), (1, 512), (1, 1024), (16, 32), (16, 512)}
    full = bench.GRIDS["full"]
    assert all(c.batch * c.size**2 <= full.max_pixels for c in full.cells())
    assert len(full.cells()) < len(dataclasses.replace(full, max_pixels=None).cells())
    assert bench.grid_settings(spec)["max_pixels"] == 16 * 512**2
