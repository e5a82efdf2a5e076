"""Where things live: the repository root and the ignored folders for generated files."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = REPO_ROOT / "data"
IMAGES_DIR = DATA_DIR / "images"
DIGITS_DIR = DATA_DIR / "digits"
REFERENCE_DIR = DATA_DIR / "reference"  # the reference tutorial's published figures
ARTIFACTS_DIR = REPO_ROOT / "artifacts"
MODELS_DIR = ARTIFACTS_DIR / "models"
REPORTS_DIR = REPO_ROOT / "reports"
BUILD_DIR = REPO_ROOT / "build"


def artifacts_dir(*parts: str) -> Path:
    """Return (and create) a folder under the ignored ``artifacts/`` folder."""
    path = ARTIFACTS_DIR.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def relative(path: Path | str) -> str:
    """Show a path relative to the repository, so outputs never print machine paths."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return path.name


@contextlib.contextmanager
def made_once(path: Path | str, timeout: float = 1800) -> Iterator[None]:
    """Hold a lock beside ``path`` while it is made or checked, so two processes (two test
    workers, two notebooks open at once) never build the same file together: the second
    waits, then finds the file the first made."""
    from filelock import FileLock

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path.with_name(path.name + ".lock")), timeout=timeout):
        yield


def partial_path(path: Path | str) -> Path:
    """A temporary name beside ``path`` (this process's own) to write to before renaming it
    into place with ``os.replace``: nobody ever reads a half-written file."""
    path = Path(path)
    return path.with_name(f".{path.stem}.{os.getpid()}.partial{path.suffix}")
