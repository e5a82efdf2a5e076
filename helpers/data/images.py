"""Images from disk and ImageNet preprocessing, with torchvision and without torch."""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
RESIZE_SIZE = 256
CROP_SIZE = 224
DIGITS_MEAN = 0.5
DIGITS_STD = 0.5
# Pillow warns above this many pixels and refuses twice as many; the course refuses anything
# above it, with a message of its own (a 69-byte PNG can claim 20000×20000 pixels).
MAX_PIXELS = 89_478_485


class ImageReadError(ValueError):
    """An image file exists but cannot be decoded."""


def _reason(error: Exception) -> str:
    """Pillow's message without the in-memory file's repr (``<_io.BytesIO object at 0x…>``)."""
    text = re.sub(r"\s*<_io\.BytesIO object at 0x[0-9a-fA-F]+>", "", str(error)).strip()
    return text or type(error).__name__


def decode_pil(data: bytes, name: str = "image", max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode image bytes (PNG, JPEG, ...) as a loaded RGB Pillow image; see ``decode_image``.

    A service uses this form: the preprocessing resizes the Pillow image directly, without the
    two full-size copies a numpy array costs.
    """
    if not data:
        raise ImageReadError(f"{name} is empty (0 bytes): expected an image file")
    try:
        with warnings.catch_warnings():  # we say it ourselves, without Pillow's file path
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        image = None
    except UnidentifiedImageError as error:
        raise ImageReadError(
            f"cannot read {name} as an image: expected PNG, JPEG or another format Pillow "
            f"reads, got {len(data):,} bytes starting {data[:8]!r}"
        ) from error
    except (OSError, ValueError) as error:
        raise ImageReadError(
            f"cannot read {name} as an image (expected PNG, JPEG or another format "
            f"Pillow reads): {_reason(error)}"
        ) from error
    if image is None:  # Pillow refused before we could look: read the size from the header
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
            try:
                image = Image.open(io.BytesIO(data))
            finally:
                Image.MAX_IMAGE_PIXELS = limit
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise ImageReadError(
            f"{name}: {width}×{height} = {width * height / 1e6:.1f} megapixels, more than "
            f"the {max_pixels / 1e6:.1f} megapixels allowed (a decompression bomb?); "
            "resize it first"
        )
    try:
        image.load()
        return image if image.mode == "RGB" else image.convert("RGB")
    except (OSError, ValueError) as error:  # truncated or corrupt pixel data
        raise ImageReadError(f"cannot read {name} as an image: {_reason(error)}") from error


def decode_image(data: bytes, name: str = "image", max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode image bytes (PNG, JPEG, ...) as an RGB uint8 array of shape (H, W, 3).

    ``name`` is how errors refer to the source (a file name, "upload"). Raises
    ``ImageReadError`` for empty, corrupt or truncated data and for images above
    ``max_pixels`` (checked from the header, before anything is decoded).
    """
    with decode_pil(data, name, max_pixels) as image:
        return np.asarray(image, dtype=np.uint8).copy()


def load_image(path: str | Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read an image file as an RGB uint8 array of shape (H, W, 3); see ``decode_image``."""
    path = Path(path)
    if path.is_dir():
        raise ImageReadError(f"{path.name} is a directory, not an image file")
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    return decode_image(path.read_bytes(), path.name, max_pixels)


def _as_pil(image: np.ndarray | Image.Image) -> Image.Image:
    if isinstance(image, Image.Image):  # resizing makes a new image: an RGB one is used as is
        return image if image.mode == "RGB" else image.convert("RGB")
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(
            f"expected an RGB image as uint8 array of shape (H, W, 3), "
            f"got {array.shape} {array.dtype}"
        )
    return Image.fromarray(array)


def resize_shorter_side(image: Image.Image, size: int) -> Image.Image:
    """Resize so the shorter side is ``size`` (bilinear, antialiased), as torchvision does."""
    width, height = image.size
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = size, int(size * long / short)
    new_w, new_h = (new_short, new_long) if width <= height else (new_long, new_short)
    if (new_w, new_h) == (width, height):
        return image
    return image.resize((new_w, new_h), Image.BILINEAR)


def center_crop(image: Image.Image, size: int) -> Image.Image:
    """Crop the central ``size`` x ``size`` square (same rounding as torchvision)."""
    width, height = image.size
    if width < size or height < size:
        raise ValueError(f"image {width}x{height} is smaller than the crop {size}x{size}")
    top = int(round((height - size) / 2.0))
    left = int(round((width - size) / 2.0))
    return image.crop((left, top, left + size, top + size))


def preprocess_imagenet(
    image: np.ndarray | Image.Image, resize_size: int = RESIZE_SIZE, crop_size: int = CROP_SIZE
) -> np.ndarray:
    """Torch-free ImageNet preprocessing: resize, centre crop, scale, normalise.

    Returns float32 of shape (1, 3, crop_size, crop_size), ready for an ONNX model.
    """
    pil = center_crop(resize_shorter_side(_as_pil(image), resize_size), crop_size)
    array = np.asarray(pil, dtype=np.float32) / 255.0
    array = (array - IMAGENET_MEAN) / IMAGENET_STD
    return np.ascontiguousarray(array.transpose(2, 0, 1)[None], dtype=np.float32)


def preprocess_imagenet_torch(image: np.ndarray | Image.Image):  # -> torch.Tensor
    """Reference preprocessing: torchvision's own ``ResNet18_Weights.IMAGENET1K_V1.transforms()``.

    Returns a float32 tensor of shape (1, 3, 224, 224).
    """
    from torchvision.models import ResNet18_Weights

    transform = ResNet18_Weights.IMAGENET1K_V1.transforms()
    return transform(_as_pil(image)).unsqueeze(0)


def preprocess_digit(image: np.ndarray | Image.Image, size: int = 64) -> np.ndarray:
    """Preprocessing for the course's digits model: RGB, ``size`` x ``size``, scaled to [-1, 1].

    Returns float32 of shape (1, 3, size, size). Batches of arrays (N, H, W, 3) work too.
    """
    if isinstance(image, Image.Image):
        pil = _as_pil(image)  # no full-size numpy copy of a large upload
    else:
        array = np.asarray(image)
        if array.ndim == 4:
            return np.concatenate([preprocess_digit(one, size) for one in array])
        pil = _as_pil(array)
    if pil.size != (size, size):
        pil = pil.resize((size, size), Image.BILINEAR)
    scaled = np.asarray(pil, dtype=np.float32) / 255.0
    scaled = (scaled - DIGITS_MEAN) / DIGITS_STD
    return np.ascontiguousarray(scaled.transpose(2, 0, 1)[None], dtype=np.float32)
