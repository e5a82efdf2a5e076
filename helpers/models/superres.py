"""Super-resolution ×3 on the luminance channel: the PyTorch tutorial's network, data, training, PSNR.

The network is the one from PyTorch's super-resolution tutorial (four convolutions and a
``PixelShuffle``); everything around it (crops from the offline sample photos, the bicubic
baseline, PSNR, colour handling with OpenCV) is small and torch-free where it can be.
Images are float32 in [0, 1] for luminance (Y) and uint8 for colour.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np
import torch
from torch import nn

UPSCALE = 3
M = TypeVar("M", bound=nn.Module)


class SuperResolutionNet(nn.Module):
    """The tutorial's network: 1 channel in, ``upscale``² channels out, rearranged by PixelShuffle.

    Input ``(N, 1, H, W)`` luminance in [0, 1]; output ``(N, 1, upscale·H, upscale·W)``.
    """

    def __init__(self, upscale: int = UPSCALE) -> None:
        super().__init__()
        if not isinstance(upscale, int) or upscale < 1:
            raise ValueError(f"expected a positive integer upscale factor, got {upscale!r}")
        self.upscale = upscale
        self.relu = nn.ReLU()
        self.conv1 = nn.Conv2d(1, 64, kernel_size=5, padding=2)
        self.conv2 = nn.Conv2d(64, 64, kernel_size=3, padding=1)
        self.conv3 = nn.Conv2d(64, 32, kernel_size=3, padding=1)
        self.conv4 = nn.Conv2d(32, upscale**2, kernel_size=3, padding=1)
        self.pixel_shuffle = nn.PixelShuffle(upscale)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The tutorial's initialisation: orthogonal weights (ReLU gain for the first three)."""
        gain = nn.init.calculate_gain("relu")
        for conv in (self.conv1, self.conv2, self.conv3):
            nn.init.orthogonal_(conv.weight, gain)
        nn.init.orthogonal_(self.conv4.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.conv1(x))
        x = self.relu(self.conv2(x))
        x = self.relu(self.conv3(x))
        return self.pixel_shuffle(self.conv4(x))


@torch.no_grad()
def start_as_nearest(model: M, residual_scale: float = 0.1) -> M:
    """Set the weights so that the untrained network already upscales by nearest neighbour.

    Channel 0 of each layer copies the input (a centre tap of 1): the ReLUs leave it
    unchanged because luminance is never negative, and the last layer adds it to all
    ``upscale``² sub-pixels, which PixelShuffle spreads over each output block. The other
    channels keep their random weights, scaled down by ``residual_scale``, and learn the
    correction. Same architecture, same exported graph: only the starting point changes.
    Any module with the tutorial's ``conv1``..``conv4`` will do (notebook 10 writes its own).
    """
    convs = [getattr(model, f"conv{i}", None) for i in range(1, 5)]
    if not all(isinstance(conv, nn.Conv2d) for conv in convs) or convs[0].in_channels != 1:
        raise TypeError("expected a SuperResolutionNet (conv1..conv4, one input channel), "
                        f"got {type(model).__name__}")
    for conv in (model.conv1, model.conv2, model.conv3):
        centre = conv.kernel_size[0] // 2
        conv.weight[0].zero_()
        conv.weight[0, 0, centre, centre] = 1.0
        conv.bias[0] = 0.0
    model.conv4.weight.mul_(residual_scale)
    model.conv4.weight[:, 0].zero_()
    model.conv4.weight[:, 0, 1, 1] = 1.0
    model.conv4.bias.zero_()
    return model


# ------------------------------------------------------------------ images and colour


def _check_rgb(image: np.ndarray) -> None:
    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3
            and image.shape[2] == 3):
        got = f"{image.shape} {image.dtype}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"expected an RGB image of shape [H, W, 3] uint8, got {got}")


def _check_luma(y: np.ndarray) -> None:
    if not (isinstance(y, np.ndarray) and y.ndim == 2 and y.dtype == np.float32):
        got = f"{y.shape} {y.dtype}" if isinstance(y, np.ndarray) else type(y).__name__
        raise ValueError(f"expected luminance of shape [H, W] float32, got {got}")


def split_ycrcb(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """RGB uint8 → (Y float32 in [0, 1] of shape [H, W], CrCb uint8 of shape [H, W, 2]).

    OpenCV orders the channels Y, Cr, Cb (``COLOR_RGB2YCrCb``, BT.601 full range).
    """
    _check_rgb(image)
    ycrcb = cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb)
    return ycrcb[..., 0].astype(np.float32) / 255.0, np.ascontiguousarray(ycrcb[..., 1:])


def merge_ycrcb(y: np.ndarray, crcb: np.ndarray) -> np.ndarray:
    """(Y float in [0, 1], CrCb uint8) of the same height and width → RGB uint8."""
    _check_luma(y)
    if crcb.shape != (*y.shape, 2) or crcb.dtype != np.uint8:
        raise ValueError(f"expected CrCb of shape {(*y.shape, 2)} uint8, got {crcb.shape} {crcb.dtype}")
    y8 = np.clip(np.rint(y * 255.0), 0, 255).astype(np.uint8)
    return cv2.cvtColor(np.dstack([y8, crcb]), cv2.COLOR_YCrCb2RGB)


def crop_to_multiple(image: np.ndarray, factor: int = UPSCALE) -> np.ndarray:
    """Trim the bottom and right edges so that height and width divide by ``factor``."""
    h, w = image.shape[:2]
    if h < factor or w < factor:
        raise ValueError(f"image of size {h}x{w} is smaller than the factor {factor}")
    return image[: h - h % factor, : w - w % factor]


def downscale(image: np.ndarray, factor: int = UPSCALE) -> np.ndarray:
    """Shrink by ``factor`` with area averaging (anti-aliased), after trimming to a multiple."""
    image = crop_to_multiple(image, factor)
    h, w = image.shape[:2]
    return cv2.resize(image, (w // factor, h // factor), interpolation=cv2.INTER_AREA)


def bicubic_upscale(image: np.ndarray, factor: int = UPSCALE) -> np.ndarray:
    """Enlarge by ``factor`` with OpenCV's bicubic interpolation (floats clipped to [0, 1])."""
    h, w = image.shape[:2]
    out = cv2.resize(image, (w * factor, h * factor), interpolation=cv2.INTER_CUBIC)
    return np.clip(out, 0.0, 1.0) if out.dtype.kind == "f" else out


def psnr(estimate: np.ndarray, reference: np.ndarray, border: int = UPSCALE) -> float:
    """Peak signal-to-noise ratio in dB for luminance in [0, 1], ignoring ``border`` pixels."""
    if estimate.shape != reference.shape:
        raise ValueError(f"shapes differ: estimate {estimate.shape}, reference {reference.shape}")
    if border:
        estimate = estimate[border:-border, border:-border]
        reference = reference[border:-border, border:-border]
    if estimate.size == 0:
        raise ValueError("nothing left to compare after removing the border")
    mse = float(np.mean((np.clip(estimate, 0, 1).astype(np.float64) - reference) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(1.0 / mse)


def random_crops(images: Sequence[np.ndarray], count: int, size: int,
                 rng: np.random.Generator) -> np.ndarray:
    """``count`` random ``size`` x ``size`` crops from 2-D images (picked uniformly), stacked."""
    usable = [im for im in images if im.shape[0] >= size and im.shape[1] >= size]
    if not usable:
        raise ValueError(f"no image is at least {size}x{size}")
    crops = []
    for _ in range(count):
        image = usable[int(rng.integers(len(usable)))]
        top = int(rng.integers(image.shape[0] - size + 1))
        left = int(rng.integers(image.shape[1] - size + 1))
        crops.append(image[top:top + size, left:left + size])
    return np.stack(crops)


# ------------------------------------------------------------------ data


HELD_OUT_PHOTOS = ("chelsea_cat.png", "flower.jpg")  # never seen in training


@dataclass
class LumaSplits:
    """Luminance of the training photos, and fixed crops of the held-out photos."""

    train: list[np.ndarray]  # one [H, W] float32 image per training photo
    train_names: list[str]
    test_crops: np.ndarray  # [N, crop, crop] float32
    test_names: list[str]  # the photo each test crop comes from


def luma_splits(photos: dict[str, np.ndarray], held_out: Sequence[str] = HELD_OUT_PHOTOS,
                crops_per_photo: int = 6, crop: int = 144, seed: int = 0) -> LumaSplits:
    """Split named RGB photos by name: train on the others, test on seeded crops of ``held_out``."""
    missing = [name for name in held_out if name not in photos]
    if missing:
        raise ValueError(f"held-out photos {missing} are not among {sorted(photos)}")
    if crop % UPSCALE:
        raise ValueError(f"crop must be a multiple of {UPSCALE}, got {crop}")
    train_names = [name for name in photos if name not in held_out]
    if not train_names:
        raise ValueError("no photo left for training")
    rng = np.random.default_rng(seed)
    crops, names = [], []
    for name in held_out:
        crops.append(random_crops([split_ycrcb(photos[name])[0]], crops_per_photo, crop, rng))
        names += [name] * crops_per_photo
    return LumaSplits([split_ycrcb(photos[n])[0] for n in train_names], train_names,
                      np.concatenate(crops), names)


# ------------------------------------------------------------------ training


@dataclass(frozen=True)
class SRTrainConfig:
    """Everything that decides the trained weights (also the cache key)."""

    steps: int = 1500
    batch_size: int = 16
    crop: int = 72  # high-resolution crop side; the network sees crop // UPSCALE
    lr: float = 3e-3
    seed: int = 0
    init: str = "nearest"  # "nearest" (start_as_nearest) or "tutorial" (orthogonal only)

    def tag(self) -> str:
        return (f"s{self.steps}_b{self.batch_size}_c{self.crop}_lr{self.lr:g}_"
                f"seed{self.seed}_{self.init}")


@dataclass
class TrainedSR:
    """The trained network (eval mode) and how it was trained."""

    model: SuperResolutionNet
    config: SRTrainConfig
    seconds: float
    losses: list[float]
    checkpoint: Path | None = None


def default_sr_config() -> SRTrainConfig:
    """Full run: 1500 steps; quick mode (``COURSE_QUICK=1``): 300 steps, same code path."""
    from helpers.models.training import for_mode

    return for_mode(quick=SRTrainConfig(steps=300), full=SRTrainConfig())


def training_pairs(hr_crops: np.ndarray, factor: int = UPSCALE) -> tuple[torch.Tensor, torch.Tensor]:
    """High-resolution crops [N, S, S] → (low-res input, target) tensors [N, 1, ·, ·]."""
    low = np.stack([downscale(c, factor) for c in hr_crops])
    return torch.from_numpy(low[:, None]), torch.from_numpy(np.ascontiguousarray(hr_crops[:, None]))


def build_model(init: str = "nearest", seed: int = 0) -> SuperResolutionNet:
    """A seeded SuperResolutionNet, started as the tutorial does or as nearest neighbour."""
    if init not in ("nearest", "tutorial"):
        raise ValueError(f"init must be 'nearest' or 'tutorial', got {init!r}")
    torch.manual_seed(seed)
    model = SuperResolutionNet(UPSCALE)
    return start_as_nearest(model) if init == "nearest" else model


def train_superres(train_images: Sequence[np.ndarray], config: SRTrainConfig,
                   progress: bool = True) -> TrainedSR:
    """Train on random crops of 2-D luminance images: Adam, one-cycle learning rate, MSE."""
    from helpers import progress_bar

    if config.crop % UPSCALE:
        raise ValueError(f"crop must be a multiple of {UPSCALE}, got {config.crop}")
    for image in train_images:
        _check_luma(image)
    rng = np.random.default_rng(config.seed)
    model = build_model(config.init, config.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr,
                                                    total_steps=config.steps, pct_start=0.15)
    losses: list[float] = []
    model.train()
    start = time.perf_counter()
    for _ in progress_bar(range(config.steps), desc="training SuperResolutionNet",
                          disable=not progress, leave=False, mininterval=2.0):
        x, y = training_pairs(random_crops(train_images, config.batch_size, config.crop, rng))
        loss = nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    return TrainedSR(model.eval(), config, time.perf_counter() - start, losses)


def load_or_train_superres(train_images: Sequence[np.ndarray], config: SRTrainConfig,
                           folder: Path | None = None, retrain: bool = False,
                           progress: bool = True) -> TrainedSR:
    """Train once per config and cache the weights in ``folder`` (default artifacts/models)."""
    from helpers.models.training import Trained, load_or_train

    def train() -> Trained[SuperResolutionNet]:
        result = train_superres(train_images, config, progress=progress)
        return Trained(result.model, result.seconds, {"losses": result.losses})

    cached = load_or_train("superres", config, lambda: SuperResolutionNet(UPSCALE), train,
                           folder, retrain)
    return TrainedSR(cached.model, config, cached.seconds, list(cached.record["losses"]),
                     cached.checkpoint)


# ------------------------------------------------------------------ inference


def torch_upscale_luma(model: nn.Module) -> Callable[[np.ndarray], np.ndarray]:
    """Wrap a PyTorch model as ``Y [H, W] float32 → Y [3H, 3W] float32`` (clipped)."""
    def run(y: np.ndarray) -> np.ndarray:
        _check_luma(y)
        with torch.inference_mode():
            out = model(torch.from_numpy(np.ascontiguousarray(y))[None, None])
        return np.clip(out[0, 0].numpy(), 0.0, 1.0)

    return run


def upscale_rgb(image: np.ndarray, upscale_luma: Callable[[np.ndarray], np.ndarray],
                factor: int = UPSCALE) -> np.ndarray:
    """Super-resolve a colour image: Y through ``upscale_luma``, Cr and Cb bicubic, back to RGB."""
    y, crcb = split_ycrcb(image)
    y_big = upscale_luma(y)
    if y_big.shape != (y.shape[0] * factor, y.shape[1] * factor):
        raise ValueError(f"upscale_luma returned {y_big.shape}, expected "
                         f"{(y.shape[0] * factor, y.shape[1] * factor)}")
    return merge_ycrcb(y_big.astype(np.float32), bicubic_upscale(crcb, factor))
