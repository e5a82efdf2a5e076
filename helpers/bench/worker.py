"""Worker processes: where engines run, apart from the notebook and from each other.

Two ways to run: :func:`measure` starts a fresh ``python -m helpers.bench --worker`` process
for one measurement (its cold start includes importing the engine), and :class:`WorkerProcess`
is a ``--serve`` process that measures several cells of one engine in a row; the grid starts
fresh ones for every visit of a group, so it can interleave rounds across engines and shapes
without paying for a Python start per cell. Either way,
ONNX Runtime's spinning threads cannot slow PyTorch down and each process's memory is its own.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import select
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from typing import Any, NoReturn

from helpers.bench.registry import Job, get_engine
from helpers.bench.timing import RunPolicy, combine_rounds, time_runs
from helpers.paths import REPO_ROOT
from helpers.sysinfo import current_rss_mb, peak_rss_mb, physical_cores

_CLEAR_REFS = "/proc/self/clear_refs"
WORKER_ENV = "HELPERS_BENCH_WORKER"  # "1" in a worker: helpers.bench skips what only reports need


def base_record(spec: dict[str, Any]) -> dict[str, Any]:
    return {"engine": spec["engine"], "model": spec.get("model"), "batch": spec.get("batch"),
            "size": spec.get("size"), "threads": spec.get("threads"), "status": "ok", "note": ""}


def _reset_peak_memory() -> bool:
    """Reset this process's peak-memory mark (Linux ``clear_refs`` 5); False where impossible."""
    try:
        with open(_CLEAR_REFS, "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _job(spec: dict[str, Any]) -> Job:
    engine = get_engine(spec["engine"])
    return Job(engine=engine.name, model=spec.get("model"), batch=int(spec.get("batch", 1)),
               size=int(spec.get("size", 224)), threads=int(spec["threads"]),
               files=dict(spec.get("files", {})),
               options={**engine.options, **spec.get("options", {})})


def run_cell(spec: dict[str, Any], rounds: int | None = None,
             kept: dict[str, tuple] | None = None) -> dict[str, Any]:
    """Load the engine for ``spec`` in this process and time it; the record has every round.

    ``rounds`` (default: the policy's) bursts are timed back to back; each round's timed
    runs are kept in ``rounds`` (``times_ms``) and combined by :func:`combine_rounds`.
    """
    if spec.get("module"):
        importlib.import_module(spec["module"])  # an engine registered outside helpers.bench
    record = base_record(spec)
    engine = get_engine(spec["engine"])
    reason = engine.why_unavailable()
    if reason:
        return {**record, "status": "skipped", "note": reason}
    policy = RunPolicy(**spec.get("policy", {}))
    gc.collect()
    baseline = current_rss_mb()
    reset = _reset_peak_memory()
    job = _job(spec)
    key = json.dumps([spec.get(k) for k in ("engine", "model", "batch", "size", "files",
                                            "options")], default=str)
    t0 = time.perf_counter()
    if kept is not None and key in kept:
        job, run = kept[key]
        record["reused_load"] = True
    else:
        run = engine.load(job)
        if kept is not None and job.options.get("keep_loaded"):
            kept[key] = (job, run)
    record["load_ms"] = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    run()
    first = time.perf_counter() - t0
    record["first_run_ms"] = first * 1000
    record["cold_start_ms"] = record["load_ms"] + record["first_run_ms"]
    done = []
    cpu0, wall0 = time.process_time(), time.perf_counter()  # CPU of every thread of this process
    for index in range(rounds or policy.rounds):
        times, warm = time_runs(run, policy, done_runs=1 if index == 0 else 0,
                                done_s=first if index == 0 else 0.0)
        done.append({"times_ms": [t * 1000 for t in times], "warmup_runs": warm})
    cpu_s, wall_s = time.process_time() - cpu0, time.perf_counter() - wall0
    runs_done = sum(len(d["times_ms"]) + d["warmup_runs"] for d in done)
    # CPU time per run (warm-ups included): spinning threads count, idle ones do not
    record["cpu_ms_per_run"] = 1000 * cpu_s / max(runs_done, 1)
    record["cores_busy"] = cpu_s / wall_s if wall_s > 0 else float("nan")
    record["round_data"] = done
    record["worker_pid"] = os.getpid()
    record.update(combine_rounds(done))
    peak, source = peak_rss_mb()
    record.update(baseline_rss_mb=round(baseline, 1), peak_rss_mb=round(peak, 1),
                  model_rss_mb=round(peak - baseline, 1),
                  memory_source=source + (" since load" if reset else " of the process"))
    for finish in job.finishers:
        record.update(finish())
    record.update({k: v for k, v in job.info.items() if not k.startswith("_")})
    if "flop" in record:
        record["gflops_best"] = record["flop"] / (record["min_ms"] / 1000) / 1e9
        record["gflops_median"] = record["flop"] / (record["median_ms"] / 1000) / 1e9
    del run, job
    gc.collect()
    return record


def _safe(spec: dict[str, Any], rounds: int | None = None,
          kept: dict[str, tuple] | None = None) -> dict[str, Any]:
    try:
        return run_cell(spec, rounds, kept)
    except Exception as error:  # reported as the cell's error; the worker keeps serving
        text = str(error).strip().splitlines()
        return {**base_record(spec), "status": "error",
                "note": f"{type(error).__name__}: {text[-1] if text else ''}"[:300]}


def worker_main(spec_json: str) -> dict[str, Any]:
    """``--worker``: one measurement in this fresh process.

    The engine's library is imported inside its load function, so ``load_ms`` and
    ``cold_start_ms`` here include importing it: what a fresh program pays for its first answer.
    """
    spec = json.loads(spec_json)
    importlib.import_module(spec.get("module") or get_engine(spec["engine"]).module)
    return {**_safe(spec), "fresh_process": True}


def serve_main() -> None:
    """``--serve``: answer one JSON request per stdin line with one JSON record per line.

    Engines registered with ``options={"keep_loaded": True}`` (torch.compile: compiling
    takes far longer than a round) keep every loaded shape; others load afresh per round.
    """
    kept: dict[str, tuple] = {}
    for line in sys.stdin:
        if not line.strip():
            continue
        spec = json.loads(line)
        print(json.dumps(_safe(spec, rounds=1, kept=kept), default=str), flush=True)


def exit_worker() -> NoReturn:
    """End a worker process at once, its answers flushed.

    Python's tear-down of a process with PyTorch loaded takes about a second on the course's
    machine, once per worker; a worker holds nothing that needs it (no files open for
    writing, every record already sent).
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def thread_env(threads: int) -> dict[str, str]:
    """Environment for a worker: every thread pool capped at ``threads``, marked as a worker."""
    env = {**os.environ, WORKER_ENV: "1"}
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(threads)
    return env


def parse_worker_output(stdout: str) -> dict[str, Any] | None:
    """The last line of ``stdout`` that is a JSON object, or None."""
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                return value
    return None


def _with_module(spec: dict[str, Any]) -> dict[str, Any]:
    spec = dict(spec)
    spec.setdefault("threads", physical_cores())
    spec.setdefault("module", get_engine(spec["engine"]).module)
    if isinstance(spec.get("policy"), RunPolicy):
        spec["policy"] = asdict(spec["policy"])
    return spec


def measure(spec: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
    """One measurement in a fresh ``python -m helpers.bench --worker`` process.

    ``spec``: engine, model, batch, size, threads, files, options, policy (a dict or a
    :class:`RunPolicy`). A failing worker gives a record with ``status="error"`` and the last
    line of its error output in ``note``.
    """
    spec = _with_module(spec)
    command = [sys.executable, "-m", "helpers.bench", "--worker", json.dumps(spec)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT,
                              env=thread_env(int(spec["threads"])), timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**base_record(spec), "status": "error", "note": f"timed out after {timeout} s"}
    record = parse_worker_output(done.stdout)
    if done.returncode != 0 or record is None:
        lines = [ln for ln in done.stderr.strip().splitlines() if ln.strip()]
        return {**base_record(spec), "status": "error",
                "note": lines[-1] if lines else f"worker exited with {done.returncode}"}
    return record


class WorkerProcess:
    """A ``--serve`` process kept alive for one engine; :meth:`request` measures one round."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - lives as long as the worker
        self.process = subprocess.Popen(
            [sys.executable, "-m", "helpers.bench", "--serve"], cwd=REPO_ROOT, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            env=thread_env(threads), bufsize=1)

    def _last_error(self) -> str:
        self._stderr.seek(0)
        lines = [ln for ln in self._stderr.read().splitlines() if ln.strip()]
        return lines[-1] if lines else f"worker exited with {self.process.poll()}"

    def request(self, spec: dict[str, Any], timeout: float = 900) -> dict[str, Any]:
        """Send one cell, wait for its record (an error record if the worker dies or hangs)."""
        spec = _with_module({**spec, "threads": self.threads})
        if self.process.poll() is not None:
            return {**base_record(spec), "status": "error", "note": self._last_error()}
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps(spec) + "\n")
        self.process.stdin.flush()
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.process.stdout], [], [], max(left, 0))
            if not ready:
                self.close()
                return {**base_record(spec), "status": "error",
                        "note": f"timed out after {timeout:.0f} s"}
            line = self.process.stdout.readline()
            if not line:
                return {**base_record(spec), "status": "error", "note": self._last_error()}
            record = parse_worker_output(line)
            if record is not None:
                return record

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                assert self.process.stdin
                self.process.stdin.close()
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        self._stderr.close()
