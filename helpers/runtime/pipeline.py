"""Running an all-in-one classifier file (pixels in, top-k out) without PyTorch.

The file is written by ``helpers.export.pipeline.export_pipeline``; this module only needs
onnxruntime and numpy, so the command line (``python -m helpers.classify``) can use it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from helpers.data.labels import Prediction
from helpers.runtime.sessions import input_specs, run

PIPELINE_KEY = "pipeline"  # metadata key that marks an all-in-one file
PIPELINE_KIND = "uint8-image-to-topk"
IMAGE_INPUT = "image"  # uint8 [H, W, 3], RGB
OUTPUTS = ("probabilities", "indices")  # float32 [k], int64 [k]
K_INPUT = "k"  # int64 [1], when k is an input rather than fixed


def is_pipeline(session) -> bool:
    """True for an all-in-one file: marked in its metadata, or one uint8 [H, W, 3] input."""
    if session.get_modelmeta().custom_metadata_map.get(PIPELINE_KEY) == PIPELINE_KIND:
        return True
    specs = [spec for spec in input_specs(session) if spec.name != K_INPUT]
    return (len(specs) == 1 and np.dtype(specs[0].dtype) == np.uint8
            and len(specs[0].shape) == 3 and specs[0].shape[-1] == 3)


def pipeline_k(session) -> int | None:
    """How many classes the file returns (its fixed top-k), or None when not declared."""
    dim = session.get_outputs()[0].shape[-1]
    return dim if isinstance(dim, int) else None


def pipeline_classes(session) -> int | None:
    """Number of classes the wrapped classifier has, from the file's metadata."""
    value = session.get_modelmeta().custom_metadata_map.get("classes")
    return int(value) if value and value.isdigit() else None


def classify_pixels(session, image: np.ndarray, labels: Sequence[str],
                    k: int | None = None) -> list[Prediction]:
    """Top-k predictions of an all-in-one file for one uint8 [H, W, 3] RGB image.

    A file whose k is an input (``helpers.export.pipeline.topk_as_input``) gets ``k`` (default 5).
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        hint = (" (a float image in [0, 1]: multiply by 255, round and cast with "
                "np.clip(x * 255 + 0.5, 0, 255).astype(np.uint8) first)"
                if image.dtype.kind == "f" else "")
        raise ValueError(f"expected RGB pixels as a uint8 array of shape (H, W, 3), got "
                         f"{image.dtype} {image.shape}{hint}")
    pixels = np.ascontiguousarray(image)
    names = [spec.name for spec in input_specs(session)]
    if K_INPUT in names:
        k = 5 if k is None else k
        feeds = {names[0]: pixels, K_INPUT: np.array([k], dtype=np.int64)}
        probabilities, indices = run(session, feeds)[:2]
    else:
        probabilities, indices = run(session, pixels)[:2]
    k = len(indices) if k is None else k
    if k > len(indices):
        raise ValueError(f"the model returns its top {len(indices)} classes; asked for {k}")
    for index in indices[:k]:
        if not 0 <= int(index) < len(labels):
            raise ValueError(f"model returned class {int(index)} but there are {len(labels)} labels")
    return [Prediction(rank + 1, int(i), labels[int(i)], float(p))
            for rank, (p, i) in enumerate(zip(probabilities[:k], indices[:k], strict=True))]
