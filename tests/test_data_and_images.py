"""helpers.data.datasets and helpers.data.images: offline photos, digits, loading and preprocessing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.data import datasets as data
from helpers.data.images import (
    ImageReadError,
    center_crop,
    load_image,
    preprocess_digit,
    preprocess_imagenet,
    preprocess_imagenet_torch,
)


@pytest.fixture(scope="module")
def photos() -> list:
    return data.sample_image_paths()


def test_gather_writes_every_photo_and_credits(tmp_path):
    paths = data.gather_sample_images(tmp_path)
    assert [p.name for p in paths] == [p.filename for p in data.SAMPLE_PHOTOS]
    assert all(p.stat().st_size > 10_000 for p in paths)
    credits = (tmp_path / "CREDITS.md").read_text()
    for photo in data.SAMPLE_PHOTOS:
        assert photo.filename in credits and photo.licence in credits


def test_committed_credits_match_the_registry():
    assert (data.IMAGES_DIR / "CREDITS.md").read_text() == data.credits_markdown()


def test_photos_are_real_rgb_images(photos):
    for path in photos:
        image = load_image(path)
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        assert min(image.shape[:2]) >= 224
        assert image.std() > 20  # a photo, not a flat placeholder


def test_torch_free_preprocessing_matches_torchvision_on_every_photo(photos):
    for path in photos:
        image = load_image(path)
        ours = preprocess_imagenet(image)
        reference = preprocess_imagenet_torch(image).numpy()
        assert ours.shape == reference.shape == (1, 3, 224, 224)
        assert ours.dtype == np.float32
        assert np.abs(ours - reference).max() < 1e-5, path.name


def test_preprocessing_accepts_pil_and_portrait_images():
    rng = np.random.default_rng(0)
    portrait = rng.integers(0, 256, size=(400, 300, 3), dtype=np.uint8)
    ours = preprocess_imagenet(Image.fromarray(portrait))
    reference = preprocess_imagenet_torch(portrait).numpy()
    assert np.abs(ours - reference).max() < 1e-5


def test_load_image_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_image(tmp_path / "missing.png")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image at all")
    with pytest.raises(ImageReadError, match="cannot read broken.png"):
        load_image(broken)


def test_preprocess_rejects_wrong_arrays():
    with pytest.raises(ValueError, match=r"uint8 array of shape \(H, W, 3\)"):
        preprocess_imagenet(np.zeros((224, 224, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        preprocess_imagenet(np.zeros((224, 224), dtype=np.uint8))
    with pytest.raises(ValueError, match="smaller than the crop"):
        center_crop(Image.new("RGB", (100, 300)), 224)


def test_digits_splits_are_fixed_stratified_and_disjoint():
    a, b = data.load_digits_splits(), data.load_digits_splits()
    assert np.array_equal(a.x_test, b.x_test) and np.array_equal(a.y_train, b.y_train)
    sizes = len(a.y_train), len(a.y_val), len(a.y_test)
    assert sum(sizes) == 1797 and sizes[0] > 1200 and min(sizes[1:]) > 250
    assert a.x_train.shape[1:] == (64, 64, 3) and a.x_train.dtype == np.uint8
    assert set(np.unique(a.y_test)) == set(range(10))
    train_keys = {x.tobytes() for x in a.x_train}
    overlap = sum(x.tobytes() in train_keys for x in a.x_test)
    assert overlap <= 3  # sklearn's digits holds a few identical images; splits do not leak


def test_digits_splits_are_kept_in_one_file_and_equal_a_fresh_split():
    kept = data.load_digits_splits()
    assert data.digits_splits_file().exists()
    fresh = data._make_digits_splits(data.SPLIT_SEED)
    for name in data.SPLIT_FIELDS:
        a, b = getattr(kept, name), getattr(fresh, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name
    kept.x_test[0] = 0  # each call reads its own arrays: changing one changes no other
    assert np.array_equal(data.load_digits_splits().x_test[0], fresh.x_test[0])


def test_digit_pngs_round_trip_exactly(tmp_path):
    paths = data.save_digit_pngs(tmp_path)
    splits = data.load_digits_splits()
    assert len(paths) == 10
    for path in paths:
        label, index = int(path.stem.split("_")[1]), int(path.stem.split("_")[2])
        assert splits.y_test[index] == label
        assert np.array_equal(load_image(path), splits.x_test[index])


def test_preprocess_digit_shapes_and_range():
    splits = data.load_digits_splits()
    one = preprocess_digit(splits.x_test[0])
    batch = preprocess_digit(splits.x_test[:5])
    assert one.shape == (1, 3, 64, 64) and batch.shape == (5, 3, 64, 64)
    assert np.array_equal(batch[:1], one)
    assert one.min() >= -1.0 and one.max() <= 1.0
    bigger = np.asarray(Image.fromarray(splits.x_test[0]).resize((128, 128)))
    assert preprocess_digit(bigger).shape == (1, 3, 64, 64)
    assert torch.from_numpy(one).dtype == torch.float32
