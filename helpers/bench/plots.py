"""The benchmark's figures: one question each, course colours, spread as bands, conditions stated."""

from __future__ import annotations

from collections.abc import Sequence

from helpers.bench.analysis import family_engines, latency_table, speedup_table
from helpers.bench.common import BenchError
from helpers.bench.registry import engine_label
from helpers.show.colors import engine_color


def conditions(machine: dict, settings: dict) -> str:
    """'2 threads, 3 rounds, Intel Xeon …, 2 cores': the conditions line of a figure."""
    cpu = str(machine.get("cpu_model", "CPU"))[:40]
    busy = machine.get("rounds_busy")
    note = f", {busy}/{machine.get('rounds_total')} rounds busy" if busy else ""
    return (f"{settings.get('threads')} threads, {settings.get('policy', {}).get('rounds')} rounds "
            f"per cell{note}; {cpu}, {machine.get('physical_cores')} physical cores")


def _sentence(text: str) -> str:
    return f"{text.rstrip('. ')}. " if text else ""


def _mark_suspects(ax, frame, model: str, batch: int, engines, values) -> None:
    """Ring the points of suspect cells (kept in the figure, left out of the findings)."""
    if "quality" not in frame.columns:
        return
    rows = frame[(frame.model == model) & (frame.batch == batch) & (frame.quality == "suspect")
                 & frame.engine.isin(list(engines))]
    for row in rows.itertuples():
        if row.engine in values.columns and row.size in values.index:
            ax.scatter([row.size], [values.loc[row.size, row.engine]], s=90, facecolors="none",
                       edgecolors="red", linewidths=1.5, zorder=5,
                       label="suspect cell" if not ax.get_legend_handles_labels()[1].count(
                           "suspect cell") else None)


def _size_axis(ax, sizes) -> None:
    """Log-2 size axis; a tick too close to the previous labelled one keeps no label (224/256)."""
    import math

    ax.set_xscale("log", base=2)
    labels, last = [], None
    for size in sizes:
        close = last is not None and math.log2(size / last) < 0.3
        labels.append("" if close else str(size))
        last = last if close else size
    ax.set_xticks(list(sizes), labels, rotation=45)
    ax.minorticks_off()
    ax.set_xlabel("input size (pixels per side)")
    ax.grid(True, which="major", alpha=0.3)


def plot_latency(frame, model: str, engines: Sequence[str] | None = None, caption: str = ""):
    """Latency (ms, log) against input size with the round-to-round band, a panel per batch."""
    import matplotlib.pyplot as plt

    med, low, high = (latency_table(frame, v, include_suspect=True)
                      for v in ("median_ms", "low_ms", "high_ms"))
    if model not in med.index.get_level_values("model"):
        raise BenchError(f"no measurements for model {model!r}")
    batches = sorted(set(med.xs(model, level="model").index.get_level_values("batch")))
    fig, axes = plt.subplots(1, len(batches), figsize=(5.5 * len(batches), 4), squeeze=False)
    for ax, batch in zip(axes[0], batches, strict=True):
        part = med.xs((model, batch), level=("model", "batch")).sort_index()
        lo = low.xs((model, batch), level=("model", "batch")).sort_index()
        hi = high.xs((model, batch), level=("model", "batch")).sort_index()
        for engine in [e for e in (engines or part.columns) if e in part.columns]:
            color = engine_color(engine)
            ax.plot(part.index, part[engine], marker="o", color=color, label=engine_label(engine))
            ax.fill_between(part.index, lo[engine], hi[engine], color=color, alpha=0.2)
        _mark_suspects(ax, frame, model, batch, engines or part.columns, part)
        _size_axis(ax, part.index)
        ax.set_yscale("log")
        ax.set_ylabel("latency per call (ms), median of rounds")
        ax.set_title(f"{model}, batch {batch}: latency against input size")
    axes[0][-1].legend(fontsize=8)
    fig.text(0.5, 0.0, _sentence(caption) + "Bands: lowest to highest round median; red rings: "
             "suspect cells.", ha="center",
             fontsize=8)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def plot_speedup(frame, baseline: str = "torch", engines: Sequence[str] | None = None,
                 caption: str = ""):
    """Speedup over ``baseline`` (log axis, per-panel limits) with bands, per model and batch."""
    import matplotlib.pyplot as plt
    import numpy as np

    chosen = list(engines or family_engines(frame, "ort"))
    mid = speedup_table(frame, baseline, chosen, include_suspect=True)
    # the band: fastest baseline round / slowest engine round .. slowest / fastest
    low_base, high_base = (latency_table(frame, v, include_suspect=True) for v in ("low_ms", "high_ms"))
    low = high_base[chosen].rdiv(low_base[baseline], axis=0)
    high = low_base[chosen].rdiv(high_base[baseline], axis=0)
    groups = list(dict.fromkeys((m, b) for m, b, _ in mid.index))
    fig, axes = plt.subplots(1, len(groups), figsize=(4.3 * len(groups), 3.9), squeeze=False)
    for ax, (model, batch) in zip(axes[0], groups, strict=True):
        pick = (model, batch)
        part = mid.xs(pick, level=("model", "batch")).sort_index()
        lo = low.xs(pick, level=("model", "batch")).sort_index()
        hi = high.xs(pick, level=("model", "batch")).sort_index()
        for engine in part.columns:
            color = engine_color(engine)
            ax.plot(part.index, part[engine], marker="o", ms=3, color=color,
                    label=engine_label(engine))
            ax.fill_between(part.index, lo[engine], hi[engine], color=color, alpha=0.15)
        _mark_suspects(ax, frame, model, batch, part.columns, part)
        ax.axhline(1.0, color="black", lw=1, ls="--")
        ax.set_yscale("log")
        values = np.concatenate([lo.to_numpy().ravel(), hi.to_numpy().ravel(), [1.0]])
        values = values[np.isfinite(values) & (values > 0)]
        low_lim, high_lim = values.min() / 1.15, values.max() * 1.15
        ax.set_ylim(low_lim, high_lim)
        nice = [v for v in (0.1, 0.2, 0.25, 0.5, 0.67, 0.8, 1, 1.25, 1.5, 2, 3, 4, 5, 8, 10, 20,
                            50, 100) if low_lim <= v <= high_lim]
        ax.set_yticks(nice, [f"{v:g}×" for v in nice])
        ax.minorticks_off()
        _size_axis(ax, part.index)
        ax.set_title(f"{model}, batch {batch}", fontsize=10)
    axes[0][0].set_ylabel(f"speedup over {engine_label(baseline)} (×, log)")
    axes[0][-1].legend(fontsize=7)
    fig.suptitle("How many times faster than PyTorch eager? (above 1: faster)", fontsize=11)
    fig.text(0.5, 0.0, _sentence(caption) + "Bands: slowest to fastest pairing of rounds.",
             ha="center", fontsize=8)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def plot_memory(frame, engines: Sequence[str] = ("torch", "ort"), caption: str = ""):
    """Peak resident memory (MiB) of each engine's process against input size, per model/batch."""
    import matplotlib.pyplot as plt

    table = latency_table(frame, "peak_rss_mb", include_suspect=True)
    groups = list(dict.fromkeys((m, b) for m, b, _ in table.index))
    fig, axes = plt.subplots(1, len(groups), figsize=(4.3 * len(groups), 3.9), squeeze=False)
    for ax, (model, batch) in zip(axes[0], groups, strict=True):
        part = table.xs((model, batch), level=("model", "batch")).sort_index()
        for engine in [e for e in engines if e in part.columns]:
            ax.plot(part.index, part[engine], marker="o", ms=3, color=engine_color(engine),
                    label=engine_label(engine))
        ax.set_yscale("log")
        _size_axis(ax, part.index)
        ax.set_title(f"{model}, batch {batch}", fontsize=10)
    axes[0][0].set_ylabel("peak resident memory (MiB, log)")
    axes[0][-1].legend(fontsize=7)
    fig.suptitle("How much memory does each engine's process reach?", fontsize=11)
    fig.text(0.5, 0.0, caption, ha="center", fontsize=8)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def _log_ms_axis(ax, low: float, high: float) -> None:
    """A log axis in plain numbers (no 10^x labels), from ``low`` to ``high``."""
    from matplotlib.ticker import FormatStrFormatter, NullFormatter

    ax.set_yscale("log")
    ax.set_ylim(low, high)
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def plot_baselines(frame, caption: str = ""):
    """Grouped bars per input size: each engine's median of rounds, bars fastest to slowest round.

    ``frame``: one model at one batch (PyTorch eager, channels_last, torch.compile, ORT).
    """
    import matplotlib.pyplot as plt
    import numpy as np

    med, low, high = (latency_table(frame, v, include_suspect=True) for v in
                      ("median_ms", "low_ms", "high_ms"))
    groups = list(dict.fromkeys((m, b) for m, b, _ in med.index))
    if len(groups) != 1:
        raise BenchError(f"expected one model at one batch size, got {groups}")
    (model, batch), = groups
    med, low, high = (t.droplevel(["model", "batch"]) for t in (med, low, high))
    fig, ax = plt.subplots(figsize=(7, 3.8))
    width = 0.8 / len(med.columns)
    for i, engine in enumerate(med.columns):
        ax.bar(np.arange(len(med)) + i * width, med[engine], width,
               yerr=[med[engine] - low[engine], high[engine] - med[engine]], capsize=3,
               color=engine_color(engine), label=engine_label(engine))
    ax.set_xticks(np.arange(len(med)) + 0.4 - width / 2, [f"{s} px" for s in med.index])
    _log_ms_axis(ax, low.min().min() / 3, high.max().max() * 2)
    ax.set_ylabel("latency per call (ms, log)")
    ax.set_title(f"Is ORT still ahead of PyTorch at its best? {model}, batch {batch}\n"
                 "(median of rounds; bars: fastest to slowest round)", fontsize=10)
    ax.legend(fontsize=7)
    fig.text(0.5, 0.0, caption, ha="center", fontsize=8)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def plot_images_per_second(per_image_ms, size: int, engines: Sequence[str] = ("torch", "ort"),
                           caption: str = ""):
    """Images per second at ``size`` for each model and engine: small batch pale, large solid.

    ``per_image_ms``: latency per image (ms), indexed by (model, batch, size), a column per
    engine, with two batch sizes.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    batches = sorted(set(per_image_ms.index.get_level_values("batch")))
    if len(batches) != 2:
        raise BenchError(f"expected two batch sizes to compare, got {batches}")
    models = list(dict.fromkeys(per_image_ms.index.get_level_values("model")))
    fig, ax = plt.subplots(figsize=(6.5, 3.7))
    labels = []
    for model in models:
        for engine in engines:
            x = len(labels)
            for j, batch in enumerate(batches):
                value = 1000 / per_image_ms.loc[(model, batch, size), engine]
                ax.bar(x + 0.4 * j, value, 0.4, color=engine_color(engine), alpha=1 if j else 0.5)
            labels.append(f"{model}\n{engine_label(engine)}")
    ax.set_xticks(np.arange(len(labels)) + 0.2, labels, fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("images per second (log)")
    ax.set_title(f"Images per second at {size} px: batch {batches[0]} (pale) and batch "
                 f"{batches[1]} (solid)", fontsize=10)
    fig.text(0.5, 0.0, caption, ha="center", fontsize=7)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def plot_ceiling_share(achieved, ceiling, batch: int = 1, caption: str = ""):
    """Per model: each engine's GFLOP/s as % of the ceiling against input size, at ``batch``.

    ``achieved``: cells with a ``percent`` column (:func:`helpers.bench.ceiling.ceiling_shares`);
    ``ceiling``: a :class:`helpers.bench.ceiling.Ceiling`, whose measured multiplies are
    drawn as dashed lines.
    """
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(achieved["model"]))
    fig, axes = plt.subplots(1, len(models), figsize=(5.2 * len(models), 3.8), squeeze=False)
    for ax, model in zip(axes[0], models, strict=True):
        part = achieved[(achieved["model"] == model) & (achieved["batch"] == batch)]
        for engine, rows in part.groupby("engine"):
            rows = rows.sort_values("size")
            ax.plot(rows["size"], rows["percent"], marker="o", color=engine_color(engine),
                    label=engine_label(engine))
        for name, value in ceiling.measured.items():
            ax.axhline(100 * value / ceiling.gflops, ls="--", lw=1,
                       color=engine_color("ort" if name.startswith("ort") else "torch"),
                       label=f"best {name}")
        _size_axis(ax, sorted(part["size"].unique()))
        ax.set_ylim(0, 100)
        ax.set_title(f"{model}, batch {batch}", fontsize=10)
    axes[0][0].set_ylabel(f"% of the ceiling ({ceiling.gflops:.0f} GFLOP/s)")
    axes[0][-1].legend(fontsize=7)
    fig.suptitle("How much of the CPU's arithmetic does each engine use?", fontsize=11)
    fig.text(0.5, 0.0, caption, ha="center", fontsize=8)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig
