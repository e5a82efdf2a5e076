"""Figures and tables of notebook 17 (Ray Serve, Ray Data): load curves per engine, the batching
trade-off, a timeline of replicas, throughput and p99, and Ray Data against a plain loop."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter

from helpers.show.colors import engine_color

LOG_TICKS = (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)


def summarize_rounds(runs: pd.DataFrame) -> pd.DataFrame:
    """Median, min and max over rounds of throughput, p50 and p99 per variant and concurrency
    (``interleaved_loads``'s rows); errors summed."""
    grouped = runs.groupby(["variant", "concurrency"], sort=False)
    table = grouped[["throughput_rps", "p50_ms", "p99_ms"]].median()
    for column in ("throughput_rps", "p99_ms"):
        table[f"{column}_min"] = grouped[column].min()
        table[f"{column}_max"] = grouped[column].max()
    table["errors"] = grouped["errors"].sum()
    return table


def plot_engines_under_load(table: pd.DataFrame, colors: dict[str, str], *, conditions: str):
    """Throughput, p50 and p99 against concurrency, one line per variant (``summarize_rounds``);
    ``colors``: variant -> the course's engine name for its colour; min–max over rounds as bands."""
    fig, (ax_t, ax_l) = plt.subplots(1, 2, figsize=(12, 4.3))
    levels = sorted(table.index.get_level_values("concurrency").unique())
    lows, highs = [], []
    for variant in table.index.get_level_values("variant").unique():
        rows = table.loc[variant].sort_index()
        color = engine_color(colors.get(variant, variant))
        x = rows.index.to_numpy()
        ax_t.plot(x, rows["throughput_rps"], "o-", color=color, label=variant)
        ax_t.fill_between(x, rows["throughput_rps_min"], rows["throughput_rps_max"], color=color,
                          alpha=0.15)
        ax_l.plot(x, rows["p99_ms"], "o-", color=color, label=f"{variant}: p99")
        ax_l.fill_between(x, rows["p99_ms_min"], rows["p99_ms_max"], color=color, alpha=0.15)
        ax_l.plot(x, rows["p50_ms"], "s:", color=color, label=f"{variant}: p50")
        lows.append(rows["p50_ms"].min())
        highs.append(rows["p99_ms_max"].max())
    ax_t.set(xscale="log", xticks=levels, xticklabels=levels, ylim=(0, None),
             xlabel="concurrency (requests in flight)", ylabel="throughput (requests/s)",
             title="Throughput (band: min–max over rounds)")
    ticks = [t for t in LOG_TICKS if min(lows) / 1.5 <= t <= max(highs) * 1.5]
    ax_l.set(xscale="log", yscale="log", xticks=levels, xticklabels=levels, yticks=ticks,
             yticklabels=[f"{t:g}" for t in ticks], xlabel="concurrency (requests in flight)",
             ylabel="latency (ms, log scale)", title="Latency: p99 (solid), p50 (dotted)")
    ax_t.legend(fontsize=8)
    ax_l.legend(fontsize=7, ncol=2)
    for ax in (ax_t, ax_l):
        ax.minorticks_off()
        ax.grid(alpha=0.3)
    fig.suptitle(conditions, fontsize=10)
    fig.tight_layout()
    return fig


def plot_timeline(timeline: pd.DataFrame, samples: pd.DataFrame, *, conditions: str,
                  concurrency: pd.DataFrame | None = None, events: dict[str, float] | None = None,
                  engine: str = "serve"):
    """Three panels over time: replicas (and the offered concurrency), answered requests per
    second (failed ones as red bars), p99 (ms); ``events``: label -> time (s) as vertical lines."""
    fig, (ax_r, ax_t, ax_p) = plt.subplots(3, 1, figsize=(10, 7), sharex=True)
    color = engine_color(engine)
    ax_r.step(samples["t_s"], samples["replicas"], where="post", color=color, label="replicas running")
    if concurrency is not None:
        ax_c = ax_r.twinx()
        ax_c.step(concurrency["t_s"], concurrency["concurrency"], where="post", color="grey",
                  ls="--", label="requests in flight (offered)")
        ax_c.set_ylabel("requests in flight")
        ax_c.set_ylim(0, concurrency["concurrency"].max() * 1.2)
        ax_c.legend(loc="upper right", fontsize=8)
    ax_r.set(ylabel="replicas", ylim=(0, samples["replicas"].max() + 1),
             yticks=range(0, int(samples["replicas"].max()) + 2))
    ax_r.legend(loc="upper left", fontsize=8)
    ax_t.plot(timeline["t_s"], timeline["throughput_rps"], "o-", ms=3, color=color,
              label="answered (200)")
    if timeline["failed"].any():
        ax_t.bar(timeline["t_s"], timeline["failed"], width=0.8 * np.diff(timeline["t_s"]).min(initial=1),
                 color="red", alpha=0.6, label="failed requests (count)")
    ax_t.set(ylabel="requests/s", ylim=(0, None))
    ax_t.legend(loc="upper left", fontsize=8)
    ax_p.plot(timeline["t_s"], timeline["p99_ms"], "o-", ms=3, color=color)
    ax_p.set(ylabel="p99 latency (ms, log)", yscale="log", xlabel="time since the load began (s)")
    ax_p.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax_p.minorticks_off()
    for label, at in (events or {}).items():
        for ax in (ax_r, ax_t, ax_p):
            ax.axvline(at, color="black", lw=0.8, ls=":")
        ax_r.annotate(label, (at, ax_r.get_ylim()[1] * 0.9), fontsize=8, ha="left",
                      xytext=(3, 0), textcoords="offset points")
    for ax in (ax_r, ax_t, ax_p):
        ax.grid(alpha=0.3)
    fig.suptitle(conditions, fontsize=10)
    fig.tight_layout()
    return fig


def stage_concurrency(stages: list[tuple[int, float]]) -> pd.DataFrame:
    """The offered concurrency as a step function of time, from ``(concurrency, seconds)`` stages."""
    times = np.cumsum([0.0] + [s for _, s in stages])
    values = [c for c, _ in stages] + [stages[-1][0]]
    return pd.DataFrame({"t_s": times, "concurrency": values})


def plot_batch_tradeoff(table: pd.DataFrame, *, conditions: str):
    """p99 against throughput, one point per (max_batch_size, batch_wait_timeout_s) setting
    (``table`` has columns max_batch_size, wait_ms, throughput_rps, p99_ms, mean_batch)."""
    fig, ax = plt.subplots(figsize=(7, 4.3))
    color = engine_color("serve-batched")
    ax.plot(table["throughput_rps"], table["p99_ms"], "o", color=color, ms=8)
    for i, (_, row) in enumerate(table.iterrows()):  # labels alternate above and below
        ax.annotate(f"batch ≤ {row['max_batch_size']:.0f}, wait {row['wait_ms']:g} ms\n"
                    f"(mean batch {row['mean_batch']:.1f})", (row["throughput_rps"], row["p99_ms"]),
                    xytext=(6, 4 if i % 2 == 0 else -26), textcoords="offset points", fontsize=8)
    ax.set(xlabel="throughput (requests/s)", ylabel="p99 latency (ms)",
           title="Batching settings: throughput against tail latency")
    ax.set_xlim(table["throughput_rps"].min() * 0.85, table["throughput_rps"].max() * 1.3)
    ax.set_ylim(0, table["p99_ms"].max() * 1.25)
    ax.grid(alpha=0.3)
    fig.suptitle(conditions, fontsize=9)
    fig.tight_layout()
    return fig


def plot_offline(rates: pd.DataFrame, *, conditions: str):
    """Images per second of each way to classify the data set (``rates``: way -> images_per_s,
    with a ``color`` column naming the engine), a horizontal bar each."""
    fig, ax = plt.subplots(figsize=(7, 2.6))
    colors = [engine_color(c) for c in rates["color"]]
    ax.barh(rates.index, rates["images_per_s"], color=colors)
    for y, value in enumerate(rates["images_per_s"]):
        ax.annotate(f"{value:,.0f}/s", (value, y), xytext=(4, 0), textcoords="offset points",
                    va="center", fontsize=9)
    ax.set(xlabel="images per second", xlim=(0, rates["images_per_s"].max() * 1.25),
           title="Offline classification of the whole set")
    fig.suptitle(conditions, fontsize=9)
    fig.tight_layout()
    return fig
