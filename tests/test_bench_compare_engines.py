"""helpers.bench.compare_engines: engines and variant files timed through the benchmark, as
DataFrames with named columns (no timing asserted)."""

from __future__ import annotations

import numpy as np
import pytest

import helpers.bench as bench
from helpers.bench.compare import rounds_in_workers
from helpers.bench.compare_engines import ENGINE_COLUMNS, engines_frame

TINY_POLICY = bench.RunPolicy(warmup=1, warmup_s=0, repeats=3, min_runs=1, max_seconds=0.05,
                              rounds=2)


def test_engines_frame_speedup_is_per_model_and_threads():
    records = [
        {"model": "a", "engine": "ort", "threads": 1, "median_ms": 10.0, "status": "ok"},
        {"model": "a", "engine": "ort-int8", "threads": 1, "median_ms": 4.0, "status": "ok"},
        {"model": "a", "engine": "ort", "threads": 2, "median_ms": 6.0, "status": "ok"},
        {"model": "a", "engine": "ort-int8", "threads": 2, "median_ms": 3.0, "status": "ok"},
        {"model": "b", "engine": "ort-int8", "threads": 1, "median_ms": 5.0, "status": "ok"},
    ]
    frame = engines_frame(records, baseline="ort")
    assert tuple(frame.columns) == ENGINE_COLUMNS
    assert list(frame.speedup[:4]) == [1.0, 2.5, 1.0, 2.0]
    assert np.isnan(frame.speedup.iloc[4])  # model b has no baseline row


def test_compare_engines_needs_its_baseline():
    with pytest.raises(bench.BenchError, match="baseline engine 'ort' must be among"):
        bench.compare_engines(["ort-int8"], baseline="ort")


def test_time_files_gives_named_columns_in_the_order_given(tiny_onnx, tmp_path):
    second = tmp_path / "copy.onnx"
    second.write_bytes(tiny_onnx.read_bytes())
    table = bench.time_files({"b": second, "a": tiny_onnx}, batch=1, size=64, threads=(1,),
                             policy=TINY_POLICY, progress=False)
    assert list(table.index) == ["b", "a"] and table.index.name == "variant"
    assert list(table.columns) == ["ms @1t", "spread % @1t"]
    assert (table["ms @1t"] > 0).all() and (table["spread % @1t"] >= 0).all()


def test_rounds_in_workers_shares_a_worker_by_key(tiny_onnx):
    """Specs with the same worker key run in one process, kept across rounds; other keys in
    their own; every spec gets one record per round."""
    spec = {"engine": "ort", "model": "tiny", "batch": 1, "size": 64,
            "files": {"onnx": str(tiny_onnx)}, "policy": vars(TINY_POLICY)}
    specs = {"a": spec, "b": spec, "c": spec}
    log, busy = rounds_in_workers(specs, {"a": "ort", "b": "ort", "c": "other"}, threads=1,
                                  rounds=2)
    assert all(len(log[name]) == 2 and all(r["status"] == "ok" for r in log[name]) for name in specs)
    pids = {name: {r["worker_pid"] for r in log[name]} for name in specs}
    assert pids["a"] == pids["b"] and len(pids["a"]) == 1, pids
    assert pids["c"].isdisjoint(pids["a"]), pids
    assert 0 <= busy <= 2


def test_time_files_says_which_file_failed(tiny_onnx, corrupt_onnx, tmp_path):
    with pytest.raises(bench.BenchError, match="no ONNX file for gone"):
        bench.time_files({"gone": tmp_path / "gone.onnx"}, policy=TINY_POLICY)
    with pytest.raises(bench.BenchError, match=r"could not time broken \(1 thread\(s\)\)"):
        bench.time_files({"fine": tiny_onnx, "broken": corrupt_onnx}, size=64, threads=(1,),
                         policy=TINY_POLICY, progress=False)


def test_compare_engines_reuses_its_report_and_says_so(tmp_path, capsys):
    """A second call with ``reuse`` reads the report the first one wrote (same machine,
    versions and settings) instead of measuring again, and prints one line saying so."""
    kwargs = dict(models=("mobilenet_v3_small",), size=32, threads=(1,), policy=TINY_POLICY,
                  progress=False, report_dir=tmp_path / "engines", reuse=True)
    first = bench.compare_engines(["ort", "preprocess"], **kwargs)
    assert first.attrs["reused_from"] is None and "reused" not in capsys.readouterr().out
    assert (tmp_path / "engines" / "compare-1t" / "results.json").is_file()
    again = bench.compare_engines(["ort", "preprocess"], **kwargs)
    said = capsys.readouterr().out
    assert again.attrs["reused_from"] == str(tmp_path / "engines")
    assert said.count("\n") == 1 and "reused the measurements" in said
    assert again["median_ms"].tolist() == first["median_ms"].tolist()
    changed = bench.compare_engines(["ort", "preprocess"], **{**kwargs, "size": 64})
    assert changed.attrs["reused_from"] is None, "other settings are measured, not reused"
