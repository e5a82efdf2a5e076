"""The machine's ceiling: the best measured matrix multiply, the peak computed from the CPU, and
how much of it each engine reached.

:func:`machine_ceiling` measures torch.mm and ORT's MatMul (what the grid records with the
machine); :func:`ceiling_from` weighs them against the peak that
:func:`helpers.sysinfo.theoretical_peak_gflops` computes; :func:`ceiling_shares` gives each
measured cell's share of that ceiling.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from helpers.bench.timing import RunPolicy
from helpers.bench.worker import measure

TIGHT = 0.02  # a measured multiply within 2 % of the computed peak: timing noise, not turbo


def machine_ceiling(threads: int, n: int = 1024, quick: bool = False) -> dict[str, Any]:
    """The best measured float32 matrix multiply: torch.mm and ORT's MatMul, fresh processes."""
    policy = RunPolicy(warmup=2, warmup_s=0.3, repeats=10 if quick else 20, min_runs=3,
                       max_seconds=0.5 if quick else 2.0, rounds=2 if quick else 3)
    result = {}
    for engine in ("matmul", "ort-matmul"):
        record = measure({"engine": engine, "size": n, "threads": threads,
                          "policy": asdict(policy)})
        if record.get("status") == "ok":
            result[f"{engine}_gflops_best"] = round(record["gflops_best"], 1)
            result[f"{engine}_gflops_median"] = round(record["gflops_median"], 1)
    return result


@dataclass(frozen=True)
class Ceiling:
    """The ceiling a notebook compares engines with, and how it was chosen.

    ``verdict``: ``"turbo"`` (a measured multiply beat the computed peak by more than 2 %:
    the cores ran faster than the reported clock, ``implied_ghz``), ``"tight"`` (a measured
    multiply within 2 % of the peak), ``"computed"`` (every measurement below the peak), or
    ``"measured"`` (no clock known: the best measurement is the ceiling).
    """

    gflops: float
    computed_gflops: float | None
    ghz: float | None
    measured: dict[str, float]
    verdict: str
    implied_ghz: float | None = None

    def sentence(self) -> str:
        """What the verdict means, in one sentence with the numbers."""
        best = max(self.measured.values(), default=0.0)
        if self.verdict == "turbo":
            return (f"the best measured multiply ({best:.0f} GFLOP/s) beats the computed peak "
                    f"({self.computed_gflops:.0f}), so the cores ran at ≥ {self.implied_ghz:.2f} "
                    f"GHz, faster than the {self.ghz:.2f} GHz the system reports (turbo); the "
                    "ceiling is the peak at that clock")
        if self.verdict == "tight":
            return (f"the best measured multiply reaches {100 * best / self.computed_gflops:.1f} % "
                    "of the computed peak: within 2 % (timing noise) the assumptions hold and the "
                    f"ceiling is tight; the ceiling is the larger figure, {self.gflops:.0f} GFLOP/s")
        if self.verdict == "measured":
            return (f"no clock is known, so the ceiling is the best measured multiply, "
                    f"{self.gflops:.0f} GFLOP/s")
        return (f"every measured multiply stays below the computed peak; the ceiling is "
                f"{self.gflops:.0f} GFLOP/s")


def ceiling_from(peak: Mapping[str, Any], machine: Mapping[str, Any]) -> Ceiling:
    """Weigh the computed ``peak`` (from theoretical_peak_gflops) against the measured multiplies.

    ``machine`` holds ``<kernel>_gflops_best`` entries (a grid's ``result.machine``). A
    measurement above the peak means the stated clock is too low; the ceiling is never below
    the best measurement.
    """
    measured = {key.removesuffix("_gflops_best"): float(value) for key, value in machine.items()
                if key.endswith("_gflops_best")}
    best = max(measured.values(), default=0.0)
    computed = peak.get("peak_gflops")
    ghz = peak.get("ghz")
    if not computed:
        if not best:
            raise ValueError("no ceiling: neither a CPU clock nor a measured multiply is known")
        return Ceiling(best, None, ghz, measured, "measured")
    if best > (1 + TIGHT) * computed:
        return Ceiling(best, computed, ghz, measured, "turbo", ghz * best / computed)
    verdict = "tight" if best >= (1 - TIGHT) * computed else "computed"
    return Ceiling(max(computed, best), computed, ghz, measured, verdict)


def ceiling_shares(frame, gflops: float, engines: Sequence[str] = ("torch", "ort")):
    """Measured cells of ``engines`` with ``percent``: their GFLOP/s as a share of ``gflops``."""
    ok = frame[(frame["status"] == "ok") & frame["engine"].isin(list(engines))]
    ok = ok[ok["gflops_per_s"].notna()]
    return ok.assign(percent=100 * ok["gflops_per_s"] / gflops)
