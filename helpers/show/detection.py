"""Notebook 14's figures: digit canvases with their true boxes, detections side by side."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from helpers.data.detection import CanvasSet
from helpers.models.detector import Detections


def draw_detections(ax, image: np.ndarray, found: Detections | None, color: str, title: str,
                    truth: np.ndarray | None = None) -> None:
    """Show a canvas with detected boxes (class and score) and, dashed grey, the true boxes."""
    ax.imshow(image, cmap="gray", vmin=0, vmax=255)
    if truth is not None:
        for box in truth:
            ax.add_patch(plt.Rectangle(box[:2], box[2] - box[0], box[3] - box[1], fill=False,
                                       color="0.6", linestyle="--", linewidth=1))
    found = found or Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                                np.zeros(0, np.int64))
    for box, score, cls in zip(found.boxes, found.scores, found.classes, strict=True):
        ax.add_patch(plt.Rectangle(box[:2], box[2] - box[0], box[3] - box[1], fill=False,
                                   color=color, linewidth=1.5))
        ax.text(box[0], box[1] - 1, f"{cls} {score:.2f}", color="white", fontsize=7,
                va="bottom", bbox={"facecolor": color, "pad": 0.5, "linewidth": 0})
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def plot_canvases(data: CanvasSet, shown: Sequence[int], title: str, name: str = "canvas"):
    """The canvases ``shown`` in one row, each with its digits in the title and true boxes."""
    if not shown:
        raise ValueError("no canvas to show")
    fig, axes = plt.subplots(1, len(shown), figsize=(3 * len(shown), 3.3), squeeze=False)
    for ax, i in zip(axes[0], shown, strict=True):
        digits = ", ".join(str(c) for c in sorted(data.labels[i]))
        draw_detections(ax, data.images[i], None, "black", f"{name} {i}: digits {digits}",
                        truth=data.boxes[i])
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_detection_pairs(data: CanvasSet, shown: Sequence[int],
                         runs: Mapping[str, tuple[str, Sequence[Detections]]], title: str,
                         per_row: int = 2):
    """For each canvas in ``shown``, one panel per run side by side (``runs``: label ->
    (colour, detections per canvas)), ``per_row`` canvases to a row; true boxes dashed."""
    if not shown or not runs:
        raise ValueError("need canvases to show and at least one run")
    rows = (len(shown) + per_row - 1) // per_row
    columns = per_row * len(runs)
    fig, axes = plt.subplots(rows, columns, figsize=(3.25 * columns, 3.9 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for k, i in enumerate(shown):
        row, slot = divmod(k, per_row)
        for offset, (label, (color, found)) in enumerate(runs.items()):
            draw_detections(axes[row, slot * len(runs) + offset], data.images[i], found[i], color,
                            f"{label}, canvas {i}: {len(found[i].scores)} boxes",
                            truth=data.boxes[i])
    fig.suptitle(title)
    fig.tight_layout()
    return fig
