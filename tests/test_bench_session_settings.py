"""helpers.bench.session_settings and compare: a notebook's SessionOptions reach the worker as
they were built, and a comparison's records become one table. No timing is asserted."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest

from helpers.bench import BenchError, RunPolicy
from helpers.bench.common import Job
from helpers.bench.compare import beyond_spread, compare_sessions, settings_table, which_matter
from helpers.bench.loaders_core import load_ort, ort_session_options
from helpers.bench.session_settings import (
    CONFIG_KEYS,
    FIELDS,
    build_options,
    config_entry,
    describe_options,
    threads_of,
)


def every_field_changed(tmp_path) -> ort.SessionOptions:
    """SessionOptions with every field the harness carries set away from ORT's default."""
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_LAYOUT
    so.execution_mode = ort.ExecutionMode.ORT_PARALLEL
    so.intra_op_num_threads = 3
    so.inter_op_num_threads = 2
    so.enable_cpu_mem_arena = False
    so.enable_mem_pattern = False
    so.enable_mem_reuse = False
    so.use_deterministic_compute = True
    so.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    so.enable_profiling = True
    so.profile_file_prefix = str(tmp_path / "profile")
    so.log_severity_level = 3
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.disable_prepacking", "1")
    return so


def test_every_field_survives_the_round_trip_through_json(tmp_path):
    so = every_field_changed(tmp_path)
    default = describe_options(ort.SessionOptions())
    description = describe_options(so)
    changed = {name for name in FIELDS if description[name] != default[name]}
    assert changed == set(FIELDS), f"the test leaves {set(FIELDS) - changed} at the default"
    again = build_options(json.loads(json.dumps(description)))  # what the worker gets
    for name in FIELDS:
        assert getattr(again, name) == getattr(so, name), name
    assert again.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert again.get_session_config_entry("session.disable_prepacking") == "1"
    assert describe_options(again) == description


def test_defaults_round_trip_and_unset_config_entries_stay_unset():
    description = describe_options(ort.SessionOptions())
    assert description["config"] == {}
    assert description["graph_optimization_level"] == "ORT_ENABLE_ALL"
    again = build_options(description)
    assert config_entry(again, CONFIG_KEYS[0]) is None
    assert describe_options(again) == description


def test_extra_config_keys_are_read_when_named():
    so = ort.SessionOptions()
    so.add_session_config_entry("session.intra_op.spin_duration_us", "50")
    assert "session.intra_op.spin_duration_us" not in describe_options(so)["config"]
    found = describe_options(so, config_keys=("session.intra_op.spin_duration_us",))["config"]
    assert found == {"session.intra_op.spin_duration_us": "50"}
    assert build_options({"config": found}).get_session_config_entry(
        "session.intra_op.spin_duration_us") == "50"


def test_bad_descriptions_and_objects_are_refused_with_what_is_allowed():
    with pytest.raises(BenchError, match="ORT_ENABLE_LAYOUT"):
        build_options({"graph_optimization_level": "ORT_ENABLE_EVERYTHING"})
    with pytest.raises(BenchError, match="unknown SessionOptions fields"):
        build_options({"intra_threads": 2})
    with pytest.raises(BenchError, match="expected an onnxruntime.SessionOptions"):
        describe_options({"intra_op_num_threads": 2})


def test_threads_of_says_what_ort_would_be_asked_for():
    so = ort.SessionOptions()
    assert threads_of(so, default=4) == 4  # 0: ORT chooses; the worker gets the default
    so.intra_op_num_threads = 1
    assert threads_of(so, default=4) == 1


def test_the_ort_loader_builds_the_learners_options(tiny_onnx, tmp_path):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    so.enable_profiling = True
    so.profile_file_prefix = str(tmp_path / "prof")
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    job = Job(engine="ort", model="tiny", batch=1, size=64, threads=1,
              files={"onnx": str(tiny_onnx)},
              options={"session_options": describe_options(so)})
    assert describe_options(ort_session_options(job)) == describe_options(so)
    run = load_ort(job)
    run()
    assert job.info["optimization"] == "ORT_DISABLE_ALL"
    profile = job.finishers[0]()["profile_file"]
    assert profile.startswith(str(tmp_path / "prof"))


def test_the_grids_option_keys_still_work():
    job = Job(engine="ort", model="m", batch=1, size=8, threads=2,
              options={"optimization": "basic", "spinning": False, "arena": False})
    so = ort_session_options(job)
    assert so.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    assert so.intra_op_num_threads == 2 and not so.enable_cpu_mem_arena
    assert so.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def fake_records():
    def record(name, median, low, high, load):
        return {"setting": name, "status": "ok", "median_ms": median, "low_ms": low,
                "high_ms": high, "runs": 9, "rounds": 3, "threads": 2, "load_ms": load,
                "peak_rss_mb": 100.0, "model_rss_mb": 40.0}
    return [record("slow", 10.0, 9.5, 11.0, 50.0), record("fast", 5.0, 4.8, 5.2, 100.0),
            record("near", 5.3, 5.0, 5.6, 100.0)]


def test_settings_table_and_which_matter():
    table = settings_table(fake_records())
    assert list(table.index) == ["slow", "fast", "near"] and table.index.name == "setting"
    assert table.loc["fast", "session_ms"] == 100.0 and table.loc["slow", "added_mb"] == 40.0
    assert beyond_spread(table, "slow", "fast") and not beyond_spread(table, "fast", "near")
    verdict = which_matter({"a": table, "b": table.loc[["fast", "near"]]})
    assert list(verdict.index) == ["a", "b"]  # largest ratio first
    assert verdict.loc["a", "best value"] == "fast" and verdict.loc["a", "apart beyond spread"]
    assert not verdict.loc["b", "apart beyond spread"]
    assert verdict.loc["a", "latency ratio (×)"] == pytest.approx(2.0)
    assert verdict.loc["a", "session ratio (×)"] == pytest.approx(2.0)


def test_settings_table_with_tuple_names_and_a_failed_setting():
    records = fake_records()[:2]
    records[0]["setting"], records[1]["setting"] = ("ALL", "original"), ("ALL", "onnxsim")
    records.append({"setting": ("DISABLE", "original"), "status": "error", "note": "boom"})
    table = settings_table(records, names=("level", "file"))
    assert table.index.names == ["level", "file"]
    assert table.loc[("DISABLE", "original"), "status"] == "error"
    assert np.isnan(table.loc[("DISABLE", "original"), "median_ms"])


def test_compare_sessions_refuses_what_it_cannot_time():
    policy = RunPolicy(rounds=1)
    with pytest.raises(BenchError, match="no model file"):
        compare_sessions({"a": ort.SessionOptions()}, batch=1, size=8, policy=policy)
    with pytest.raises(BenchError, match="'a': expected an onnxruntime.SessionOptions"):
        compare_sessions({"a": {"threads": 1}}, file="x.onnx", batch=1, size=8, policy=policy)


def test_compare_sessions_times_the_options_in_worker_processes(tiny_onnx, tmp_path):
    bare, profiled = ort.SessionOptions(), ort.SessionOptions()
    bare.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    for so in (bare, profiled):
        so.intra_op_num_threads = 1
    profiled.enable_profiling = True
    profiled.profile_file_prefix = str(tmp_path / "prof")
    policy = RunPolicy(warmup=1, warmup_s=0, warmup_min=1, repeats=2, min_runs=1,
                       max_seconds=0, rounds=2)
    records = compare_sessions({"bare": bare, "profiled": profiled}, file=tiny_onnx, batch=2,
                               size=64, policy=policy, model="tiny")
    assert [r["status"] for r in records] == ["ok", "ok"], records
    by_name = {r["setting"]: r for r in records}
    assert by_name["bare"]["optimization"] == "ORT_DISABLE_ALL"
    assert by_name["profiled"]["optimization"] == "ORT_ENABLE_ALL"
    assert all(r["threads"] == 1 and r["batch"] == 2 and r["rounds"] == 2 for r in records)
    assert by_name["profiled"]["profile_file"].startswith(str(tmp_path / "prof"))
    assert "profile_file" not in by_name["bare"]
    # CPU time of the worker's threads per run (what spinning costs), with wall time beside it
    assert all(r["cpu_ms_per_run"] > 0 and r["cores_busy"] > 0 for r in records), records
    table = settings_table(records)
    assert list(table.index) == ["bare", "profiled"] and (table["status"] == "ok").all()
    assert (table["cpu_ms_per_run"] > 0).all() and (table["cores_busy"] > 0).all()


def test_a_settings_record_takes_the_fastest_load_of_its_rounds():
    from helpers.bench.compare import _cell_record

    def round_record(load_ms, times):
        return {"status": "ok", "load_ms": load_ms, "peak_rss_mb": 100.0, "model_rss_mb": 40.0,
                "round_data": [{"times_ms": times, "warmup_runs": 2}]}

    # the first round's load also imported ONNX Runtime in the worker: not session creation
    record = _cell_record("s", [round_record(400.0, [5.0, 5.2]), round_record(20.0, [5.1, 5.3])], 0)
    assert record["load_ms"] == 20.0 and record["rounds"] == 2
