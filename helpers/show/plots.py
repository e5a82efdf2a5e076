"""Small matplotlib figures the notebooks share: image grids, top-k bars, op histograms."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from helpers.data.labels import Prediction


def show_images(images: Sequence[np.ndarray], titles: Sequence[str] | None = None,
                columns: int = 4, size: float = 2.6):
    """A grid of RGB images with optional titles; returns the figure."""
    rows = (len(images) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(columns * size, rows * size), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, image) in enumerate(zip(axes.flat, images, strict=False)):
        ax.imshow(image)
        if titles:
            ax.set_title(titles[i], fontsize=9)
    fig.tight_layout()
    return fig


def plot_top_k(predictions: Sequence[Prediction], title: str = "top-k", ax=None):
    """Horizontal bars of top-k probabilities, best on top; returns the axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 0.4 * len(predictions) + 1))
    labels = [p.label for p in predictions][::-1]
    values = [p.probability for p in predictions][::-1]
    ax.barh(labels, values, color="tab:blue")
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability")
    ax.set_title(title)
    return ax


def plot_op_counts(op_counts: dict[str, int], title: str = "operators in the graph", ax=None):
    """Bar chart of how many nodes of each op type a graph has; returns the axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3))
    ops = sorted(op_counts, key=op_counts.get, reverse=True)
    ax.bar(ops, [op_counts[o] for o in ops], color="tab:green")
    ax.set_ylabel("nodes")
    ax.set_title(title)
    ax.tick_params(axis="x", rotation=45)
    return ax
