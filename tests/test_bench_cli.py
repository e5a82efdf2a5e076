"""The command line and the worker processes, end to end on the smallest shape (no timing asserted)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys

from helpers import bench
from helpers.bench.__main__ import JSON_FIELDS, main
from helpers.paths import REPO_ROOT
from helpers.sysinfo import current_rss_mb, format_machine, machine_info, peak_rss_mb


def test_cli_rejects_unknown_model_engine_and_size(capsys):
    assert main(["--model", "vgg16", "--no-progress"]) == 2
    assert "unknown model 'vgg16'" in capsys.readouterr().err
    assert main(["--engines", "torch,tensorrt", "--no-progress"]) == 2
    assert "unknown engine 'tensorrt'" in capsys.readouterr().err
    assert main(["--size", "8", "--no-progress"]) == 2
    assert "sizes must be between" in capsys.readouterr().err


def test_help_lists_every_engine(capsys):
    with contextlib.suppress(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for name in bench.engine_names():
        assert f"  {name} " in text


def test_worker_error_is_reported_not_raised(tmp_path):
    record = bench.measure({"engine": "ort", "model": "resnet18", "batch": 1, "size": 32,
                            "threads": 1, "files": {"onnx": str(tmp_path / "missing.onnx")}})
    assert record["status"] == "error" and "missing.onnx" in record["note"]


def test_machine_info_and_memory():
    info = machine_info(with_engines=False)
    assert set(info["versions"]) >= {"torch", "onnxruntime"} and info["cpu_model"]
    assert "physical cores" in format_machine(info)
    peak, source = peak_rss_mb()
    assert peak >= current_rss_mb() * 0.5 > 0 and source in ("VmHWM", "ru_maxrss")


def test_cli_json_end_to_end_with_rounds_and_quality():
    """The documented command, on the smallest shape: per-round figures and a quality flag."""
    command = [sys.executable, "-m", "helpers.bench", "--model", "mobilenet_v3_small",
               "--batch", "1", "--size", "32,64", "--engines", "torch,ort,torch-cuda,preprocess",
               "--rounds", "2", "--repeats", "2", "--max-seconds", "0", "--threads", "1",
               "--format", "json", "--no-progress"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "rounds ran while the machine was busy" in done.stderr
    lines = [json.loads(line) for line in done.stdout.strip().splitlines()]
    assert [(r["size"], r["engine"]) for r in lines] == [
        (s, e) for s in (32, 64) for e in ("torch", "ort", "torch-cuda", "preprocess")]
    by_engine = {(r["engine"], r["size"]): r for r in lines}
    for (engine, _size), record in by_engine.items():
        assert set(JSON_FIELDS) <= set(record) and record["threads"] == 1
        if engine == "torch-cuda":
            continue
        assert record["status"] == "ok" and record["rounds"] >= 2
        # every round run is listed (busy ones flagged); the figures use the quiet ones when
        # two or more were quiet, so a busy machine adds rounds beyond the two asked for
        assert len(record["round_medians_ms"]) == len(record["round_busy"]) >= record["rounds"]
        quiet = record["round_busy"].count(False)
        assert record["rounds"] == (quiet if quiet >= 2 else len(record["round_busy"]))
        assert record["quality"] in ("ok", "suspect") and record["runs"] == 2 * record["rounds"]
        pids = record["worker_pids"]
        assert len(set(pids)) == len(pids), f"every round in a fresh worker process: {pids}"
    assert by_engine[("torch", 32)]["torch_threads"] == 1
    assert by_engine[("ort", 32)]["intra_op_threads"] == 1
    # each engine has its own worker process: the ORT worker never loaded torch, so its peak
    # stays below the PyTorch worker's at every size (a baseline taken before the first load
    # is the same bare interpreter for both, so it cannot tell them apart)
    ort_peaks = [by_engine[("ort", size)]["peak_rss_mb"] for size in (32, 64)]
    torch_peaks = [by_engine[("torch", size)]["peak_rss_mb"] for size in (32, 64)]
    assert max(ort_peaks) < min(torch_peaks), (ort_peaks, torch_peaks)
    import torch

    if not torch.cuda.is_available():
        assert by_engine[("torch-cuda", 32)]["status"] == "skipped"


class _FakeWorker:
    """Stands in for a worker process: counts starts, can be marked dead."""

    started = 0

    def __init__(self, threads: int) -> None:
        _FakeWorker.started += 1
        self.threads, self.closed, self.dead = threads, False, False

    def alive(self) -> bool:
        return not (self.closed or self.dead)

    def close(self) -> None:
        self.closed = True


def test_grid_workers_one_per_engine_and_model_fresh_every_round(monkeypatch):
    from helpers.bench import grid

    monkeypatch.setattr(grid, "WorkerProcess", _FakeWorker)
    pool = grid._Workers(threads=1)
    first = pool.get("resnet18", "ort")
    assert pool.get("resnet18", "ort") is first  # the model's batch sizes share it in a round
    assert pool.get("mobilenet_v3_small", "ort") is not first  # never shared across models
    assert pool.get("resnet18", "torch") is not first  # nor across engines
    compiled = pool.get("resnet18", "torch-compile")
    first.dead = True
    replacement = pool.get("resnet18", "ort")
    assert replacement is not first and first.closed  # a dead worker is closed and replaced
    pool.end_round()
    assert replacement.closed and not compiled.closed  # torch.compile keeps its compiled graphs
    assert pool.get("resnet18", "ort") is not replacement  # every round starts afresh
    assert pool.get("resnet18", "torch-compile") is compiled
    pool.close()
    assert compiled.closed


def test_worker_process_skips_pandas_and_exits_cleanly():
    """A worker imports no tables, answers, and ends with status 0 when its input closes."""
    from helpers.bench.worker import WorkerProcess, thread_env

    probe = "import sys, helpers.bench; print('pandas' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          cwd=REPO_ROOT, env=thread_env(1), check=True)
    assert done.stdout.strip() == "False"
    worker = WorkerProcess(1)
    record = worker.request({"engine": "preprocess", "batch": 1, "size": 32, "files": {},
                             "policy": {"repeats": 2, "min_runs": 1, "max_seconds": 0}})
    assert record["status"] == "ok", record
    process = worker.process
    worker.close()
    assert process.returncode == 0
