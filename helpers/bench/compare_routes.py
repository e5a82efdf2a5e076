"""Your own model files under different engines, side by side, in interleaved rounds.

:func:`compare_routes` is what :func:`helpers.bench.compare_engines` does for the benchmark's
models, for files you made yourself (an ``.onnx``, an ``.ort``, a ``.pte``): one worker per
route, every round visits the routes in a fresh random order, the machine is watched for
other programs, and a route's figure is the median of its round medians.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from helpers.bench.common import BenchError
from helpers.bench.compare import interleaved_rounds
from helpers.bench.registry import get_engine, resolve
from helpers.bench.timing import (
    FULL_POLICY,
    RunPolicy,
    combine_rounds,
)
from helpers.sysinfo import cpu_model, physical_cores

ROUTE_COLUMNS = ("route", "engine", "threads", "median_ms", "low_ms", "high_ms", "spread_pct",
                 "rounds", "busy_rounds", "load_ms", "status", "note")


def compare_routes(routes: Mapping[str, tuple[str, Mapping[str, str | Path]]], *, batch: int = 1,
                   size: int = 224, threads: Sequence[int] = (1,), policy: RunPolicy = FULL_POLICY,
                   model: str = "custom", seed: int = 0, timeout: float = 900,
                   progress: bool = True) -> pd.DataFrame:
    """Time each route (name → ``(engine, files)``) on a seeded float32 input ``[batch, 3,
    size, size]`` for each thread count, in ``policy.rounds`` interleaved rounds.

    ``files`` is what the engine's load function reads (``{"onnx": path}`` for the ORT
    engines, ``{"pte": path}`` for ExecuTorch). One row per (route, threads), columns
    :data:`ROUTE_COLUMNS` (``load_ms``: the fastest load of the rounds, since a worker's
    first load also imports the engine's library); a route whose engine cannot run here gets
    ``status="skipped"``.
    ``frame.attrs`` holds the conditions for a figure's title (cpu, cores, rounds, batch, size)
    and ``busy_rounds`` / ``rounds_total``: rounds during which other programs took the CPU.
    """
    from helpers import progress_bar

    plan = {name: (resolve(engine), {k: str(v) for k, v in files.items()})
            for name, (engine, files) in routes.items()}
    missing = [name for name, (_, files) in plan.items()
               if not all(Path(p).is_file() for p in files.values())]
    if missing:
        raise BenchError(f"no file for {', '.join(missing)}")
    rows, busy = [], 0
    bar = progress_bar(total=len(plan) * len(threads) * policy.rounds, desc=f"{model} routes",
                       unit="round", disable=not progress)
    for count in threads:
        runnable = {}
        for name, (engine, files) in plan.items():
            reason = get_engine(engine).why_unavailable()
            if reason:
                rows.append({"route": name, "engine": engine, "threads": count,
                             "status": "skipped", "note": reason})
            else:
                runnable[name] = (engine, files)
        log = _interleave(runnable, count, batch, size, policy, model, seed, timeout, bar)
        rows += [_row(name, runnable[name][0], count, *log[name]) for name in runnable]
        busy += max((log[name][1] for name in runnable), default=0)
    bar.close()
    frame = pd.DataFrame(rows).reindex(columns=list(ROUTE_COLUMNS))
    frame.attrs.update(cpu=cpu_model(), cores=physical_cores(), rounds=policy.rounds,
                       batch=batch, size=size, busy_rounds=busy,
                       rounds_total=policy.rounds * len(threads))
    return frame


def _interleave(routes, threads, batch, size, policy, model, seed, timeout, bar):
    """Round records per route (and busy rounds), one worker per route kept across rounds."""
    specs = {name: ({"engine": engine, "model": model, "batch": batch, "size": size,
                     "files": files, "policy": asdict(policy)}, threads)
             for name, (engine, files) in routes.items()}
    log, busy = interleaved_rounds(specs, policy.rounds, seed, timeout, bar)
    return {name: (records, busy) for name, records in log.items()}


def _row(name: str, engine: str, threads: int, records: list[dict], busy: int) -> dict:
    ok = [r for r in records if r.get("status") == "ok"]
    if not ok:
        last = records[-1] if records else {}
        return {"route": name, "engine": engine, "threads": threads, "status": "error",
                "note": last.get("note", "no round ran")}
    figures = combine_rounds([r["round_data"][0] for r in ok])
    return {"route": name, "engine": engine, "threads": threads, **figures,
            "busy_rounds": busy, "load_ms": float(min(r["load_ms"] for r in ok)),
            "status": "ok", "note": ""}
