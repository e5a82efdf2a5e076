"""Tables and figures of the serving notebooks: HTTP cost, load curves, service variants (15)
and the browser against native ORT (16). Each returns a DataFrame or a figure."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from helpers.show.colors import engine_color

VARIANT_COLORS = {"1 worker, 1 thread": "ort", "1 worker, 2 threads": "ort-sim",
                  "2 workers, 1 thread each": "ort-dynamic", "1 worker, 1 thread, INT8": "ort-int8"}
LOG_TICKS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
PAGE_COLORS = {"browser WASM, 1 thread": "ort-web", "native ORT, 1 thread": "ort",
               "native ORT, 2 threads": "ort-dynamic"}


def percentile_table(times: pd.DataFrame, percentiles: Sequence[int] = (10, 50, 90)) -> pd.DataFrame:
    """One row per column of ``times`` (ms), its percentiles as columns ``"10%"``, ``"50%"``..."""
    return pd.DataFrame({f"{p}%": times.quantile(p / 100) for p in percentiles})


def plot_load_curve(load: pd.DataFrame, *, threads: int, workers: int = 1):
    """Throughput and latency against concurrency (``load_curve``'s table with ``little_ms``)."""
    color = engine_color("ort")
    levels = list(load.index)
    saturated = load["throughput_rps"].max()
    fig, (ax_t, ax_l) = plt.subplots(1, 2, figsize=(11, 4))
    ax_t.plot(levels, load["throughput_rps"], "o-", color=color, label="measured")
    ax_t.set(xscale="log", xticks=levels, xticklabels=levels, ylim=(0, saturated * 1.2),
             xlabel="concurrency (requests in flight)", ylabel="throughput (requests/s)",
             title="Throughput")
    ax_l.fill_between(levels, load["p50_ms"], load["p99_ms"], color=color, alpha=0.2,
                      label="p50–p99")
    ax_l.plot(levels, load["p50_ms"], "o-", color=color, label="p50 measured")
    ax_l.plot(levels, load["p95_ms"], "s:", color=color, label="p95 measured")
    ax_l.plot(levels, load["little_ms"], "k--", label="Little's law L / λ")
    ax_l.plot(levels, np.asarray(levels) / saturated * 1e3, color="grey", lw=1,
              label=f"L / λmax (λmax = {saturated:.0f}/s)")
    low, high = load[["p50_ms", "little_ms"]].min().min(), load["p99_ms"].max()
    ticks = [t for t in LOG_TICKS if low / 1.5 <= t <= high * 1.5]
    ax_l.set(xscale="log", yscale="log", xticks=levels, xticklabels=levels, yticks=ticks,
             yticklabels=[f"{t:g}" for t in ticks], xlabel="concurrency (requests in flight)",
             ylabel="latency (ms, log scale)", title="Latency")
    ax_l.legend(fontsize=8)
    for ax in (ax_t, ax_l):
        ax.minorticks_off()
    from helpers.serve.load import load_generator

    fig.suptitle(f"Course model over HTTP: {workers} uvicorn worker, {threads} ORT thread, "
                 f"batch 1; {load_generator()} shares the same {os.cpu_count()} logical cores",
                 fontsize=10)
    fig.tight_layout()
    return fig


def compare_variants(runs: pd.DataFrame) -> pd.DataFrame:
    """Median, min and max requests/s, median p50/p99 and all errors per (variant, concurrency),
    from ``interleaved_loads``' rows; variants keep their order."""
    order = list(dict.fromkeys(runs["variant"]))
    grouped = runs.groupby(["variant", "concurrency"])
    table = pd.DataFrame({"req/s median": grouped["throughput_rps"].median(),
                          "req/s min": grouped["throughput_rps"].min(),
                          "req/s max": grouped["throughput_rps"].max(),
                          "p50 ms": grouped["p50_ms"].median(),
                          "p99 ms": grouped["p99_ms"].median(),
                          "errors": grouped["errors"].sum()})
    return table.reindex(order, level="variant")


def variant_speedups(compared: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Median requests/s of each variant over ``baseline``'s: variants × concurrency."""
    order = list(dict.fromkeys(compared.index.get_level_values("variant")))
    medians = compared["req/s median"].unstack().reindex(order)
    return medians / medians.loc[baseline]


def plot_variant_speedups(compared: pd.DataFrame, baseline: str, *, rounds: int):
    """Bars of throughput over ``baseline`` per variant and concurrency, min–max as error bars."""
    speedup = variant_speedups(compared, baseline)
    low = (compared["req/s min"] / compared["req/s median"]).unstack()
    high = (compared["req/s max"] / compared["req/s median"]).unstack()
    levels = list(speedup.columns)
    width = 0.8 / len(speedup)
    fig, ax = plt.subplots(figsize=(8, 3.6))
    for i, name in enumerate(speedup.index):
        values = speedup.loc[name]
        ax.bar(np.arange(len(levels)) + (i - (len(speedup) - 1) / 2) * width, values, width,
               color=engine_color(VARIANT_COLORS.get(name, name)), label=name, capsize=3,
               yerr=[values * (1 - low.loc[name]), values * (high.loc[name] - 1)])
    ax.axhline(1, color="black", lw=0.8)
    ticks = [0.25, 0.5, 1, 2, 4, 8]
    ax.set(yscale="log", yticks=ticks, yticklabels=[f"{t:g}×" for t in ticks],
           xticks=range(len(levels)), xticklabels=[f"concurrency {c}" for c in levels],
           ylabel=f"throughput / ({baseline})",
           title="What threads, workers and INT8 change over HTTP\ncourse model, batch 1, "
                 f"{os.cpu_count()} logical cores shared with the load generator\n"
                 f"median (bars: min–max) of {rounds} interleaved rounds")
    ax.minorticks_off()
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def variant_verdicts(compared: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """*faster* / *slower* only when every round of a variant lies beyond every round of
    ``baseline`` at the same concurrency, else *same within the spread*."""
    verdicts = {}
    for (name, level), row in compared.iterrows():
        if name == baseline:
            continue
        reference = compared.loc[(baseline, level)]
        if row["req/s min"] > reference["req/s max"]:
            verdicts[(name, level)] = "faster"
        elif row["req/s max"] < reference["req/s min"]:
            verdicts[(name, level)] = "slower"
        else:
            verdicts[(name, level)] = "same within the spread"
    order = [n for n in dict.fromkeys(compared.index.get_level_values("variant")) if n != baseline]
    table = pd.Series(verdicts).unstack().reindex(order)
    table.columns = [f"concurrency {c}" for c in table.columns]
    return table


def latency_table(times: dict[str, Sequence[float]], baseline: str) -> pd.DataFrame:
    """p10, median and p90 (ms) per way of running, and the median over ``baseline``'s."""
    table = pd.DataFrame({name: np.percentile(v, [10, 50, 90]) for name, v in times.items()},
                         index=["p10 ms", "median ms", "p90 ms"]).T
    table[f"× {baseline}"] = table["median ms"] / table.loc[baseline, "median ms"]
    return table


def plot_page_latency(times: dict[str, Sequence[float]], *, rounds: int, runs: int,
                      runtime: str = "onnxruntime-web 1.30 WASM"):
    """Box plots (log ms) of one ``session.run`` in the page and in native ORT."""
    fig, ax = plt.subplots(figsize=(8, 3))
    for i, (name, values) in enumerate(times.items()):
        color = engine_color(PAGE_COLORS.get(name, name))
        ax.boxplot(values, positions=[i], orientation="horizontal", widths=0.5,
                   patch_artist=True, whis=(10, 90), showfliers=False,
                   boxprops={"facecolor": color}, medianprops={"color": "black"})
    values = np.concatenate([np.asarray(v, dtype=float) for v in times.values()])
    ticks = [t for t in LOG_TICKS if values.min() / 2 <= t <= values.max() * 2]
    ax.set(xscale="log", xticks=ticks, xticklabels=[str(t) for t in ticks],
           yticks=range(len(times)), yticklabels=list(times),
           xlabel="one session.run (ms, log scale)",
           title=f"Course model (batch 1, 64×64): {runtime} in headless Chromium vs native ORT\n"
                 f"box: p25–p75, whiskers p10–p90, {rounds} alternating rounds × {runs} runs, "
                 f"{os.cpu_count()} logical cores, shared")
    ax.minorticks_off()
    fig.tight_layout()
    return fig


def show_screenshot(png: bytes, title: str, margin: int = 16):
    """A browser screenshot without the empty bottom of the window, titled."""
    from PIL import Image

    shot = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    used_rows = np.flatnonzero((shot < 250).any(axis=(1, 2)))
    if len(used_rows):
        shot = shot[: used_rows.max() + margin]
    fig, ax = plt.subplots(figsize=(10, 10 * shot.shape[0] / shot.shape[1]))
    ax.imshow(shot)
    ax.axis("off")
    ax.set_title(title)
    return fig
