"""Timing and statistics: run policy, timed runs, round medians, a probe kernel, CPU use by others.

A cell is measured in several *rounds*; each round is a short burst of timed runs whose
median is the round's figure. The cell's figure is the median of its round medians, and the
spread is the lowest and highest round median: a slow stretch of a shared machine moves one
round, not the cell's figure.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from helpers.bench.common import BenchError

BUSY_SHARE = 0.25   # other programs used more than this share of all CPUs: the round was busy
BUSY_PROBE = 1.30   # the probe kernel ran this much slower than at the start: busy


@dataclass(frozen=True)
class RunPolicy:
    """How a cell is timed: ``rounds`` bursts, each of warm-up then timed runs.

    Warm-up: up to ``warmup`` untimed runs, stopping once ``warmup_s`` have passed and at
    least ``warmup_min`` untimed runs (the cold first run included) are done. Timed: stop at
    ``repeats`` runs, or as soon as ``max_seconds`` have passed and at least ``min_runs`` are
    done. The counts actually done are recorded.

    Why ``warmup_min`` = 2 for the grids: with fixed shapes, ORT plans its memory on the
    first run and allocates the planned block on the second, so the second run of a big input
    is slower too (on the course's 2-core machine, mobilenet_v3_small, batch 16, 1024 px:
    about 430 ms against 300 from the third run on, and up to 1,500 ms inside a grid); a
    round that timed it measured page faults, not the model.
    """

    warmup: int = 3
    warmup_s: float = 1.0
    warmup_min: int = 1
    repeats: int = 50
    min_runs: int = 5
    max_seconds: float = 10.0
    rounds: int = 1

    def __post_init__(self) -> None:
        if self.warmup < 0:
            raise BenchError(f"warmup must be 0 or more, got {self.warmup}")
        if not 0 <= self.warmup_min <= max(self.warmup, 1):
            raise BenchError(f"warmup_min must be between 0 and warmup ({self.warmup}), got "
                             f"{self.warmup_min}")
        if self.repeats < 1 or self.min_runs < 1 or self.rounds < 1:
            raise BenchError(f"repeats, min_runs and rounds must be at least 1, got "
                             f"{self.repeats}, {self.min_runs} and {self.rounds}")
        if self.min_runs > self.repeats:
            raise BenchError(f"min_runs ({self.min_runs}) cannot exceed repeats ({self.repeats})")
        if not (self.warmup_s >= 0 and self.max_seconds >= 0):
            raise BenchError("warmup_s and max_seconds must be 0 or more")


# Per round: a short burst; three rounds interleaved with every other cell of the grid. A
# slow cell (resnet18, batch 16, 1024 px: seconds per run) gets two untimed runs (the cold
# one and one more, see RunPolicy) and one timed run per round, so its figure is the median
# of three runs in three rounds; fast cells get up to ten runs per round. This keeps the
# full grid near a quarter of an hour on two cores.
FULL_POLICY = RunPolicy(warmup=2, warmup_s=0.2, warmup_min=2, repeats=10, min_runs=1,
                        max_seconds=0.4, rounds=3)
QUICK_POLICY = RunPolicy(warmup=2, warmup_s=0.1, warmup_min=2, repeats=6, min_runs=2,
                         max_seconds=0.12, rounds=2)  # two rounds: still interleaved


def time_runs(fn: Callable[[], object], policy: RunPolicy, *,
              sync: Callable[[], object] | None = None,
              clock: Callable[[], float] = time.perf_counter,
              done_runs: int = 0, done_s: float = 0.0) -> tuple[list[float], int]:
    """Run ``fn`` as ``policy`` says (one round); return (seconds of each timed run, warm-ups).

    ``sync`` is called after each run inside the timed region (``torch.cuda.synchronize``
    for a GPU). ``done_runs`` and ``done_s`` count untimed runs already made (the cold first
    run) towards the warm-up.
    """
    sync = sync or (lambda: None)
    warm = done_runs
    start = clock() - done_s
    least = min(max(policy.warmup_min, 1), policy.warmup)  # 0 when warmup is 0
    while warm < policy.warmup and (warm < least or clock() - start < policy.warmup_s):
        fn()
        sync()
        warm += 1
    times: list[float] = []
    begin = clock()
    while len(times) < policy.repeats:
        t0 = clock()
        fn()
        sync()
        times.append(clock() - t0)
        if len(times) >= policy.min_runs and clock() - begin >= policy.max_seconds:
            break
    return times, warm - done_runs


def summarize_times(seconds: Sequence[float]) -> dict[str, float | int]:
    """Median, p10, p90, mean, min, max and std in milliseconds, plus the number of runs."""
    values = np.asarray(list(seconds), dtype=np.float64)
    if values.size == 0:
        raise BenchError("no timings to summarize (0 runs)")
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise BenchError("timings must be finite and non-negative seconds")
    ms = values * 1000.0
    p10, median, p90 = np.percentile(ms, [10, 50, 90])
    return {"median_ms": float(median), "p10_ms": float(p10), "p90_ms": float(p90),
            "mean_ms": float(ms.mean()), "min_ms": float(ms.min()), "max_ms": float(ms.max()),
            "std_ms": float(ms.std(ddof=1)) if ms.size > 1 else 0.0, "runs": int(ms.size)}


def combine_rounds(rounds: Sequence[dict[str, Any]]) -> dict[str, float | int]:
    """A cell's figures from its rounds (each with ``times_ms``).

    ``median_ms``: median of the round medians; ``low_ms``/``high_ms``: lowest and highest
    round median (the round-to-round spread); ``spread_pct``: (high - low) / median in %;
    ``p10_ms``/``p90_ms``/``min_ms``: over every timed run of every round.
    """
    if not rounds:
        raise BenchError("no rounds to combine")
    medians = np.array([float(np.median(r["times_ms"])) for r in rounds])
    pooled = summarize_times([t / 1000 for r in rounds for t in r["times_ms"]])
    median = float(np.median(medians))
    return {**pooled, "median_ms": median, "low_ms": float(medians.min()),
            "high_ms": float(medians.max()),
            "spread_pct": float(100 * (medians.max() - medians.min()) / median),
            "rounds": len(rounds)}


def probe_kernel_ms(repeats: int = 3, n: int = 300_000) -> float:
    """A fixed single-thread kernel (sorting ``n`` floats), best of ``repeats``, in ms.

    Timed between rounds: on a quiet machine it takes the same time every time, so a slower
    probe means another program took the CPU.
    """
    data = np.random.default_rng(0).random(n)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.sort(data)
        best = min(best, time.perf_counter() - t0)
    return best * 1000


class CpuWatch:
    """How much CPU other programs used since :meth:`reset` (share of all CPUs, 0–1).

    System-wide busy time (including time the hypervisor stole for other machines) minus the
    CPU time of this process and its children, over wall time × CPUs.
    """

    def __init__(self) -> None:
        import psutil

        self._psutil = psutil
        self._me = psutil.Process()
        self.cpus = psutil.cpu_count() or 1
        self.reset()

    def _busy(self) -> float:
        t = self._psutil.cpu_times()
        return sum(t) - t.idle - getattr(t, "iowait", 0.0)

    def _ours(self) -> float:
        total = sum(self._me.cpu_times()[:4])  # user, system, children_user, children_system
        for child in self._me.children(recursive=True):
            with contextlib.suppress(self._psutil.Error):
                total += sum(child.cpu_times()[:2])
        return total

    def reset(self) -> None:
        self._t0, self._busy0, self._ours0 = time.perf_counter(), self._busy(), self._ours()

    def others_share(self) -> float:
        """Share of all CPUs used by other programs since the last reset (0 when unknown)."""
        wall = time.perf_counter() - self._t0
        if wall <= 0:
            return 0.0
        others = (self._busy() - self._busy0) - (self._ours() - self._ours0)
        return float(min(max(others / (wall * self.cpus), 0.0), 1.0))


def round_is_busy(others_share: float, probe_ratio: float) -> bool:
    """A round counts as busy when others used > 25 % of the CPUs or the probe ran > 1.3× slower."""
    return others_share > BUSY_SHARE or probe_ratio > BUSY_PROBE


class RoundWatch:
    """Watches one round: the probe kernel before it, CPU used by others and load after it.

    ``probe0`` is the probe's time on the quiet machine at the start (see
    :func:`probe_kernel_ms`); :meth:`close` says whether the round counts as busy.
    """

    def __init__(self, watch: CpuWatch, probe0: float) -> None:
        self.watch, self.probe0 = watch, probe0
        self.probe_ratio = probe_kernel_ms() / probe0
        watch.reset()

    def close(self) -> dict[str, Any]:
        others = self.watch.others_share()
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        return {"others_cpu_share": round(others, 3), "probe_ratio": round(self.probe_ratio, 3),
                "load_1min": load, "busy": round_is_busy(others, self.probe_ratio)}
