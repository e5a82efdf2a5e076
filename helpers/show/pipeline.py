"""Notebook 13's bookkeeping and figures: resize parity bars, interleaved timing, latency bars."""

from __future__ import annotations

import inspect
import random
import time
from collections.abc import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from helpers.show.colors import engine_color

RESIZE_COLUMNS = {  # column of the parity table -> (legend, colour key)
    "bilinear max": ("bilinear, antialias", "resize-antialias"),
    "bilinear no-AA max": ("bilinear, no antialias", "resize-no-antialias"),
    "bicubic max": ("bicubic (a=−0.5), antialias", "resize-bicubic"),
}


def plot_resize_parity(parity: pd.DataFrame, title: str):
    """Grouped bars: the largest |ORT − Pillow| per photo (rows) and resize variant; the figure.

    ``parity`` has one row per photo and the columns of ``RESIZE_COLUMNS``.
    """
    missing = [column for column in RESIZE_COLUMNS if column not in parity.columns]
    if missing:
        raise ValueError(f"expected the columns {list(RESIZE_COLUMNS)}, missing {missing}")
    fig, ax = plt.subplots(figsize=(9, 3.6))
    x = np.arange(len(parity))
    width = 0.8 / len(RESIZE_COLUMNS)
    for i, (column, (label, color)) in enumerate(RESIZE_COLUMNS.items()):
        ax.bar(x + (i - 1) * width, parity[column], width=width, label=label,
               color=engine_color(color))
    ax.set_xticks(x, parity.index, rotation=20, ha="right")
    ax.set_ylabel("max |ORT − Pillow| (grey levels)")
    ax.set_yscale("symlog", linthresh=1)
    ax.set_ylim(0, 1000)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, ncols=3, loc="upper left")
    fig.tight_layout()
    return fig


def time_interleaved(candidates: Mapping[str, Callable[[object], object]],
                     inputs: Sequence[object], rounds: int, seed: int = 0,
                     desc: str = "interleaved timing rounds") -> dict[str, list[float]]:
    """Milliseconds per call of every candidate on every input, in ``rounds`` rounds.

    Each candidate runs once on the first input first (untimed: first runs allocate
    memory). In each round, every input goes through all candidates in a shuffled order,
    so a busy neighbour hits all of them alike. Entry ``i`` of each list is the same
    (round, input) for every candidate, so ratios can be taken entry by entry.
    """
    from helpers import progress_bar

    if rounds < 1 or not inputs or not candidates:
        raise ValueError(f"need candidates, inputs and at least one round, got "
                         f"{len(candidates)}, {len(inputs)} and {rounds}")
    order = random.Random(seed)
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for call in candidates.values():
        call(inputs[0])
    with progress_bar(total=rounds, desc=desc) as bar:
        for _ in range(rounds):
            for item in inputs:
                plan = list(candidates)
                order.shuffle(plan)
                for name in plan:
                    start = time.perf_counter()
                    candidates[name](item)
                    times[name].append((time.perf_counter() - start) * 1e3)
            bar.update(1)
    return times


def latency_table(times: Mapping[str, Sequence[float]]) -> pd.DataFrame:
    """Median, 10th and 90th percentile (ms) and the number of calls, one row per candidate."""
    return pd.DataFrame({name: {"median ms": np.median(t), "p10 ms": np.percentile(t, 10),
                                "p90 ms": np.percentile(t, 90), "calls": len(t)}
                         for name, t in times.items()}).T


def ratio_line(times: Mapping[str, Sequence[float]], numerator: str, denominator: str) -> str:
    """``numerator / denominator`` call by call: median and p10–p90, as one line of text."""
    ratio = np.asarray(times[numerator]) / np.asarray(times[denominator])
    p10, median, p90 = np.percentile(ratio, [10, 50, 90])
    return f"{numerator} / {denominator}: median {median:.2f}, p10–p90 {p10:.2f}–{p90:.2f}"


def plot_latency(latency: pd.DataFrame, in_graph: Sequence[str], title: str):
    """Horizontal bars of ``latency_table`` (median, p10–p90 error bars), first row on top.

    Rows named in ``in_graph`` are coloured as ORT (preprocessing in the graph), the others
    as preprocessing in the client. Returns the figure.
    """
    unknown = [name for name in in_graph if name not in latency.index]
    if unknown:
        raise ValueError(f"{unknown} are not rows of the latency table {list(latency.index)}")
    graph, client = engine_color("ort"), engine_color("preprocess")
    colors = [graph if name in in_graph else client for name in latency.index]
    medians = latency["median ms"].to_numpy()
    spread = np.vstack([medians - latency["p10 ms"].to_numpy(),
                        latency["p90 ms"].to_numpy() - medians])
    fig, ax = plt.subplots(figsize=(8.5, 3.2))
    ax.barh(latency.index[::-1], medians[::-1], xerr=spread[:, ::-1], color=colors[::-1],
            capsize=3)
    ax.set_xlabel("time per image (ms), median with p10–p90")
    ax.set_title(title, fontsize=10)
    ax.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=client),
                       plt.Rectangle((0, 0), 1, 1, color=graph)],
              labels=["preprocessing in the client (Pillow + numpy)",
                      "preprocessing in the graph (ORT)"], fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def source_lines(*functions: Callable) -> int:
    """How many lines of Python the given functions take (what a client has to carry)."""
    return sum(len(inspect.getsourcelines(function)[0]) for function in functions)
