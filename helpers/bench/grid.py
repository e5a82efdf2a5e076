"""The grid: models x batches x sizes x engines, measured in rounds interleaved across engines
and shapes, with the machine watched for other programs, suspect cells measured again.

Cells are grouped by (model, batch). Each round visits every group once (in a random order
after the first round) and every cell of a group once, in a fresh random order (the first
round by increasing size), in worker processes started afresh for each round, one per engine
and model: a slow stretch of a shared machine touches every engine alike, and a cell's rounds
lie minutes apart in different processes, so its spread shows what changes between runs of a
program, not only between bursts. Between visits a fixed probe kernel is timed and the CPU
time other programs used is read: a visit where either says the machine was busy is marked.
A cell's figure is the median of its round medians. Cells that fail the sanity checks
(:func:`helpers.bench.analysis.suspect_cells`) get more rounds; cells still suspect are kept,
flagged, and left out of the findings.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from helpers.bench.analysis import suspect_cells
from helpers.bench.ceiling import machine_ceiling
from helpers.bench.common import (
    EXPORTERS,
    MAX_BATCH,
    MAX_SIZE,
    MIN_SIZE,
    MODELS,
    REFERENCE_SIZES,
    BenchError,
    choices_error,
    positive_ints,
    validate_model,
)
from helpers.bench.registry import get_engine, parse_engines
from helpers.bench.report import GridResult, load_report, write_report
from helpers.bench.store import ModelStore, model_gflop
from helpers.bench.timing import (
    FULL_POLICY,
    QUICK_POLICY,
    CpuWatch,
    RoundWatch,
    RunPolicy,
    combine_rounds,
    probe_kernel_ms,
)
from helpers.bench.worker import WorkerProcess, base_record, measure
from helpers.paths import relative
from helpers.sysinfo import machine_info, physical_cores

# The speed comparison's engines. The onnxsim variants ("ort-sim", "ort-dynamic-sim") stay
# available to --engines; notebook 06 shows that for these CNNs onnxsim removes only Identity
# nodes ORT drops itself at load, so timing them in every grid cell adds minutes, not findings.
GRID_ENGINES = ("torch", "torch-cuda", "ort", "ort-dynamic")
EXTRA_ROUNDS = 2  # rounds added to a suspect cell


@dataclass(frozen=True)
class Cell:
    """One measurement: a model, a batch size, a square input size and an engine."""

    model: str
    batch: int
    size: int
    engine: str

    @property
    def key(self) -> tuple[str, int, int, str]:
        return (self.model, self.batch, self.size, self.engine)


@dataclass(frozen=True)
class GridSpec:
    """Models x batches x sizes x engines, with the run policy, threads and exporter."""

    models: tuple[str, ...]
    sizes: tuple[int, ...]
    batches: tuple[int, ...]
    engines: tuple[str, ...]
    policy: RunPolicy = field(default_factory=RunPolicy)
    threads: int | None = None  # None: one per physical core
    exporter: str = "legacy"
    name: str = "custom"
    max_pixels: int | None = None  # cells whose batch x size² is larger are left out

    def __post_init__(self) -> None:
        for model in self.models:
            validate_model(model)
        object.__setattr__(self, "engines", tuple(parse_engines(self.engines)))
        positive_ints(self.sizes, "sizes", MIN_SIZE, MAX_SIZE)
        positive_ints(self.batches, "batch sizes", 1, MAX_BATCH)
        if self.exporter not in EXPORTERS:
            raise choices_error("exporter", self.exporter, EXPORTERS)
        if self.threads is not None and self.threads < 1:
            raise BenchError(f"threads must be at least 1, got {self.threads}")

    @property
    def thread_count(self) -> int:
        return self.threads or physical_cores()

    def cells(self) -> list[Cell]:
        """Every cell; ``preprocess`` (no model) is measured once per shape, under the first model."""
        return [Cell(m, b, s, e) for m in self.models for b in self.batches
                for s in self.sizes for e in self.engines
                if (e != "preprocess" or m == self.models[0])
                and (self.max_pixels is None or b * s * s <= self.max_pixels)]


GRIDS = {
    # The reference tutorial's grid, plus 224 (the size the models were trained at).
    # Batch 16 stops at 512 px (16 x 512² pixels per call): the larger batch-16 calls took 10
    # of the grid's 17 minutes on a 2-core machine and answer no question batch 1 leaves open.
    "full": GridSpec(models=MODELS, sizes=tuple(sorted(REFERENCE_SIZES + (224,))),
                     batches=(1, 16), engines=GRID_ENGINES + ("preprocess",),
                     policy=FULL_POLICY, name="full", max_pixels=16 * 512**2),
    "quick": GridSpec(models=MODELS, sizes=(64, 224), batches=(1,),
                      engines=GRID_ENGINES + ("preprocess",), policy=QUICK_POLICY, name="quick"),
}


def grid_settings(spec: GridSpec) -> dict[str, Any]:
    """What decides the numbers besides the machine (used to decide whether to reuse)."""
    return {"grid": spec.name, "models": list(spec.models), "sizes": list(spec.sizes),
            "batches": list(spec.batches), "max_pixels": spec.max_pixels,
            "engines": list(spec.engines),
            "threads": spec.thread_count, "exporter": spec.exporter, "policy": asdict(spec.policy),
            "ort_inter_op_threads": 1, "torch_interop_threads": 1, "timer": "time.perf_counter",
            "torch_mode": "inference_mode, eval()",
            "method": "rounds interleaved across engines and shapes; median of round medians"}


def _fingerprint(machine: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    return {"cpu": machine.get("cpu_model"), "cpus": machine.get("logical_cpus"),
            "versions": machine.get("versions"),
            **{k: settings.get(k) for k in ("models", "sizes", "batches", "max_pixels", "engines",
                                            "threads", "exporter", "policy", "method")}}


def _spec_for(cell: Cell, store: ModelStore, policy: RunPolicy) -> dict[str, Any]:
    model = cell.model if get_engine(cell.engine).files else None
    return {"engine": cell.engine, "model": cell.model, "batch": cell.batch, "size": cell.size,
            "policy": asdict(policy),
            "files": store.files_for(cell.engine, model, cell.batch, cell.size)}


def measure_cell(cell: Cell, store: ModelStore, policy: RunPolicy, threads: int,
                 timeout: float | None = None, **options: Any) -> dict[str, Any]:
    """One cell in a fresh process (its rounds back to back); ``options`` go to the engine."""
    spec = {**_spec_for(cell, store, policy), "threads": threads, "options": options}
    record = measure(spec, timeout=timeout)
    return _annotate(record, cell, store, spec["files"])


def _annotate(record: dict[str, Any], cell: Cell, store: ModelStore,
              files: dict[str, str]) -> dict[str, Any]:
    engine = get_engine(cell.engine)
    if engine.files:
        record["weights"] = store.weights_tag(cell.model)
    if "onnx" in files:
        record["exporter"] = store.exporter
        record["file"] = relative(files["onnx"])
    if record.get("status") == "ok" and engine.model_engine:
        record["gflop"] = model_gflop(cell.model, cell.size) * cell.batch
        record["gflops_per_s"] = record["gflop"] / (record["median_ms"] / 1000)
    return record


def _combine(cell: Cell, rounds: list[dict[str, Any]], store: ModelStore) -> dict[str, Any]:
    """A cell's record from its round records (quiet rounds only when two or more exist)."""
    ok = [r for r in rounds if r.get("status") == "ok"]
    if not ok:
        return rounds[-1] if rounds else {**base_record(asdict(cell)), "status": "error"}
    quiet = [r for r in ok if not r["busy"]]
    used = quiet if len(quiet) >= 2 else ok
    record = {k: v for k, v in ok[0].items() if k not in ("round_data", "busy", "worker_pid")}
    record.update(combine_rounds([r["round_data"][0] for r in used]))
    record.update(round_medians_ms=[round(float(np.median(r["round_data"][0]["times_ms"])), 3)
                                    for r in ok],
                  round_busy=[bool(r["busy"]) for r in ok], rounds_used=len(used),
                  worker_pids=[r.get("worker_pid") for r in ok],
                  load_ms=float(np.median([r["load_ms"] for r in ok])),
                  peak_rss_mb=float(np.median([r["peak_rss_mb"] for r in ok])),
                  model_rss_mb=float(np.median([r["model_rss_mb"] for r in ok])))
    return _annotate(record, cell, store, {"onnx": ok[0]["file"]} if "file" in ok[0] else {})


class _Workers:
    """Worker processes of one round: one per engine and model, started when first needed.

    Fresh processes every round, so a cell's rounds sample what differs from one process to
    the next (memory layout, thread placement), not only from one burst to the next. Within a
    round the visits of one model (its batch sizes) share the engine's worker: starting
    PyTorch again costs seconds, and a worker already runs every size of a visit in a row.
    A worker starts when its first cell comes up, so no other worker's start-up runs while a
    cell is timed. Engines that keep what they loaded (``keep_loaded``: torch.compile, whose
    compiling takes far longer than a round) keep one worker per model through the grid.
    """

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.kept: dict[tuple[str, str], WorkerProcess] = {}
        self.this_round: dict[tuple[str, str], WorkerProcess] = {}

    def get(self, model: str, engine: str) -> WorkerProcess:
        """The round's (or the kept) worker for ``engine`` and ``model``; a dead one is replaced."""
        workers = self.kept if get_engine(engine).options.get("keep_loaded") else self.this_round
        key = (model, engine)
        if key in workers and not workers[key].alive():  # died (out of memory?) or timed out
            workers.pop(key).close()
        if key not in workers:
            workers[key] = WorkerProcess(self.threads)
        return workers[key]

    def end_round(self) -> None:
        """Close this round's workers (the kept ones stay)."""
        for worker in self.this_round.values():
            worker.close()
        self.this_round.clear()

    def close(self) -> None:
        self.end_round()
        for worker in self.kept.values():
            worker.close()
        self.kept.clear()


def _visit(cells: list[Cell], pool: _Workers, specs: dict[Cell, dict], watch: CpuWatch,
           probe0: float, log: dict[Cell, list], round_log: list, rng: random.Random, bar,
           timeout: float, ascending: bool) -> None:
    """One visit of ``cells`` (one model and batch) in a random order, in the round's workers."""
    order = list(cells)
    rng.shuffle(order)
    if ascending:
        order.sort(key=lambda c: c.batch * c.size**2)  # stable: engines stay shuffled
    watcher = RoundWatch(watch, probe0)
    this_round = []
    for cell in order:
        bar.set_postfix_str(f"{cell.model} b{cell.batch} {cell.size}px {cell.engine}")
        record = pool.get(cell.model, cell.engine).request(specs[cell], timeout=timeout)
        if record.get("status") == "ok" and "file" not in record and "onnx" in specs[cell]["files"]:
            record["file"] = specs[cell]["files"]["onnx"]
        log[cell].append(record)
        this_round.append(record)
        bar.update(1)
    state = watcher.close()
    round_log.append(state)
    for record in this_round:
        record["busy"] = state["busy"]


def run_grid(spec: GridSpec, report_dir=None, *, progress: bool = True, reuse: bool = False,
             timeout: float = 900, ceiling: bool | None = None, seed: int = 0) -> GridResult:
    """Measure every cell of ``spec`` in interleaved rounds; write the report when asked.

    With ``reuse``, a report in ``report_dir`` made on this machine with the same versions
    and settings is returned as it was. ``ceiling`` (default: for the named grids) also
    measures the best matrix multiply of torch and ORT, recorded with the machine.
    """
    from helpers import progress_bar
    from helpers.data.datasets import gather_sample_images
    from helpers.data.labels import imagenet_categories

    start = time.perf_counter()
    machine, settings = machine_info(), grid_settings(spec)
    if reuse and report_dir is not None:
        old = load_report(report_dir)
        if old and _fingerprint(old.machine, old.settings) == _fingerprint(machine, settings):
            return old
    gather_sample_images()
    imagenet_categories()  # written once here, so workers only read it
    threads = spec.thread_count
    if spec.name in GRIDS if ceiling is None else ceiling:
        machine.update(machine_ceiling(threads, quick=spec.name == "quick"))
    store = ModelStore(spec.exporter)
    cells = spec.cells()
    records: dict[Cell, dict[str, Any]] = {}
    for cell in cells:  # engines that cannot run here are recorded, not started
        reason = get_engine(cell.engine).why_unavailable()
        if reason:
            records[cell] = {**base_record({**asdict(cell), "threads": threads}),
                             "status": "skipped", "note": reason}
    runnable = [c for c in cells if c not in records]
    said = io.StringIO()
    with contextlib.redirect_stdout(said):  # one summary line instead of one line per file
        specs = {c: _spec_for(c, store, spec.policy) for c in progress_bar(
            runnable, desc="model files", unit="cell", disable=not progress)}
    made = [line for line in said.getvalue().splitlines() if line.startswith("exported")]
    if made:
        print(f"model files for {len(runnable)} cells: {len(made)} exported now (the first "
              f"{made[0].split()[1]}), the rest were already there")
    watch, rng, round_log = CpuWatch(), random.Random(seed), []
    probe0 = min(probe_kernel_ms() for _ in range(3))
    bar = progress_bar(total=len(runnable) * spec.policy.rounds, desc=f"bench {spec.name}",
                       unit="round", disable=not progress)
    groups = sorted({(c.model, c.batch) for c in runnable}, key=lambda g: (g[1], g[0]))
    members = {g: [c for c in runnable if (c.model, c.batch) == g] for g in groups}
    log: dict[Cell, list] = {c: [] for c in runnable}
    pool = _Workers(threads)
    again: list[Cell] = []
    try:
        # Round-major: every group once per round (the first round in order, by increasing
        # size), so a cell's rounds lie minutes apart, in different processes.
        for index in range(spec.policy.rounds):
            for group in groups if index == 0 else rng.sample(groups, len(groups)):
                _visit(members[group], pool, specs, watch, probe0, log, round_log, rng, bar,
                       timeout, ascending=index == 0)
            pool.end_round()
        combined = {c: _combine(c, log[c], store) for c in runnable}
        suspects = suspect_cells(list(combined.values()))
        again = [c for c in runnable if c.key in suspects]
        if again:
            bar.total += len(again) * EXTRA_ROUNDS
            for _ in range(EXTRA_ROUNDS):
                for group in rng.sample(groups, len(groups)):
                    cells_again = [c for c in again if (c.model, c.batch) == group]
                    if cells_again:
                        _visit(cells_again, pool, specs, watch, probe0, log, round_log, rng,
                               bar, timeout, ascending=False)
                pool.end_round()
            combined = {c: _combine(c, log[c], store) for c in runnable}
            suspects = suspect_cells(list(combined.values()))
    finally:
        pool.close()
    suspects_left = []
    for cell in runnable:
        record = combined[cell]
        record["remeasured"] = cell in again
        record["quality"] = "suspect" if cell.key in suspects else "ok"
        record["quality_note"] = suspects.get(cell.key, "")
        if cell.key in suspects:
            suspects_left.append(cell.key)
        records[cell] = record
    remeasured = len(again)
    bar.close()
    busy_rounds = sum(r["busy"] for r in round_log)
    machine.update(load_average_end=[round(x, 2) for x in os.getloadavg()]
                   if hasattr(os, "getloadavg") else None,
                   probe_ms_start=round(probe0, 3), rounds_total=len(round_log),
                   rounds_busy=busy_rounds, round_log=round_log,
                   others_cpu_share_max=max((r["others_cpu_share"] for r in round_log), default=0))
    settings.update(remeasured_cells=remeasured, suspect_cells=len(suspects_left))
    result = GridResult([records[c] for c in cells], machine, settings,
                        time.perf_counter() - start)
    if report_dir is not None:
        write_report(result, report_dir)
    return result


def quick_spec(spec: GridSpec, **changes: Any) -> GridSpec:
    """``spec`` with some fields changed (validated again)."""
    return replace(spec, **changes)
