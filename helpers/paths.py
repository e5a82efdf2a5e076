"""Where things live: the repository root and the ignored folders for generated files."""

from __future__ import annotations

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
