"""Notebook 10's exercise: the gain over bicubic when training starts from the tutorial's init."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from helpers.data.datasets import sample_image_paths
from helpers.data.images import load_image
from helpers.models.superres import (
    bicubic_upscale,
    default_sr_config,
    downscale,
    load_or_train_superres,
    luma_splits,
    psnr,
    torch_upscale_luma,
)


def exercise() -> float:
    """Mean PSNR gain (dB, one decimal) over bicubic on the held-out crops, tutorial init."""
    photos = {path.name: load_image(path) for path in sample_image_paths()}
    splits = luma_splits(photos, crops_per_photo=6, crop=144, seed=0)
    config = replace(default_sr_config(), init="tutorial")
    upscale = torch_upscale_luma(load_or_train_superres(splits.train, config, progress=False).model)
    gains = []
    for crop in splits.test_crops:
        small = downscale(crop)
        gains.append(psnr(upscale(small), crop) - psnr(bicubic_upscale(small), crop))
    return round(float(np.mean(gains)), 1)
