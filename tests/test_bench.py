"""helpers.bench and helpers.sysinfo: statistics, run policy, validation, analysis, JSON shape.

No timing is asserted: the tests check the harness's logic, never how fast anything ran.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from helpers import bench
from helpers.bench import (
    BenchError,
    Cell,
    GridResult,
    GridSpec,
    RunPolicy,
    findings,
    parse_engines,
    summarize_times,
    time_runs,
)
from helpers.paths import REPO_ROOT
from helpers.sysinfo import current_rss_mb, format_machine, machine_info, peak_rss_mb


class FakeClock:
    """A clock that advances ``step`` seconds each time ``tick`` runs (the work being timed)."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step
        self.calls = 0

    def __call__(self) -> float:
        return self.now

    def tick(self) -> None:
        self.calls += 1
        self.now += self.step


# --------------------------------------------------------------------------- statistics


def test_summarize_times_known_values():
    stats = summarize_times([i / 1000 for i in range(1, 11)])  # 1..10 ms
    assert stats["runs"] == 10
    assert stats["median_ms"] == pytest.approx(5.5)
    assert stats["p10_ms"] == pytest.approx(1.9)  # numpy's linear interpolation
    assert stats["p90_ms"] == pytest.approx(9.1)
    assert stats["min_ms"] == pytest.approx(1) and stats["max_ms"] == pytest.approx(10)
    assert stats["mean_ms"] == pytest.approx(5.5)
    assert stats["std_ms"] == pytest.approx(np.std(np.arange(1, 11), ddof=1))


def test_summarize_times_single_run_and_order_independence():
    assert summarize_times([0.002])["std_ms"] == 0.0
    assert summarize_times([0.003, 0.001, 0.002]) == summarize_times([0.001, 0.002, 0.003])


@pytest.mark.parametrize("bad", [[], [float("nan")], [-0.001, 0.002], [float("inf")]])
def test_summarize_times_rejects_bad_input(bad):
    with pytest.raises(BenchError):
        summarize_times(bad)


# --------------------------------------------------------------------------- run policy


def test_time_runs_stops_at_repeats():
    clock = FakeClock(step=0.001)
    times, warm = time_runs(clock.tick, RunPolicy(warmup=2, warmup_s=10, repeats=7, min_runs=3,
                                                  max_seconds=100), clock=clock)
    assert warm == 2 and len(times) == 7 and clock.calls == 9
    assert times == pytest.approx([0.001] * 7)


def test_time_runs_stops_on_time_budget_but_keeps_min_runs():
    clock = FakeClock(step=1.0)  # a slow model: 1 s per run
    policy = RunPolicy(warmup=5, warmup_s=0.5, repeats=50, min_runs=4, max_seconds=2.5)
    times, warm = time_runs(clock.tick, policy, clock=clock)
    assert warm == 1, "warm-up stops once warmup_s has passed, after at least one run"
    assert len(times) == 4, "the time budget never cuts below min_runs"
    clock = FakeClock(step=1.0)
    times, _ = time_runs(clock.tick, replace_policy(policy, min_runs=1), clock=clock)
    assert len(times) == 3, "without a minimum, stop at the first run past max_seconds"


def replace_policy(policy: RunPolicy, **changes) -> RunPolicy:
    from dataclasses import replace

    return replace(policy, **changes)


def test_cold_run_counts_towards_warmup():
    clock = FakeClock(step=0.1)
    policy = RunPolicy(warmup=3, warmup_s=1.0, repeats=4, min_runs=4)
    times, warm = time_runs(clock.tick, policy, clock=clock, done_runs=1, done_s=5.0)
    assert warm == 1 and clock.calls == 4, "a cold run longer than warmup_s is warm-up enough"
    clock = FakeClock(step=0.1)
    times, warm = time_runs(clock.tick, policy, clock=clock, done_runs=1, done_s=0.1)
    assert warm == 3 and len(times) == 4


def test_time_runs_without_warmup_and_with_sync():
    clock = FakeClock(step=0.01)
    synced = []
    times, warm = time_runs(clock.tick, RunPolicy(warmup=0, repeats=3, min_runs=3),
                            sync=lambda: synced.append(1), clock=clock)
    assert warm == 0 and len(times) == 3 and len(synced) == 3


@pytest.mark.parametrize("kwargs", [{"warmup": -1}, {"repeats": 0}, {"min_runs": 0},
                                    {"repeats": 3, "min_runs": 5}, {"max_seconds": -1}])
def test_run_policy_rejects_bad_values(kwargs):
    with pytest.raises(BenchError):
        RunPolicy(**kwargs)


# --------------------------------------------------------------------------- validation


def test_parse_engines_aliases_and_duplicates():
    assert parse_engines("torch,ort") == ["torch", "ort"]
    assert parse_engines("PyTorch, ort-fixed ,ort,ort-fixed-sim") == ["torch", "ort", "ort-sim"]
    assert parse_engines(["cuda"]) == ["torch-cuda"]


@pytest.mark.parametrize("bad", ["tensorrt", "torch,openvino", ""])
def test_parse_engines_rejects_unknown(bad):
    with pytest.raises(BenchError, match="expected|no engine"):
        parse_engines(bad)


def test_validate_model_lists_choices():
    assert bench.validate_model("resnet18") == "resnet18"
    with pytest.raises(BenchError, match="unknown model 'vgg16'; expected one of: resnet18"):
        bench.validate_model("vgg16")


def test_grid_spec_cells_and_validation():
    spec = GridSpec(models=("resnet18",), sizes=(32, 64), batches=(1, 16),
                    engines=("torch", "ort-fixed"))
    cells = spec.cells()
    assert len(cells) == 8 and spec.engines == ("torch", "ort")
    assert cells[0] == Cell("resnet18", 1, 32, "torch") and cells[1].engine == "ort"
    assert cells[-1].key == ("resnet18", 16, 64, "ort")
    for bad in [{"models": ("alexnet",)}, {"sizes": (8,)}, {"batches": (0,)},
                {"engines": ("tvm",)}, {"threads": 0}]:
        args = {"models": ("resnet18",), "sizes": (32,), "batches": (1,), "engines": ("ort",),
                **bad}
        with pytest.raises(BenchError):
            GridSpec(**args)
    with pytest.raises(BenchError, match="exporter"):
        GridSpec(models=("resnet18",), sizes=(32,), batches=(1,), engines=("ort",),
                 exporter="tf2onnx")


def test_full_grid_covers_the_reference_experiment():
    full = bench.GRIDS["full"]
    assert set(bench.REFERENCE_SIZES) <= set(full.sizes) and full.batches == (1, 16)
    assert set(bench.MODEL_ENGINES) <= set(full.engines) and set(full.models) == set(bench.MODELS)
    quick = bench.GRIDS["quick"]
    assert len(quick.cells()) < len(full.cells()) / 8


def test_reference_table_bad_files_say_what_was_expected(tmp_path):
    with pytest.raises(bench.BenchError, match="reference figures not found"):
        bench.reference_table(tmp_path / "missing.csv")
    odd = tmp_path / "odd.csv"
    odd.write_text("model,batch,height,width,variant,seconds_per_run\n"
                   "resnet18,1,32,32,tensorrt,0.01\n")
    with pytest.raises(bench.BenchError, match="unknown variants.*tensorrt"):
        bench.reference_table(odd)


def test_reference_table_shape():
    table = bench.reference_table()
    assert len(table) == 160  # resnet18: 6 variants, mobilenet: 4 (no onnxsim), 16 shapes each
    assert set(table.engine) == set(bench.MODEL_ENGINES)
    assert table.loc[(table.model == "resnet18") & (table.batch == 1) & (table["size"] == 32)
                     & (table.engine == "ort"), "median_ms"].item() == pytest.approx(57.7)


# --------------------------------------------------------------------------- analysis


def synthetic_records(ort_factor=0.5, dynamic_factor=1.0, sim_factor=1.0, cuda=False):
    """Records shaped like the workers' output, with chosen ratios between engines."""
    records = []
    for model in ("resnet18", "mobilenet_v3_small"):
        for batch in (1, 16):
            for size in (32, 64):
                base = batch * size / 10
                values = {"torch": base, "ort": base * ort_factor,
                          "ort-dynamic": base * ort_factor * dynamic_factor,
                          "ort-sim": base * ort_factor * sim_factor,
                          "ort-dynamic-sim": base * ort_factor * dynamic_factor * sim_factor}
                if cuda:
                    values["torch-cuda"] = base / 4
                for engine, ms in values.items():
                    records.append({"model": model, "batch": batch, "size": size,
                                    "engine": engine, "threads": 2, "status": "ok",
                                    "median_ms": ms, "p10_ms": ms * 0.9, "p90_ms": ms * 1.1,
                                    "runs": 5, "peak_rss_mb": 700.0 if engine == "torch" else 200.0})
                if not cuda:
                    records.append({"model": model, "batch": batch, "size": size,
                                    "engine": "torch-cuda", "threads": 2, "status": "skipped",
                                    "note": "no CUDA device on this machine"})
    return records


def test_speedup_and_latency_tables():
    frame = bench.results_frame(synthetic_records(ort_factor=0.5))
    latency = bench.latency_table(frame)
    assert "torch-cuda" not in latency.columns, "skipped cells are not measurements"
    speedup = bench.speedup_table(frame)
    assert np.allclose(speedup["ort"], 2.0) and list(speedup.columns) == list(bench.ORT_ENGINES)
    with pytest.raises(BenchError):
        bench.speedup_table(frame[frame.engine != "torch"])


def test_findings_follow_the_data():
    agree = {f.claim: f for f in findings(bench.results_frame(synthetic_records()))}
    assert len(agree) == 5
    faster = agree["ORT is faster than PyTorch on CPU at every size"]
    assert faster.holds is True and "8/8 shapes" in faster.measured and "2.00×" in faster.measured
    assert agree["Fixed and dynamic axes run at the same speed"].holds is True
    assert agree["onnxsim makes no difference to speed"].holds is True
    assert agree["ORT needs much less memory than PyTorch on CPU"].holds is True
    assert agree["A GPU wins from 256×256 up at batch 1"].holds is None

    disagree = {f.claim: f for f in findings(bench.results_frame(
        synthetic_records(ort_factor=1.25, dynamic_factor=1.3, sim_factor=0.8)))}
    assert disagree["ORT is faster than PyTorch on CPU at every size"].holds is False
    slower = disagree["ORT is faster than PyTorch on CPU at every size"].measured
    assert "0/8 shapes" in slower and slower.endswith("(clearly slower) and 5 more")
    assert "not faster at" not in faster.measured
    assert disagree["Fixed and dynamic axes run at the same speed"].holds is False
    assert disagree["onnxsim makes no difference to speed"].holds is False
    table = bench.findings_frame(disagree.values())
    assert list(table.columns) == ["reference claim", "holds here", "measured here", "shapes"]


def test_memory_finding_names_the_shapes_where_ort_peaks_higher():
    records = synthetic_records()
    for record in records:
        if (record["model"], record["batch"], record["size"], record["engine"]) == (
                "resnet18", 16, 64, "ort"):
            record["peak_rss_mb"] = 900.0  # above PyTorch's 700 MB at this one shape
    memory = {f.claim: f for f in findings(bench.results_frame(records))}[
        "ORT needs much less memory than PyTorch on CPU"]
    assert memory.holds is False and "peaked lower at 7/8 shapes" in memory.measured
    assert memory.measured.endswith("ORT peaked as high or higher at resnet18 b16 64 px")


def test_same_speed_allows_for_the_run_to_run_spread():
    records = synthetic_records()
    for record in records:  # batch 16: dynamic 15 % slower, inside the p10-p90 spread (±10 %)
        if record["engine"] == "ort-dynamic" and record["batch"] == 16:
            for key in ("median_ms", "p10_ms", "p90_ms"):
                record[key] *= 1.15
    same = {f.claim: f for f in findings(bench.results_frame(records))}[
        "Fixed and dynamic axes run at the same speed"]
    assert same.holds is True and "within ±10% at 4/8 shapes" in same.measured
    assert "inside the p10–p90 spread at 8/8" in same.measured
    apart = {f.claim: f for f in findings(bench.results_frame(synthetic_records(dynamic_factor=1.15)))}
    assert apart["Fixed and dynamic axes run at the same speed"].holds is False, \
        "a systematic 15 % gap is a difference, whatever the spread"


def test_findings_with_cuda_and_headline():
    frame = bench.results_frame(synthetic_records(cuda=True))
    gpu = [f for f in findings(frame) if "GPU" in f.claim][0]
    assert gpu.holds is True and gpu.shapes == 0  # no batch-1 shape >= 256 in this grid
    with pytest.raises(BenchError, match="no torch and ort"):
        bench.headline(frame)
    top = bench.headline(frame, model="resnet18", batch=1, size=64)
    assert top["ratio"] == pytest.approx(2.0)


def test_compare_with_reference_uses_shared_shapes():
    frame = bench.results_frame(synthetic_records(ort_factor=0.5))
    table = bench.compare_with_reference(frame)
    assert len(table) == 8 and table["agrees"].all()  # reference: ORT faster at those shapes
    row = table[(table.model == "resnet18") & (table.batch == 1) & (table["size"] == 32)].iloc[0]
    assert row["ref_speedup"] == pytest.approx(68.8 / 57.7)


def test_profile_table(tmp_path):
    events = [{"cat": "Session", "name": "model_run", "dur": 5000}] * 2 + [
        {"cat": "Node", "name": "conv1_kernel_time", "dur": 3000, "args": {"op_name": "Conv"}},
        {"cat": "Node", "name": "conv1_kernel_time", "dur": 3000, "args": {"op_name": "Conv"}},
        {"cat": "Node", "name": "relu_kernel_time", "dur": 1000, "args": {"op_name": "Relu"}},
        {"cat": "Node", "name": "relu_kernel_time", "dur": 1000, "args": {"op_name": "Relu"}},
        {"cat": "Node", "name": "relu_fence_before", "dur": 9, "args": {"op_name": "Relu"}},
    ]
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(events))
    table = bench.profile_table(path)
    assert list(table.index) == ["Conv", "Relu"]
    assert table.loc["Conv", "ms_per_run"] == pytest.approx(3.0)
    assert table.loc["Relu", "nodes"] == 1 and table["share_%"].sum() == pytest.approx(100)
    path.write_text("[]")
    with pytest.raises(BenchError, match="no node events"):
        bench.profile_table(path)


def test_parse_worker_output():
    record = {"engine": "ort", "median_ms": 1.5}
    assert bench.parse_worker_output(f"noise\n{json.dumps(record)}\n") == record
    assert bench.parse_worker_output("warning: {not json\n") is None
    assert bench.parse_worker_output("") is None


def test_report_round_trip_and_format(tmp_path):
    records = synthetic_records()
    result = GridResult(records, machine_info(with_engines=False),
                        bench.grid_settings(bench.GRIDS["quick"]), wall_s=12.0)
    paths = bench.write_report(result, tmp_path / "bench")
    assert {p.name for p in paths.values()} == {"results.csv", "results.json", "summary.md"}
    loaded = bench.load_report(tmp_path / "bench")
    assert loaded is not None and len(loaded.records) == len(records)
    assert pd.read_csv(paths["csv"]).shape[0] == len(records)
    summary = paths["summary"].read_text()
    assert "| reference claim |" in summary and "wall time 0.2 min" in summary
    assert bench.load_report(tmp_path / "nothing") is None
    text = bench.format_table(records[:2])
    assert "median_ms" in text and "resnet18" in text


def test_run_grid_reuses_a_complete_report_untouched(tmp_path):
    spec = GridSpec(models=("resnet18",), sizes=(32,), batches=(1,), engines=("torch", "ort"),
                    name="custom")
    records = [r for r in synthetic_records()
               if (r["model"], r["batch"], r["size"]) == ("resnet18", 1, 32)
               and r["engine"] in ("torch", "ort")]
    earlier = GridResult(records, machine_info(), bench.grid_settings(spec), wall_s=123.0)
    paths = bench.write_report(earlier, tmp_path)
    before = paths["json"].read_text()
    again = bench.run_grid(spec, tmp_path, progress=False, reuse=True)  # measures nothing
    assert again.wall_s == 123.0 and again.reused == 2
    assert [r["engine"] for r in again.records] == ["torch", "ort"]
    assert paths["json"].read_text() == before, "the earlier report stays as it was"


# --------------------------------------------------------------------------- sysinfo


def test_machine_info_and_memory():
    info = machine_info(with_engines=False)
    assert info["logical_cpus"] >= 1 and info["physical_cores"] >= 1
    assert set(info["versions"]) >= {"torch", "onnxruntime"} and info["cpu_model"]
    assert "physical cores" in format_machine(info)
    peak, source = peak_rss_mb()
    assert peak >= current_rss_mb() * 0.5 > 0 and source in ("VmHWM", "ru_maxrss")


# --------------------------------------------------------------------------- command line


def test_cli_rejects_unknown_model_and_engine(capsys):
    assert bench.main(["--model", "vgg16", "--no-progress"]) == 2
    assert "unknown model 'vgg16'" in capsys.readouterr().err
    assert bench.main(["--engines", "torch,tensorrt", "--no-progress"]) == 2
    assert "unknown engine 'tensorrt'" in capsys.readouterr().err
    assert bench.main(["--size", "8", "--no-progress"]) == 2
    assert "sizes must be between" in capsys.readouterr().err


def test_worker_error_is_reported_not_raised(tmp_path):
    record = bench.measure({"engine": "ort", "model": "resnet18", "batch": 1, "size": 32,
                            "threads": 1, "files": {"onnx": str(tmp_path / "missing.onnx")}})
    assert record["status"] == "error" and record["note"]


def test_cli_json_lines_end_to_end():
    """The documented command, on the smallest shape: one JSON object per engine per line."""
    command = [sys.executable, "-m", "helpers.bench", "--model", "mobilenet_v3_small",
               "--batch", "1", "--size", "32", "--engines",
               "torch,ort,torch-cuda,preprocess,reference-loop",
               "--repeats", "3", "--warmup", "1", "--threads", "1", "--format", "json",
               "--no-progress"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.strip().splitlines()]
    assert [r["engine"] for r in lines] == ["torch", "ort", "torch-cuda", "preprocess",
                                            "reference-loop"]
    for record in lines:
        assert set(bench.JSON_FIELDS) <= set(record)
        assert (record["model"], record["batch"], record["size"], record["threads"]) == \
            ("mobilenet_v3_small", 1, 32, 1)
    by_engine = {r["engine"]: r for r in lines}
    for engine in ("torch", "ort", "preprocess", "reference-loop"):
        record = by_engine[engine]
        assert record["status"] == "ok" and record["runs"] == 3
        assert record["p10_ms"] <= record["median_ms"] <= record["p90_ms"]
        assert record["peak_rss_mb"] > 0 and record["memory_source"] in ("VmHWM", "ru_maxrss")
    assert by_engine["torch"]["torch_threads"] == 1 and by_engine["ort"]["intra_op_threads"] == 1
    assert by_engine["ort"]["cold_start_ms"] >= by_engine["ort"]["first_run_ms"]
    loop = by_engine["reference-loop"]  # the model alone was timed in the same process
    assert loop["model_p10_ms"] <= loop["model_median_ms"] <= loop["model_p90_ms"]
    # each engine ran in its own process: the ORT worker never loaded torch's libraries
    assert by_engine["ort"]["baseline_rss_mb"] < by_engine["torch"]["baseline_rss_mb"]
    cuda = by_engine["torch-cuda"]
    import torch

    if not torch.cuda.is_available():
        assert cuda["status"] == "skipped" and cuda["median_ms"] is None
