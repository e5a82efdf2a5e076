"""Class names (ImageNet, digits), softmax and top-k, all in numpy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from helpers.paths import DATA_DIR

IMAGENET_CLASSES_FILE = DATA_DIR / "imagenet_classes.txt"
DIGIT_CLASSES = tuple(str(i) for i in range(10))


def imagenet_categories(path: Path = IMAGENET_CLASSES_FILE) -> list[str]:
    """The 1,000 ImageNet class names, one per line (written from torchvision's metadata)."""
    if not path.exists():
        write_imagenet_categories(path)
    names = path.read_text(encoding="utf-8").splitlines()
    if len(names) != 1000:
        raise ValueError(f"{path.name}: expected 1000 class names, found {len(names)}")
    return names


def write_imagenet_categories(path: Path = IMAGENET_CLASSES_FILE) -> Path:
    """Write torchvision's ImageNet class names (no download needed) to ``path``."""
    from torchvision.models import ResNet18_Weights

    path.write_text("\n".join(ResNet18_Weights.IMAGENET1K_V1.meta["categories"]) + "\n",
                    encoding="utf-8")
    return path


def labels_for(kind: str) -> list[str]:
    """Class names by kind: ``'imagenet'`` or ``'digits'``."""
    if kind == "imagenet":
        return imagenet_categories()
    if kind == "digits":
        return list(DIGIT_CLASSES)
    raise ValueError(f"unknown label set {kind!r}; expected 'imagenet' or 'digits'")


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=axis, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=axis, keepdims=True)


@dataclass(frozen=True)
class Prediction:
    """One of the top-k classes."""

    rank: int
    index: int
    label: str
    probability: float


def top_k(probabilities: np.ndarray, labels: list[str] | tuple[str, ...], k: int = 5) -> list[Prediction]:
    """The ``k`` most probable classes of one probability vector, best first."""
    probabilities = np.asarray(probabilities).reshape(-1)
    if len(labels) != probabilities.size:
        raise ValueError(f"expected {probabilities.size} labels, got {len(labels)}")
    if not 1 <= k <= probabilities.size:
        raise ValueError(f"k must be between 1 and {probabilities.size}, got {k}")
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [Prediction(r + 1, int(i), labels[int(i)], float(probabilities[i]))
            for r, i in enumerate(order)]


def format_top_k(predictions: list[Prediction]) -> str:
    """Readable lines: ``1. tabby (0.8123)``."""
    return "\n".join(f"{p.rank}. {p.label} ({p.probability:.4f})" for p in predictions)
