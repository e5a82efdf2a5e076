"""Offline course data: real sample photos from installed packages, and the digits dataset.

Nothing here touches the network. ``python -m helpers.data`` gathers everything.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from helpers.paths import DIGITS_DIR, IMAGES_DIR, artifacts_dir, made_once, partial_path, relative

DIGIT_SIZE = 64  # the course model sees 64x64 RGB digits
SPLIT_SEED = 0


@dataclass(frozen=True)
class SamplePhoto:
    """One photo that ships inside an installed package."""

    filename: str
    source: str  # package and accessor
    licence: str
    credit: str
    load: Callable[[], Image.Image | Path]  # an image to save, or a file to copy as it is


def _skimage(name: str) -> Callable[[], Image.Image]:
    def load() -> Image.Image:
        import skimage.data

        array = getattr(skimage.data, name)()
        if isinstance(array, tuple):  # stereo_motorcycle returns (left, right, disparity)
            array = array[0]
        return Image.fromarray(np.asarray(array, dtype=np.uint8)).convert("RGB")

    return load


def _file(package_dir: Callable[[], Path], name: str) -> Callable[[], Path]:
    def locate() -> Path:
        return package_dir() / name

    return locate


def _sklearn_images() -> Path:
    import sklearn.datasets

    return Path(sklearn.datasets.__file__).parent / "images"


def _matplotlib_samples() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "sample_data"


SAMPLE_PHOTOS: tuple[SamplePhoto, ...] = (
    SamplePhoto("chelsea_cat.png", "scikit-image: skimage.data.chelsea()", "CC0",
                "Chelsea the cat, photo by Stefan van der Walt", _skimage("chelsea")),
    SamplePhoto("coffee.png", "scikit-image: skimage.data.coffee()", "CC0",
                "Coffee cup, photo by Rachel Michetti, courtesy of Pikolo Espresso Bar",
                _skimage("coffee")),
    SamplePhoto("astronaut.png", "scikit-image: skimage.data.astronaut()", "public domain",
                "Astronaut Eileen Collins, NASA Great Images database", _skimage("astronaut")),
    SamplePhoto("rocket.png", "scikit-image: skimage.data.rocket()", "public domain",
                "DSCOVR launch on Falcon 9, SpaceX Photos", _skimage("rocket")),
    SamplePhoto("motorcycle.png", "scikit-image: skimage.data.stereo_motorcycle()[0]",
                "Middlebury 2014 stereo dataset (cite Scharstein et al., GCPR 2014)",
                "Motorcycle, Middlebury stereo dataset, left view", _skimage("stereo_motorcycle")),
    SamplePhoto("grace_hopper.jpg", "matplotlib: mpl-data/sample_data/grace_hopper.jpg",
                "public domain (U.S. Navy photo)", "Rear Admiral Grace Hopper",
                _file(_matplotlib_samples, "grace_hopper.jpg")),
    SamplePhoto("china.jpg", "scikit-learn: sklearn/datasets/images/china.jpg", "CC BY 2.0",
                "Summer Palace, Beijing, by danielbuechele on Flickr",
                _file(_sklearn_images, "china.jpg")),
    SamplePhoto("flower.jpg", "scikit-learn: sklearn/datasets/images/flower.jpg", "CC BY 2.0",
                "Flower, by vultilion on Flickr", _file(_sklearn_images, "flower.jpg")),
)


def credits_markdown() -> str:
    """The credits table for ``data/images/CREDITS.md``."""
    lines = [
        "# Sample photos: sources and licences",
        "",
        "Gathered offline by `python -m helpers.data` from packages the course installs.",
        "The photos themselves are not committed; this file is.",
        "",
        "| file | source | licence | credit |",
        "|---|---|---|---|",
    ]
    lines += [f"| {p.filename} | {p.source} | {p.licence} | {p.credit} |" for p in SAMPLE_PHOTOS]
    return "\n".join(lines) + "\n"


def gather_sample_images(folder: Path = IMAGES_DIR, overwrite: bool = False) -> list[Path]:
    """Copy the sample photos into ``folder`` (idempotent) and return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for photo in SAMPLE_PHOTOS:
        target = folder / photo.filename
        if overwrite or not target.exists():
            loaded = photo.load()
            if isinstance(loaded, Path):
                shutil.copyfile(loaded, target)
            else:
                loaded.save(target)
        paths.append(target)
    credits = folder / "CREDITS.md"
    if overwrite or not credits.exists():
        credits.write_text(credits_markdown(), encoding="utf-8")
    return paths


def sample_image_paths() -> list[Path]:
    """Paths of all sample photos, gathering them first if needed."""
    return gather_sample_images()


# ---------------------------------------------------------------- digits (real, labelled)


@dataclass(frozen=True)
class DigitsSplits:
    """scikit-learn's digits as 64x64 RGB uint8 images with fixed train/val/test splits."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


SPLIT_FIELDS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")


def digit_to_rgb(image_8x8: np.ndarray, size: int = DIGIT_SIZE) -> np.ndarray:
    """Turn one 8x8 digit (values 0..16) into a ``size`` x ``size`` RGB uint8 image."""
    gray = np.clip(np.asarray(image_8x8, dtype=np.float64) * (255.0 / 16.0), 0, 255)
    small = Image.fromarray(gray.round().astype(np.uint8), mode="L")
    return np.asarray(small.resize((size, size), Image.BILINEAR).convert("RGB"))


def _make_digits_splits(seed: int) -> DigitsSplits:
    """The splits computed from scikit-learn's digits (what :func:`load_digits_splits` keeps)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = np.stack([digit_to_rgb(img) for img in digits.images])
    labels = digits.target.astype(np.int64)
    x_train, x_rest, y_train, y_rest = train_test_split(
        images, labels, test_size=0.30, random_state=seed, stratify=labels
    )
    x_val, x_test, y_val, y_test = train_test_split(
        x_rest, y_rest, test_size=0.50, random_state=seed, stratify=y_rest
    )
    return DigitsSplits(x_train, y_train, x_val, y_val, x_test, y_test)


def digits_splits_file(seed: int = SPLIT_SEED) -> Path:
    """Where the splits for ``seed`` are kept: one file per installed scikit-learn and Pillow
    (the two packages that decide the split and the resized images)."""
    from importlib.metadata import version

    return artifacts_dir("data") / (f"digits_splits_s{seed}_sklearn{version('scikit-learn')}"
                                    f"_pillow{version('pillow')}.npz")


def load_digits_splits(seed: int = SPLIT_SEED) -> DigitsSplits:
    """Seeded 70/15/15 split of the 1,797 digits, stratified by label.

    Computed once (importing scikit-learn and resizing every image takes over a second) and
    kept in ``artifacts/data/``; every call returns fresh arrays read from that file.
    """
    path = digits_splits_file(seed)
    if not path.exists():
        with made_once(path):
            if not path.exists():
                splits = _make_digits_splits(seed)
                partial = partial_path(path)
                np.savez(partial, **{name: getattr(splits, name) for name in SPLIT_FIELDS})
                os.replace(partial, path)
                return splits
    with np.load(path) as saved:
        return DigitsSplits(**{name: saved[name] for name in SPLIT_FIELDS})


def save_digit_pngs(folder: Path = DIGITS_DIR, count: int = 10) -> list[Path]:
    """Save the first test digit of each class (up to ``count``) as ``digit_<label>_<i>.png``."""
    folder.mkdir(parents=True, exist_ok=True)
    splits = load_digits_splits()
    paths: list[Path] = []
    for label in range(10):
        if len(paths) >= count:
            break
        index = int(np.flatnonzero(splits.y_test == label)[0])
        path = folder / f"digit_{label}_{index:03d}.png"
        if not path.exists():
            Image.fromarray(splits.x_test[index]).save(path)
        paths.append(path)
    return paths


def digit_png_paths() -> list[Path]:
    """Paths of the digit PNGs, writing them first if needed."""
    return save_digit_pngs()


def main() -> None:
    photos = gather_sample_images()
    digits = save_digit_pngs()
    print(f"{len(photos)} sample photos in {relative(IMAGES_DIR)}/, "
          f"{len(digits)} digit PNGs in {relative(DIGITS_DIR)}/")


if __name__ == "__main__":
    main()
