"""The course model: a resnet18 trained here, offline, on scikit-learn's digits (10 classes).

Real data, real labels, meaningful predictions without any download. Trains in well under a
minute on two CPU cores; the checkpoint is cached under ``artifacts/`` and reused.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from helpers.data.datasets import DigitsSplits, load_digits_splits
from helpers.data.images import preprocess_digit
from helpers.models.training import Trained, for_mode, load_or_train

NUM_CLASSES = 10
INPUT_SHAPE = (1, 3, 64, 64)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides the trained weights (the cache key)."""

    epochs: int = 4
    batch_size: int = 64
    lr: float = 2e-3
    seed: int = 0

    def tag(self) -> str:
        """The short key in file names (``e4_b64_lr0.002_s0``): never shown in titles."""
        return f"e{self.epochs}_b{self.batch_size}_lr{self.lr:g}_s{self.seed}"

    def describe(self) -> str:
        """The training in words, for titles and printed lines."""
        return f"trained {self.epochs} epochs"


@dataclass
class TrainedModel:
    """The trained model (eval mode) with its held-out accuracy and training record."""

    model: nn.Module
    config: TrainConfig
    val_accuracy: float
    test_accuracy: float
    train_seconds: float
    checkpoint: Path


def build_digits_model() -> nn.Module:
    """A torchvision resnet18 with a 10-class head, randomly initialised."""
    from torchvision.models import resnet18

    return resnet18(weights=None, num_classes=NUM_CLASSES)


def to_tensors(images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Digits as (N, 3, 64, 64) float32 inputs and int64 labels."""
    return torch.from_numpy(preprocess_digit(images)), torch.from_numpy(labels)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256) -> float:
    """Top-1 accuracy of ``model`` (put in eval mode) on tensors ``x``, ``y``."""
    model.eval()
    correct = 0
    for start in range(0, len(x), batch_size):
        logits = model(x[start:start + batch_size])
        correct += int((logits.argmax(1) == y[start:start + batch_size]).sum())
    return correct / len(x)


def train_digits_model(config: TrainConfig, splits: DigitsSplits | None = None,
                       progress: bool = True) -> tuple[nn.Module, float]:
    """Train from scratch with AdamW and a one-cycle schedule; return (model, seconds)."""
    from helpers import progress_bar

    splits = splits or load_digits_splits()
    torch.manual_seed(config.seed)
    x, y = to_tensors(splits.x_train, splits.y_train)
    model = build_digits_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=1e-4)
    steps_per_epoch = (len(x) + config.batch_size - 1) // config.batch_size
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, total_steps=config.epochs * steps_per_epoch
    )
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(config.seed)
    start = time.perf_counter()
    bar = progress_bar(total=config.epochs * steps_per_epoch, desc="training digits resnet18",
                       disable=not progress, leave=False)
    model.train()
    for _ in range(config.epochs):
        order = torch.randperm(len(x), generator=generator)
        for i in range(steps_per_epoch):
            batch = order[i * config.batch_size:(i + 1) * config.batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(x[batch]), y[batch])
            loss.backward()
            optimizer.step()
            scheduler.step()
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    return model.eval(), time.perf_counter() - start


def default_config() -> TrainConfig:
    """Full run: 4 epochs; quick mode (``COURSE_QUICK=1``): 2 epochs, same code path."""
    return for_mode(quick=TrainConfig(epochs=2), full=TrainConfig())


def load_or_train_course_model(config: TrainConfig | None = None, retrain: bool = False,
                               progress: bool = True) -> TrainedModel:
    """Return the course model, training it once and caching the checkpoint by config."""
    config = config or default_config()
    splits = load_digits_splits()

    def train() -> Trained[nn.Module]:
        return Trained(*train_digits_model(config, splits, progress=progress))

    trained = load_or_train("digits_resnet18", config, build_digits_model, train,
                            retrain=retrain)
    model, seconds, checkpoint = trained.model, trained.seconds, trained.checkpoint
    model.eval()
    val, test = held_out_accuracy(model, checkpoint, splits)
    return TrainedModel(model, config, val, test, seconds, checkpoint)


def held_out_accuracy(model: nn.Module, checkpoint: Path, splits: DigitsSplits) -> tuple[float, float]:
    """Validation and test accuracy of ``model``, the weights in ``checkpoint``.

    Measured once per checkpoint file, split and torch version and kept beside the checkpoint
    (``*.accuracy.json``): every notebook asks for them, and the two passes cost seconds.
    """
    import hashlib
    import json
    import os

    from helpers.paths import partial_path

    stat = Path(checkpoint).stat()
    digest = hashlib.sha256()
    for array in (splits.x_val, splits.y_val, splits.x_test, splits.y_test):
        digest.update(np.ascontiguousarray(array).tobytes())
    key = {"checkpoint_bytes": stat.st_size, "checkpoint_mtime_ns": stat.st_mtime_ns,
           "splits_sha256": digest.hexdigest(), "torch": torch.__version__}
    record = Path(checkpoint).with_suffix(".accuracy.json")
    try:
        saved = json.loads(record.read_text())
        if saved["key"] == key:
            return float(saved["val"]), float(saved["test"])
    except (OSError, ValueError, KeyError, TypeError):
        pass  # not measured yet for this checkpoint, or unreadable: measure
    val = accuracy(model, *to_tensors(splits.x_val, splits.y_val))
    test = accuracy(model, *to_tensors(splits.x_test, splits.y_test))
    partial = partial_path(record)
    partial.write_text(json.dumps({"key": key, "val": val, "test": test}, indent=1))
    os.replace(partial, record)
    return val, test


def export_course_model(folder: Path, metadata: dict[str, str] | None = None) -> Path:
    """The course model (trained or cached) as ``folder/course_<tag>.onnx``: dynamo exporter,
    dynamic batch; re-exported only when the model or the arguments change."""
    from helpers.export.exporters import export_if_missing

    course = load_or_train_course_model(progress=False)
    return export_if_missing(course.model, torch.randn(*INPUT_SHAPE),
                             Path(folder) / f"course_{course.config.tag()}.onnx",
                             dynamo=True, dynamic_dims={0: "batch"}, metadata=metadata)
