"""Detection data made offline: scikit-learn's digits placed on canvases, boxes and classes known.

Each canvas is a grey ``size`` x ``size`` uint8 image with 1 to ``max_digits`` handwritten
digits at random positions and scales (never overlapping), plus distractors (strokes and
blobs that are not digits) and noise. Training canvases use digits from the training split
only, held-out canvases digits from the test split only. Seeded, and cached as ``.npz``
under ``artifacts/detection_data``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

CANVAS_SIZE = 128
NUM_CLASSES = 10


@dataclass
class CanvasSet:
    """Canvases with their ground truth: one (boxes, labels) pair per canvas."""

    images: np.ndarray  # [N, size, size] uint8
    boxes: list[np.ndarray]  # per canvas [k, 4] float32, (x1, y1, x2, y2) in pixels
    labels: list[np.ndarray]  # per canvas [k] int64, the digit 0..9

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: slice) -> CanvasSet:
        if not isinstance(index, slice):
            raise TypeError(f"index a CanvasSet with a slice, got {type(index).__name__}")
        return CanvasSet(self.images[index], self.boxes[index], self.labels[index])

    def objects(self) -> int:
        """Total number of digits over all canvases."""
        return int(sum(len(b) for b in self.labels))


def digit_splits(seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The 8x8 digits (values 0..16) split 70/30 by a stratified, seeded split: train and test."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.images, digits.target.astype(np.int64), test_size=0.30, random_state=seed,
        stratify=digits.target)
    return {"train": (x_train, y_train), "test": (x_test, y_test)}


def _ink_box(digit: np.ndarray) -> tuple[int, int, int, int]:
    """Rows and columns of an 8x8 digit that hold ink: (top, bottom, left, right), inclusive."""
    rows = np.flatnonzero(digit.max(axis=1) > 2)
    cols = np.flatnonzero(digit.max(axis=0) > 2)
    return int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])


def _overlaps(box: np.ndarray, others: list[np.ndarray], gap: float) -> bool:
    return any(box[0] < o[2] + gap and o[0] < box[2] + gap and box[1] < o[3] + gap
               and o[1] < box[3] + gap for o in others)


def _distractors(canvas: np.ndarray, rng: np.random.Generator, count: int) -> None:
    """Draw strokes and blobs that are not digits (in place)."""
    size = canvas.shape[0]
    for _ in range(count):
        grey = float(rng.uniform(0.3, 0.8))
        if rng.random() < 0.5:
            p, q = rng.integers(0, size, 2), rng.integers(0, size, 2)
            cv2.line(canvas, (int(p[0]), int(p[1])), (int(q[0]), int(q[1])), grey,
                     int(rng.integers(1, 3)))
        else:
            centre = rng.integers(0, size, 2)
            axes = rng.integers(2, 6, 2)
            cv2.ellipse(canvas, (int(centre[0]), int(centre[1])), (int(axes[0]), int(axes[1])),
                        float(rng.uniform(0, 180)), 0, 360, grey, -1)


def make_canvases(count: int, split: str = "train", seed: int = 0, size: int = CANVAS_SIZE,
                  max_digits: int = 4, digit_px: tuple[int, int] = (16, 40),
                  noise: float = 0.06, distractors: int = 3) -> CanvasSet:
    """``count`` seeded canvases built from the ``split`` digits ("train" or "test").

    Each digit is scaled (bilinear) so that its 8x8 cell becomes ``digit_px`` pixels on a
    side; its box is the scaled extent of the rows and columns that hold ink.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if count < 1 or max_digits < 1:
        raise ValueError(f"expected count >= 1 and max_digits >= 1, got {count}, {max_digits}")
    if not (4 <= digit_px[0] <= digit_px[1] <= size):
        raise ValueError(f"digit sizes {digit_px} must lie within 4..{size}")
    images8, labels8 = digit_splits()[split]
    rng = np.random.default_rng([seed, 0 if split == "train" else 1])
    canvases = np.zeros((count, size, size), np.uint8)
    all_boxes, all_labels = [], []
    for n in range(count):
        canvas = np.zeros((size, size), np.float32)
        _distractors(canvas, rng, int(rng.integers(0, distractors + 1)))
        boxes: list[np.ndarray] = []
        labels: list[int] = []
        for _ in range(int(rng.integers(1, max_digits + 1))):
            index = int(rng.integers(len(images8)))
            side = int(rng.integers(digit_px[0], digit_px[1] + 1))
            digit = cv2.resize(images8[index].astype(np.float32) / 16.0, (side, side),
                               interpolation=cv2.INTER_LINEAR)
            top, bottom, left, right = _ink_box(images8[index])
            scale = side / 8.0
            for _attempt in range(20):  # find a free place; give up on this digit otherwise
                x, y = rng.integers(0, size - side + 1, 2)
                box = np.array([x + left * scale, y + top * scale, x + (right + 1) * scale,
                                y + (bottom + 1) * scale], np.float32)
                if not _overlaps(box, boxes, gap=2.0):
                    patch = canvas[y:y + side, x:x + side]
                    np.maximum(patch, digit * float(rng.uniform(0.7, 1.0)), out=patch)
                    boxes.append(box)
                    labels.append(int(labels8[index]))
                    break
        canvas += rng.normal(0.0, noise, canvas.shape).astype(np.float32)
        canvases[n] = np.clip(np.rint(canvas * 255.0), 0, 255).astype(np.uint8)
        all_boxes.append(np.array(boxes, np.float32).reshape(-1, 4))
        all_labels.append(np.array(labels, np.int64))
    return CanvasSet(canvases, all_boxes, all_labels)


def save_canvases(canvases: CanvasSet, path: Path) -> None:
    """Write a CanvasSet to one ``.npz`` file (boxes and labels flattened with offsets)."""
    counts = np.array([len(b) for b in canvases.labels], np.int64)
    np.savez_compressed(path, images=canvases.images, counts=counts,
                        boxes=np.concatenate(canvases.boxes).reshape(-1, 4),
                        labels=np.concatenate(canvases.labels))


def load_canvases(path: Path) -> CanvasSet:
    """Read a CanvasSet written by :func:`save_canvases`."""
    with np.load(path) as saved:
        offsets = np.concatenate([[0], np.cumsum(saved["counts"])])
        boxes, labels = saved["boxes"], saved["labels"]
        spans = list(zip(offsets[:-1], offsets[1:], strict=True))
        return CanvasSet(saved["images"], [boxes[a:b] for a, b in spans],
                         [labels[a:b] for a, b in spans])


def cached_canvases(count: int, split: str = "train", seed: int = 0,
                    folder: Path | None = None) -> CanvasSet:
    """:func:`make_canvases` with defaults, made once and cached under ``artifacts/``."""
    from helpers.paths import artifacts_dir

    folder = Path(folder) if folder else artifacts_dir("detection_data")
    path = folder / f"canvases_{split}_n{count}_s{seed}_{CANVAS_SIZE}.npz"
    if path.exists():
        return load_canvases(path)
    canvases = make_canvases(count, split, seed)
    save_canvases(canvases, path)
    return canvases
