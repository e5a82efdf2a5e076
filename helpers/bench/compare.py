"""Settings side by side: one engine under several settings, timed in interleaved rounds.

:func:`compare_sessions` times ONNX Runtime sessions built from a notebook's own
``SessionOptions`` (they travel to the workers through
:mod:`helpers.bench.session_settings`); :func:`compare_settings` is the general form (engine
options by key, as the grid uses them, or ``SessionOptions``). :func:`settings_table` turns
the records into one table and :func:`which_matter` says which settings moved latency beyond
the round-to-round spread.
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from helpers.bench.common import BenchError
from helpers.bench.session_settings import describe_options, threads_of
from helpers.bench.timing import CpuWatch, RoundWatch, RunPolicy, combine_rounds, probe_kernel_ms
from helpers.bench.worker import WorkerProcess
from helpers.sysinfo import physical_cores

if TYPE_CHECKING:
    from onnxruntime import SessionOptions

TABLE_COLUMNS = {"median_ms": "median_ms", "low_ms": "low_ms", "high_ms": "high_ms",
                 "runs": "runs", "rounds": "rounds", "threads": "threads",
                 "load_ms": "session_ms", "peak_rss_mb": "peak_mb", "model_rss_mb": "added_mb",
                 "cpu_ms_per_run": "cpu_ms_per_run", "cores_busy": "cores_busy"}


def session_variant(options: SessionOptions, file: str | Path | None = None,
                    default_threads: int | None = None) -> dict[str, Any]:
    """A ``compare_settings`` variant from an ``ort.SessionOptions`` (and the file it opens)."""
    change: dict[str, Any] = {"session_options": describe_options(options),
                              "threads": threads_of(options, default_threads or physical_cores())}
    if file is not None:
        change["files"] = {"onnx": str(file)}
    return change


def _cell_record(name: Hashable, rounds: list[dict[str, Any]], busy: int) -> dict[str, Any]:
    """One setting's record from its round records (figures of :func:`combine_rounds`)."""
    ok = [r for r in rounds if r.get("status") == "ok"]
    if not ok:
        return {**rounds[-1], "setting": name}
    record = {k: v for k, v in ok[0].items() if k != "round_data"}
    record.update(combine_rounds([r["round_data"][0] for r in ok]))
    record.update(setting=name, busy_rounds=busy,
                  round_medians_ms=[round(float(np.median(r["round_data"][0]["times_ms"])), 3)
                                    for r in ok],
                  # the fastest load: a worker's first one also imports the engine's library
                  load_ms=float(min(r["load_ms"] for r in ok)),
                  peak_rss_mb=float(np.median([r["peak_rss_mb"] for r in ok])),
                  model_rss_mb=float(np.median([r["model_rss_mb"] for r in ok])),
                  **{key: float(np.median([r[key] for r in ok])) for key in ("cpu_ms_per_run", "cores_busy")
                     if all(key in r for r in ok)})
    return record


def rounds_in_workers(specs: Mapping[Hashable, dict[str, Any]], workers: Mapping[Hashable, Hashable],
                      threads: int | Mapping[Hashable, int], rounds: int, *, seed: int = 0,
                      timeout: float = 900, bar: Any = None) -> tuple[dict[Hashable, list[dict[str, Any]]], int]:
    """Time every spec (name → worker request) in ``rounds`` rounds; each round visits them in
    a fresh random order. Specs with the same key in ``workers`` share one ``--serve`` worker
    process with ``threads`` threads (one count, or one per worker key), kept across rounds
    (a spec is loaded afresh at every visit; a worker that died is replaced, so one file that
    kills it is the only one to fail). Returns each spec's round records and how many rounds ran on a busy machine."""
    count = (lambda key: threads) if isinstance(threads, int) else threads.__getitem__
    pool: dict[Hashable, WorkerProcess] = {}
    log: dict[Hashable, list[dict[str, Any]]] = {name: [] for name in specs}
    rng, watch = random.Random(seed), CpuWatch()
    probe0 = min(probe_kernel_ms() for _ in range(3))
    busy = 0
    try:
        for key in dict.fromkeys(workers[name] for name in specs):
            pool[key] = WorkerProcess(count(key))
        for _ in range(rounds):
            order = list(specs)
            rng.shuffle(order)
            watcher = RoundWatch(watch, probe0)
            for name in order:
                key = workers[name]
                if not pool[key].alive():  # died (out of memory?) or timed out: a fresh one
                    pool[key].close()
                    pool[key] = WorkerProcess(count(key))
                log[name].append(pool[key].request(specs[name], timeout=timeout))
                if bar is not None:
                    bar.update(1)
            busy += watcher.close()["busy"]
    finally:
        for worker in pool.values():
            worker.close()
    return log, busy


def interleaved_rounds(specs: Mapping[Hashable, tuple[dict[str, Any], int]], rounds: int,
                       seed: int = 0, timeout: float = 900,
                       bar: Any = None) -> tuple[dict[Hashable, list[dict[str, Any]]], int]:
    """Each spec (with its thread count) in its own worker kept across rounds: see
    :func:`rounds_in_workers`."""
    return rounds_in_workers({name: spec for name, (spec, _) in specs.items()},
                             {name: name for name in specs},
                             {name: count for name, (_, count) in specs.items()}, rounds,
                             seed=seed, timeout=timeout, bar=bar)


def compare_settings(base: dict[str, Any], variants: Mapping[Hashable, Any], policy: RunPolicy,
                     threads: int | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """One engine under several settings, in rounds interleaved across the settings.

    ``base``: engine, model, batch, size, files (and options); ``variants``: name → engine
    options (a dict, where ``threads`` and ``files`` replace the base's) or name → an
    ``ort.SessionOptions`` (rebuilt as it is in the worker; its ``intra_op_num_threads`` is
    the worker's thread count). One worker per setting; each round visits the settings in a
    fresh random order. Each record gets ``setting``, the figures of :func:`combine_rounds`
    and ``busy_rounds`` (rounds on a busy machine, for all settings alike).
    """
    threads = threads or physical_cores()
    changes = {name: dict(v) if isinstance(v, Mapping)
               else session_variant(v, default_threads=threads) for name, v in variants.items()}
    specs = {}
    for name, change in changes.items():
        options = {k: v for k, v in change.items() if k not in ("threads", "files")}
        specs[name] = ({**base, "files": change.get("files", base.get("files", {})),
                        "policy": asdict(policy), "options": {**base.get("options", {}), **options}},
                       int(change.get("threads", threads)))
    log, busy = interleaved_rounds(specs, policy.rounds, seed)
    return [_cell_record(name, rounds, busy) for name, rounds in log.items()]


def compare_sessions(settings: Mapping[Hashable, Any], *, batch: int, size: int,
                     policy: RunPolicy, file: str | Path | None = None, model: str = "model",
                     seed: int = 0) -> list[dict[str, Any]]:
    """Time ONNX Runtime sessions built from your own ``SessionOptions``, side by side.

    ``settings``: name → ``ort.SessionOptions`` (opening ``file``), or name → ``(file,
    SessionOptions)`` when the settings differ in the file too. Each session runs in its
    own worker process on a seeded float32 input ``[batch, 3, size, size]``, in rounds
    interleaved across the settings (see :func:`compare_settings`); ``model`` names the
    model in the records.
    """
    variants = {}
    for name, value in settings.items():
        path, options = value if isinstance(value, tuple) else (file, value)
        if path is None:
            raise BenchError(f"setting {name!r}: no model file (pass file= or a (file, "
                             "SessionOptions) pair)")
        try:
            variants[name] = session_variant(options, path)
        except BenchError as error:
            raise BenchError(f"setting {name!r}: {error}") from None
    base = {"engine": "ort", "model": model, "batch": int(batch), "size": int(size)}
    return compare_settings(base, variants, policy, seed=seed)


def settings_table(records: Sequence[dict[str, Any]], names: Sequence[str] | None = None):
    """The records of a comparison as a DataFrame, one row per setting, in the order run.

    Columns: median_ms, low_ms, high_ms (fastest and slowest round), runs, rounds, threads,
    session_ms (creating the session, fastest of the rounds), peak_mb and added_mb (the worker's peak memory, and
    its growth since before the session existed), cpu_ms_per_run and cores_busy (CPU time of
    all the worker's threads per run, and that CPU time over the wall time), status. Settings named by tuples give a
    MultiIndex with level ``names``.
    """
    import pandas as pd

    rows = [{"setting": r["setting"], **{new: r.get(old, np.nan)
                                         for old, new in TABLE_COLUMNS.items()},
             "status": r.get("status", "error")} for r in records]
    frame = pd.DataFrame(rows)
    settings = list(frame.pop("setting"))
    if settings and all(isinstance(s, tuple) for s in settings):
        frame.index = pd.MultiIndex.from_tuples(settings, names=names)
    else:
        frame.index = pd.Index(settings, name=(names or ["setting"])[0])
    return frame


def beyond_spread(table, a: Hashable, b: Hashable) -> bool:
    """True when settings ``a`` and ``b`` are apart beyond the round-to-round spread.

    Apart: the slower one's fastest round is still slower than the faster one's slowest round.
    """
    first, second = table.loc[a], table.loc[b]
    return bool(first["high_ms"] < second["low_ms"] or second["high_ms"] < first["low_ms"])


def which_matter(tables: Mapping[str, Any]):
    """Per group of settings (name → :func:`settings_table`): which value was fastest, the
    slowest / fastest latency ratio, whether those two are apart beyond the spread, and the
    ratio of session-creation times. Sorted by the latency ratio, largest first."""
    import pandas as pd

    rows = []
    for group, table in tables.items():
        fast, slow = table["median_ms"].idxmin(), table["median_ms"].idxmax()
        rows.append({"setting": group, "best value": fast,
                     "latency ratio (×)": table.loc[slow, "median_ms"] / table.loc[fast, "median_ms"],
                     "apart beyond spread": beyond_spread(table, slow, fast),
                     "session ratio (×)": table["session_ms"].max() / table["session_ms"].min()})
    frame = pd.DataFrame(rows).set_index("setting")
    return frame.sort_values("latency ratio (×)", ascending=False)
