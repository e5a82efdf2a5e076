"""Engines, or variant files of one model, side by side through the benchmark: one call each,
one DataFrame with named columns (no job dictionaries in a notebook).

- :func:`compare_engines` times registered engines on the benchmark's models (one grid per
  thread count, rounds interleaved across engines) and adds each engine's speed-up over a
  baseline engine.
- :func:`time_files` times ONNX files you made yourself (the course model's INT8, FP16, ...)
  with one engine: one worker process per thread count, rounds interleaved across the files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from helpers.bench.common import BenchError
from helpers.bench.compare import rounds_in_workers
from helpers.bench.grid import GridSpec, run_grid
from helpers.bench.registry import engine_label
from helpers.bench.timing import (
    FULL_POLICY,
    RunPolicy,
    combine_rounds,
)
from helpers.paths import relative
from helpers.sysinfo import cpu_model, physical_cores

ENGINE_COLUMNS = ("model", "engine", "threads", "batch", "size", "weights", "median_ms",
                  "low_ms", "high_ms", "spread_pct", "speedup", "rounds", "quality", "status",
                  "note")


def compare_engines(engines: Sequence[str], models: Sequence[str] = ("resnet18",), *,
                    batch: int = 1, size: int = 224, threads: Sequence[int] = (1,),
                    policy: RunPolicy = FULL_POLICY, baseline: str = "ort",
                    progress: bool = True, report_dir: str | Path | None = None,
                    reuse: bool = False) -> pd.DataFrame:
    """Time ``engines`` on ``models`` at one batch and size, for each thread count.

    One row per (model, engine, threads), columns :data:`ENGINE_COLUMNS`: the median of the
    round medians (``median_ms``), the slowest and fastest round (``low_ms``/``high_ms``),
    their spread in % and ``speedup`` = the ``baseline`` engine's median / this row's median
    (same model and threads). Engines that cannot run here get ``status="skipped"``.
    ``frame.attrs`` holds the conditions for a figure's title: ``cpu``, ``cores``,
    ``rounds``, ``batch``, ``size``, ``baseline`` and ``baseline_label``.

    With ``report_dir``, each thread count's grid is written to ``report_dir/compare-<n>t/``;
    with ``reuse`` as well, a report made there on this machine with the same versions and
    settings is read instead of measuring again, and one line says so
    (``frame.attrs["reused_from"]``).
    """
    engines = list(engines)
    if baseline not in engines:
        raise BenchError(f"the baseline engine {baseline!r} must be among the engines, got "
                         f"{', '.join(engines)}")
    records: list[dict] = []
    reused = []
    for count in threads:
        spec = GridSpec(models=tuple(models), sizes=(size,), batches=(batch,),
                        engines=tuple(engines), policy=policy, threads=count,
                        name=f"compare-{count}t")
        folder = Path(report_dir) / spec.name if report_dir is not None else None
        result = run_grid(spec, folder, progress=progress, reuse=reuse)
        records += result.records
        if result.reused:
            reused.append(folder)
    frame = engines_frame(records, baseline)
    frame.attrs.update(cpu=cpu_model(), cores=physical_cores(), rounds=policy.rounds,
                       batch=batch, size=size, baseline=baseline,
                       baseline_label=engine_label(baseline),
                       reused_from=str(report_dir) if reused else None)
    if reused:
        print(f"reused the measurements in {', '.join(map(relative, reused))} (this machine, the "
              "same versions and settings); delete the folder to measure again")
    return frame


def engines_frame(records: Sequence[dict], baseline: str = "ort") -> pd.DataFrame:
    """Benchmark records as a DataFrame with :data:`ENGINE_COLUMNS`, where ``speedup`` is the
    ``baseline`` engine's ``median_ms`` / the row's (same model and threads; NaN where the
    baseline has no figure)."""
    frame = pd.DataFrame(list(records)).reindex(columns=list(ENGINE_COLUMNS))
    base = frame[frame.engine == baseline].groupby(["model", "threads"]).median_ms.first()
    keys = pd.MultiIndex.from_frame(frame[["model", "threads"]])
    frame["speedup"] = base.reindex(keys).to_numpy() / frame.median_ms.astype(float).to_numpy()
    return frame


def time_files(files: Mapping[str, str | Path], *, engine: str = "ort", batch: int = 1,
               size: int = 224, threads: Sequence[int] = (1,), policy: RunPolicy = FULL_POLICY,
               model: str = "custom", timeout: float = 300, progress: bool = True,
               seed: int = 0) -> pd.DataFrame:
    """Time each ONNX file of ``files`` (name → path) with ``engine`` on a seeded random input
    of ``batch x 3 x size x size``, for each thread count.

    For each thread count one worker process (apart from the notebook) times the files in
    ``policy.rounds`` rounds, each round visiting them in a fresh random order and loading
    each afresh, so a slow stretch of a shared machine touches every file alike. One row per
    name, in the order given; columns ``ms @<n>t`` (median of the round medians) and
    ``spread % @<n>t`` (slowest minus fastest round, in % of the median) for each thread
    count. A file that fails to load or run raises :class:`~helpers.bench.common.BenchError`
    with the reason.
    """
    from helpers import progress_bar

    missing = [name for name, path in files.items() if not Path(path).is_file()]
    if missing:
        raise BenchError(f"no ONNX file for {', '.join(missing)}")
    table = pd.DataFrame(index=pd.Index(list(files), name="variant"))
    specs = {name: {"engine": engine, "model": model, "batch": batch, "size": size,
                    "files": {"onnx": str(path)}, "policy": asdict(policy)}
             for name, path in files.items()}
    for count in threads:
        bar = progress_bar(total=len(files) * policy.rounds, desc=f"{model}, {count} thread(s)",
                           unit="round", disable=not progress)
        log, _ = rounds_in_workers(specs, dict.fromkeys(files, engine), count, policy.rounds,
                                   seed=seed, timeout=timeout, bar=bar)
        bar.close()
        figures = {}
        for name in files:
            failed = [r for r in log[name] if r.get("status") != "ok"]
            if failed:
                raise BenchError(f"could not time {name} ({count} thread(s)): "
                                 f"{failed[0].get('note') or failed[0].get('status')}")
            figures[name] = combine_rounds([r["round_data"][0] for r in log[name]])
        table[f"ms @{count}t"] = [figures[name]["median_ms"] for name in files]
        table[f"spread % @{count}t"] = [figures[name]["spread_pct"] for name in files]
    return table
