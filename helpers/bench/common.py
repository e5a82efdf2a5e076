"""What every part of the benchmark shares: its error type, the models, limits and validation."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MODELS = ("resnet18", "mobilenet_v3_small")
EXPORTERS = ("legacy", "dynamo")
REFERENCE_SIZES = (32, 64, 128, 256, 512, 640, 768, 1024)
MIN_SIZE, MAX_SIZE, MAX_BATCH = 32, 2048, 256


class BenchError(ValueError):
    """A benchmark request that cannot be run (unknown model or engine, bad number)."""


def choices_error(kind: str, given: str, allowed: Iterable[str]) -> BenchError:
    """``unknown engine 'x'; expected one of: a, b``."""
    return BenchError(f"unknown {kind} {given!r}; expected one of: {', '.join(allowed)}")


def validate_model(name: str) -> str:
    """Return ``name`` if it is a supported model, else raise :class:`BenchError`."""
    if name not in MODELS:
        raise choices_error("model", name, MODELS)
    return name


def positive_ints(values: str | Sequence[int], what: str, low: int, high: int) -> tuple[int, ...]:
    """Whole numbers from ``"1,16"`` or a list, each within [low, high]."""
    items = values.split(",") if isinstance(values, str) else list(values)
    result = []
    for item in items:
        try:
            number = int(item)
        except (TypeError, ValueError):
            raise BenchError(f"{what} must be whole numbers, got {item!r}") from None
        if not low <= number <= high:
            raise BenchError(f"{what} must be between {low} and {high}, got {number}")
        result.append(number)
    if not result:
        raise BenchError(f"no {what} given")
    return tuple(result)

@dataclass
class Job:
    """What a load function gets: the shape, threads, files and the engine's options."""

    engine: str
    model: str | None
    batch: int
    size: int
    threads: int
    files: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    finishers: list[Callable[[], dict[str, Any]]] = field(default_factory=list)

    def input(self) -> np.ndarray:
        """The seeded random input, float32 ``[batch, 3, size, size]``."""
        shape = (self.batch, 3, self.size, self.size)
        return np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
