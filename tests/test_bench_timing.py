"""helpers.bench.timing: statistics, run policy, rounds, busy detection. No timing is asserted."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from helpers.bench import BenchError, RunPolicy, combine_rounds, summarize_times, time_runs
from helpers.bench.timing import round_is_busy


class FakeClock:
    """A clock that advances ``step`` seconds each time ``tick`` runs (the work being timed)."""

    def __init__(self, step: float) -> None:
        self.now, self.step, self.calls = 0.0, step, 0

    def __call__(self) -> float:
        return self.now

    def tick(self) -> None:
        self.calls += 1
        self.now += self.step


def test_summarize_times_known_values():
    stats = summarize_times([i / 1000 for i in range(1, 11)])  # 1..10 ms
    assert stats["runs"] == 10 and stats["median_ms"] == pytest.approx(5.5)
    assert stats["p10_ms"] == pytest.approx(1.9) and stats["p90_ms"] == pytest.approx(9.1)
    assert stats["std_ms"] == pytest.approx(np.std(np.arange(1, 11), ddof=1))
    assert summarize_times([0.003, 0.001, 0.002]) == summarize_times([0.001, 0.002, 0.003])


@pytest.mark.parametrize("bad", [[], [float("nan")], [-0.001, 0.002], [float("inf")]])
def test_summarize_times_rejects_bad_input(bad):
    with pytest.raises(BenchError):
        summarize_times(bad)


def test_combine_rounds_is_the_median_of_round_medians_not_of_all_runs():
    # one slow round of many runs must not drag the figure: pooled median would be 10
    rounds = [{"times_ms": [1.0, 1.1, 1.2]}, {"times_ms": [1.0, 1.2, 1.4]},
              {"times_ms": [10.0] * 20}]
    stats = combine_rounds(rounds)
    assert stats["median_ms"] == pytest.approx(1.2)
    assert stats["low_ms"] == pytest.approx(1.1) and stats["high_ms"] == pytest.approx(10.0)
    assert stats["spread_pct"] == pytest.approx(100 * 8.9 / 1.2)
    assert stats["rounds"] == 3 and stats["runs"] == 26
    with pytest.raises(BenchError):
        combine_rounds([])


def test_time_runs_stops_at_repeats_and_on_time_budget():
    clock = FakeClock(step=0.001)
    times, warm = time_runs(clock.tick, RunPolicy(warmup=2, warmup_s=10, repeats=7, min_runs=3,
                                                  max_seconds=100), clock=clock)
    assert warm == 2 and len(times) == 7 and clock.calls == 9
    clock = FakeClock(step=1.0)  # a slow model: 1 s per run
    policy = RunPolicy(warmup=5, warmup_s=0.5, repeats=50, min_runs=4, max_seconds=2.5)
    times, warm = time_runs(clock.tick, policy, clock=clock)
    assert warm == 1, "warm-up stops once warmup_s has passed, after at least one run"
    assert len(times) == 4, "the time budget never cuts below min_runs"
    clock = FakeClock(step=1.0)
    times, _ = time_runs(clock.tick, replace(policy, min_runs=1), clock=clock)
    assert len(times) == 3, "without a minimum, stop at the first run past max_seconds"


def test_cold_run_counts_towards_warmup():
    clock = FakeClock(step=0.1)
    policy = RunPolicy(warmup=3, warmup_s=1.0, repeats=4, min_runs=4)
    _, warm = time_runs(clock.tick, policy, clock=clock, done_runs=1, done_s=5.0)
    assert warm == 0 and clock.calls == 4, "a cold run longer than warmup_s is warm-up enough"
    clock = FakeClock(step=0.1)
    times, warm = time_runs(clock.tick, policy, clock=clock, done_runs=1, done_s=0.1)
    assert warm == 2 and len(times) == 4


def test_warmup_min_keeps_the_second_run_untimed():
    """A slow model's cold run passes warmup_s, yet warmup_min=2 still leaves run 2 untimed."""
    clock = FakeClock(step=1.0)
    policy = RunPolicy(warmup=2, warmup_s=0.2, warmup_min=2, repeats=3, min_runs=1,
                       max_seconds=0.4)
    times, warm = time_runs(clock.tick, policy, clock=clock, done_runs=1, done_s=1.0)
    assert warm == 1 and len(times) == 1 and clock.calls == 2
    times, warm = time_runs(clock.tick, replace(policy, warmup_min=1), clock=clock,
                            done_runs=1, done_s=1.0)
    assert warm == 0 and len(times) == 1, "with warmup_min=1 the cold run was warm-up enough"
    with pytest.raises(BenchError, match="warmup_min"):
        RunPolicy(warmup=2, warmup_min=3)


@pytest.mark.parametrize("kwargs", [{"warmup": -1}, {"repeats": 0}, {"min_runs": 0},
                                    {"rounds": 0}, {"repeats": 3, "min_runs": 5},
                                    {"max_seconds": -1}])
def test_run_policy_rejects_bad_values(kwargs):
    with pytest.raises(BenchError):
        RunPolicy(**kwargs)


def test_busy_rule():
    assert not round_is_busy(0.05, 1.05)
    assert round_is_busy(0.40, 1.0), "others using 40 % of the CPUs is a busy round"
    assert round_is_busy(0.0, 1.6), "a probe 1.6x slower than at the start is a busy round"
