"""Notebook 11's figures: accuracy against calibration size, SQNR per tensor, and the speed-up
of reduced-precision engines over ORT FP32. Each returns its figure, conditions in the title."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, NullFormatter

from helpers.show.colors import engine_color

HATCHES = ("//", "", "..", "xx")  # one per thread count, in the order measured
MARKED = "#C51B7D"


def plot_calibration_sizes(by_size, fp32_accuracy: float, conditions: str):
    """Test accuracy (left axis) and max |Δ logit| against FP32 (right axis) for each
    calibration-set size. ``by_size``: index = calibration images, columns ``test accuracy
    %`` and ``max |Δ logit|``; ``conditions``: model, recipe, test set (the title's 2nd line)."""
    sizes = list(by_size.index)
    fig, ax1 = plt.subplots(figsize=(6.4, 3.6))
    ax1.plot(sizes, by_size["test accuracy %"], "o-", color=engine_color("ort-int8"),
             label="INT8 test accuracy")
    ax1.axhline(fp32_accuracy, color=engine_color("ort"), ls="--", label="FP32 test accuracy")
    ax1.set_xscale("log")
    ax1.set_xticks(sizes, [str(n) for n in sizes])
    ax1.xaxis.set_minor_formatter(NullFormatter())
    ax1.set_ylim(min(by_size["test accuracy %"].min(), fp32_accuracy) - 2, 100.5)
    ax1.set_xlabel("validation images used for calibration (log scale)")
    ax1.set_ylabel("test accuracy (%)")
    ax2 = ax1.twinx()
    ax2.plot(sizes, by_size["max |Δ logit|"], "s:", color="#777777", label="max |Δ logit| vs FP32")
    ax2.set_ylabel("max |Δ logit| vs FP32")
    lines = ax1.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    ax1.legend(lines, [line.get_label() for line in lines], loc="lower right", fontsize=8)
    ax1.set_title(f"INT8 accuracy against calibration size\n{conditions}", fontsize=10)
    fig.tight_layout()
    return fig


def plot_sqnr(sqnr, marked, conditions: str):
    """SQNR (dB) of every tensor in graph order, ``marked`` rows (e.g. the convolutions that
    lose the most) ringed. ``sqnr`` as :func:`helpers.runtime.quant_debug.sqnr_table` gives."""
    fig, ax = plt.subplots(figsize=(9, 3.6))
    ax.plot(sqnr.index, sqnr["SQNR dB"], "o-", ms=3, color=engine_color("ort-int8"),
            label="INT8 tensor vs float tensor")
    ax.plot(marked.index, marked["SQNR dB"], "o", ms=8, mfc="none", mec=MARKED,
            label=f"{len(marked)} convolutions that lose the most")
    ax.set_xlabel("tensor, in graph order (input → logits)")
    ax.set_ylabel("SQNR (dB, higher is better)")
    ax.set_title(f"Signal-to-quantization-noise per tensor\n{conditions}", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _ratio_axis(ax) -> None:
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
    ax.yaxis.set_minor_formatter(FuncFormatter(
        lambda v, _: f"{v:g}×" if round(v, 1) in (0.2, 0.3, 0.5, 2, 3, 5) else ""))
    ax.axhline(1.0, color="black", lw=1, ls="--")


def plot_engine_speedups(speed, engines: Sequence[str] | None = None):
    """Speed-up of each engine over the baseline engine, one panel per model, one bar per
    engine and thread count, error bars from the slowest to the fastest round.

    ``speed`` as :func:`helpers.bench.compare_engines` returns it (its ``attrs`` give the
    conditions: CPU, cores, rounds, batch, size, baseline)."""
    conditions = speed.attrs
    engines = list(engines or dict.fromkeys(speed.engine))
    models = list(dict.fromkeys(speed.model))
    threads = sorted(speed.threads.unique())
    width = 0.8 / len(threads)
    fig, axes = plt.subplots(1, len(models), figsize=(6.2 * len(models), 4.2), squeeze=False)
    for ax, model in zip(axes[0], models, strict=True):
        part = speed[speed.model == model]
        for k, count in enumerate(threads):
            rows = part[part.threads == count].set_index("engine").reindex(engines)
            base = rows.median_ms / rows.speedup  # the baseline's median, on every row
            low = (rows.speedup - base / rows.high_ms).clip(lower=0)  # slowest round
            high = (base / rows.low_ms - rows.speedup).clip(lower=0)  # fastest round
            ax.bar(np.arange(len(engines)) + (k - (len(threads) - 1) / 2) * width, rows.speedup,
                   width, color=[engine_color(e) for e in engines], yerr=[low, high], capsize=2,
                   alpha=0.6 if HATCHES[k % len(HATCHES)] else 1.0, edgecolor="black",
                   linewidth=0.5, hatch=HATCHES[k % len(HATCHES)])
        _ratio_axis(ax)
        ax.set_xticks(np.arange(len(engines)), engines, rotation=35, ha="right", fontsize=8)
        ax.set_ylabel(f"speed-up vs {conditions.get('baseline', 'baseline')} (×, log scale)")
        weights = part.weights.dropna().iloc[0] if part.weights.notna().any() else "?"
        ax.set_title(f"{model}, batch {conditions.get('batch')}, {conditions.get('size')}×"
                     f"{conditions.get('size')}, {weights} weights", fontsize=9)
        ax.legend(handles=[Patch(facecolor="white", edgecolor="black",
                                 hatch=HATCHES[k % len(HATCHES)],
                                 label=f"{count} thread{'s' if count > 1 else ''}")
                           for k, count in enumerate(threads)]
                  + [Patch(facecolor="none", edgecolor="none", label="bars: slowest–fastest round")],
                  fontsize=7, loc="best")
    baseline = f"{conditions.get('baseline', 'the baseline')} ({conditions.get('baseline_label')})"
    fig.suptitle(f"Speed-up over {baseline} on "
                 f"{str(conditions.get('cpu', 'this CPU'))[:48]} ({conditions.get('cores')} "
                 f"physical cores, {conditions.get('rounds')} interleaved rounds)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_precision_ceilings(shares, engines: Sequence[str] | None = None, conditions: str = ""):
    """Each engine's speed as a share of its own precision's ceiling (log axis), one bar per
    engine and thread count, the ceiling's instructions under each engine's name.

    ``shares`` as :func:`helpers.bench.ceiling.precision_shares` returns it (one model);
    ``conditions``: model, batch, clock, machine and rounds, for the title. Error bars span
    the slowest and fastest round where ``low_ms``/``high_ms`` are given."""
    if shares["model"].nunique() != 1:
        raise ValueError(f"expected one model, got {sorted(shares['model'].unique())}")
    engines = [e for e in (engines or dict.fromkeys(shares.engine)) if e in set(shares.engine)]
    threads = sorted(shares.threads.unique())
    width = 0.8 / len(threads)
    fig, ax = plt.subplots(figsize=(max(6.5, 1.1 * len(engines) + 2), 4.4))
    for k, count in enumerate(threads):
        rows = shares[shares.threads == count].set_index("engine").reindex(engines)
        x = np.arange(len(engines)) + (k - (len(threads) - 1) / 2) * width
        hatch = HATCHES[k % len(HATCHES)]
        spread = None
        if {"low_ms", "high_ms"} <= set(rows.columns):  # slowest and fastest round
            spread = [(rows.percent - rows.percent * rows.median_ms / rows.high_ms).clip(lower=0),
                      (rows.percent * rows.median_ms / rows.low_ms - rows.percent).clip(lower=0)]
        ax.bar(x, rows.percent, width, color=[engine_color(e) for e in engines], yerr=spread,
               capsize=2, alpha=0.6 if hatch else 1.0, edgecolor="black", linewidth=0.5,
               hatch=hatch)
        tops = rows.percent + (spread[1] if spread is not None else 0)  # above the error bar
        for xi, value, top in zip(x, rows.percent, tops, strict=True):
            if np.isfinite(value):
                ax.annotate(f"{value:.2g}", (xi, top * 1.04), ha="center", va="bottom", fontsize=7)
    first = shares.drop_duplicates("engine").set_index("engine")
    labels = [f"{e}\n{first.loc[e, 'precision']}: {first.loc[e, 'path']}" for e in engines]
    ax.set_xticks(np.arange(len(engines)), labels, rotation=30, ha="right", fontsize=7)
    ax.set_yscale("log")
    ax.set_ylim(1, max(150.0, 1.3 * float(np.nanmax(shares.percent))))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g} %"))
    ax.yaxis.set_minor_formatter(FuncFormatter(
        lambda v, _: f"{v:g} %" if round(v) in (2, 5, 20, 50) else ""))
    ax.axhline(100, color="black", lw=1, ls="--")
    ax.annotate("computed peak", (len(engines) - 0.5, 100), ha="right", va="bottom", fontsize=7)
    ax.set_ylabel("% of the precision's peak (log scale)")
    ax.legend(handles=[Patch(facecolor="white", edgecolor="black", hatch=HATCHES[k % len(HATCHES)],
                             label=f"{count} thread{'s' if count > 1 else ''}")
                       for k, count in enumerate(threads)], fontsize=7, loc="lower right")
    ax.set_title("How much of its own precision's peak each engine reaches\n" + conditions,
                 fontsize=9)
    fig.tight_layout()
    return fig
