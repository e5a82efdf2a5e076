"""Notebook 18's figure: each route to a device, its latency at each thread count and the
megabytes it ships (model file + runtime libraries). Returns the figure, conditions in the title."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from helpers.show.colors import engine_color

HATCHES = ("", "//", "..", "xx")  # one per thread count, in the order given
RUNTIME_GREY = "#BBBBBB"


def plot_edge_routes(table: pd.DataFrame, threads: Sequence[int], conditions: str):
    """Two panels over the same routes (rows of ``table``, top to bottom).

    Left: median ms per image for each thread count, bars from the fastest to the slowest
    round (columns ``ms @<n>t``, ``low @<n>t``, ``high @<n>t``). Right: what an app carries,
    the model file (``model MB``) stacked on the runtime's shared libraries (``runtime MB``).
    ``table["color"]`` names each route's course colour (an engine or variant name); ``conditions``: model, batch,
    machine, rounds (the title's second line).
    """
    routes = list(table.index)
    y = np.arange(len(routes))
    height = 0.8 / len(threads)
    colors = [engine_color(e) for e in table["color"]]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 0.75 * len(routes) + 1.8),
                                      gridspec_kw={"width_ratios": [3, 2]}, sharey=True)
    for k, count in enumerate(threads):
        median = table[f"ms @{count}t"].to_numpy(float)
        spread = np.vstack([median - table[f"low @{count}t"].to_numpy(float),
                            table[f"high @{count}t"].to_numpy(float) - median])
        offset = (k - (len(threads) - 1) / 2) * height
        left.barh(y + offset, median, height=height * 0.92, color=colors, hatch=HATCHES[k % 4],
                  edgecolor="white", xerr=spread, ecolor="#333333", capsize=2)
        for yy, value, high in zip(y + offset, median, median + spread[1], strict=True):
            left.text(high, yy, f"  {value:.1f}", va="center", ha="left", fontsize=7)
    left.set_xlabel("median latency per image (ms; bars: slowest to fastest round)")
    left.set_yticks(y, routes)
    left.invert_yaxis()
    left.set_xlim(0, 1.25 * np.nanmax([table[f"high @{c}t"].max() for c in threads]))
    left.legend(handles=[Patch(facecolor="#999999", hatch=HATCHES[k % 4], edgecolor="white",
                               label=f"{count} thread{'s' if count > 1 else ''}")
                         for k, count in enumerate(threads)], fontsize=8, loc="lower right")
    left.set_title("time per image", fontsize=10)
    model_mb = table["model MB"].to_numpy(float)
    runtime_mb = table["runtime MB"].to_numpy(float)
    right.barh(y, model_mb, color=colors, height=0.6)
    right.barh(y, runtime_mb, left=model_mb, color=RUNTIME_GREY, height=0.6,
               label="runtime libraries")
    for yy, a, b in zip(y, model_mb, runtime_mb, strict=True):
        right.text(a + b, yy, f" {a:.1f} + {b:.1f}", va="center", ha="left", fontsize=7)
    right.set_xlim(0, 1.35 * float(np.nanmax(model_mb + runtime_mb)))
    right.set_xlabel("MB an app ships (model file + runtime)")
    right.legend(handles=[Patch(facecolor="#555555", label="model file (route's colour)"),
                          Patch(facecolor=RUNTIME_GREY, label="runtime libraries")],
                 fontsize=8, loc="lower right")
    right.set_title("size", fontsize=10)
    fig.suptitle(f"The course model on the way to a device: ORT format and ExecuTorch\n{conditions}",
                 fontsize=10)
    fig.tight_layout()
    return fig
