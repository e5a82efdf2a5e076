"""What every notebook does first: seeds, quick mode, its working folder and a versions line."""

from __future__ import annotations

import importlib.util
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from helpers.paths import artifacts_dir

T = TypeVar("T")


def quick_mode() -> bool:
    """True when ``COURSE_QUICK=1``: loops, grids and epochs shrink; code paths stay the same."""
    return os.environ.get("COURSE_QUICK") == "1"


@dataclass(frozen=True)
class Course:
    """A notebook's set-up: its name, seed, quick mode and working folder."""

    name: str
    seed: int
    quick: bool
    work: Path

    def sizes(self, *, quick: T, full: T) -> T:
        """``quick`` under ``COURSE_QUICK=1`` (tests, live demos), else ``full``."""
        return quick if self.quick else full


def seed_everything(seed: int) -> None:
    """Seed Python's and NumPy's generators, and PyTorch's when it is installed."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    if importlib.util.find_spec("torch") is not None:
        import torch

        torch.manual_seed(seed)


def start(name: str, seed: int = 0, show: bool = True) -> Course:
    """Seed everything, read quick mode, create ``artifacts/<name>/`` and print the versions line.

    ``name`` is the notebook's short name (``"nb05"``); generated files go to its folder,
    which git ignores.
    """
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"expected a short folder name such as 'nb05', got {name!r}")
    seed_everything(seed)
    course = Course(name=name, seed=seed, quick=quick_mode(), work=artifacts_dir(name))
    if show:
        from helpers import versions_line

        mode = "quick mode (COURSE_QUICK=1)" if course.quick else "full mode"
        print(f"{versions_line()} | {mode}")
    return course
