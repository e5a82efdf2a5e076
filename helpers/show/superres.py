"""Notebook 10's figures and tables: the training loss, PSNR in colour, images side by side."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from helpers.models.superres import UPSCALE, psnr, split_ycrcb


def plot_training_loss(losses: Sequence[float], title: str, window: int = 50,
                       references: Mapping[str, float] | None = None):
    """Batch MSE per training step (grey) and its running mean (blue), log scale, with a dashed
    line per reference MSE (e.g. bicubic upscaling of the same photos); the figure."""
    series = pd.Series(np.asarray(losses, dtype=float))
    if series.empty:
        raise ValueError("no losses to plot")
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    ax.plot(series.index, series, color="0.8", label="batch")
    ax.plot(series.index, series.rolling(window, min_periods=1).mean(), color="tab:blue",
            label=f"mean of {window}")
    for (name, value), style in zip((references or {}).items(), ("--", ":", "-."), strict=False):
        ax.axhline(value, color="black", lw=1, ls=style, label=f"{name} ({value:.1e})")
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("MSE loss (Y in [0, 1])")
    ax.set_title(title, fontsize=10)
    ax.legend()
    fig.tight_layout()
    return fig


def rgb_psnr(image: np.ndarray, reference: np.ndarray, border: int = UPSCALE) -> float:
    """PSNR in dB over the three channels of uint8 RGB images, ignoring ``border`` pixels."""
    if image.shape != reference.shape or image.ndim != 3:
        raise ValueError(f"expected two RGB images of one shape, got {image.shape} and "
                         f"{reference.shape}")
    a = image[border:-border, border:-border].astype(np.float64)
    b = reference[border:-border, border:-border].astype(np.float64)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else 10.0 * float(np.log10(255.0**2 / mse))


def colour_psnr_table(original: np.ndarray, candidates: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """PSNR (dB) of each enlarged RGB image against ``original``: on Y alone and on RGB."""
    y_original = split_ycrcb(original)[0]
    rows = {name: {"Y PSNR dB": psnr(split_ycrcb(image)[0], y_original),
                   "RGB PSNR dB": rgb_psnr(image, original)}
            for name, image in candidates.items()}
    return pd.DataFrame(rows).T.round(2)


def plot_side_by_side(views: Mapping[str, np.ndarray], box: tuple[int, int, int], title: str):
    """Each RGB image whole (top row) and the ``box`` (top, left, size) enlarged (bottom row).

    The first image may be smaller (the network's input): it is shown enlarged by nearest
    neighbour to the size of the others, so that the box falls on the same place.
    """
    top, left, size = box
    images = list(views.values())
    height, width = images[-1].shape[:2]
    fig, axes = plt.subplots(2, len(views), figsize=(3.5 * len(views), 7), squeeze=False)
    for column, (name, image) in enumerate(views.items()):
        if image.shape[:2] != (height, width):
            factor = height // image.shape[0]
            image = np.repeat(np.repeat(image, factor, 0), factor, 1)
        axes[0, column].imshow(image)
        axes[0, column].add_patch(plt.Rectangle((left, top), size, size, fill=False,
                                                color="yellow"))
        axes[0, column].set_title(name, fontsize=10)
        axes[1, column].imshow(image[top:top + size, left:left + size], interpolation="nearest")
        axes[1, column].set_title("detail (yellow box)", fontsize=9)
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
