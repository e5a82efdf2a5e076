"""All-in-one classifiers: uint8 pixels in, top-k probabilities and class indices out.

``ImagePipeline`` wraps a classifier with its preprocessing (resize the shorter side with
antialiasing, centre crop, scale, normalise) and postprocessing (softmax, top-k), so the
exported ONNX file needs no client-side code. ``export_pipeline`` writes it with the dynamo
exporter, dynamic height and width, and metadata that marks it as all-in-one. Notebook 13
writes the same modules out in its cells (the lesson) and checks that they equal these, which
the command line's tests and the chapter's exercise solution use.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from helpers.data.images import (
    CROP_SIZE,
    DIGITS_MEAN,
    DIGITS_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    RESIZE_SIZE,
)
from helpers.export.exporters import EXPORT_KEY, export_key, stored_export_key
from helpers.runtime.pipeline import IMAGE_INPUT, OUTPUTS, PIPELINE_KEY, PIPELINE_KIND


@dataclass(frozen=True)
class Preprocessing:
    """What a classifier expects: resize shorter side, centre crop, mean and std per channel."""

    resize: int
    crop: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    mode: str = "bilinear"  # or "bicubic"
    antialias: bool = True

    def describe(self) -> str:
        aa = "antialiased" if self.antialias else "no antialias"
        mean, std = ([round(v, 4) for v in values] for values in (self.mean, self.std))
        return (f"resize shorter side to {self.resize} ({self.mode}, {aa}), centre crop "
                f"{self.crop}, /255, mean {mean}, std {std}")


IMAGENET = Preprocessing(RESIZE_SIZE, CROP_SIZE, tuple(map(float, IMAGENET_MEAN)),
                         tuple(map(float, IMAGENET_STD)))
DIGITS = Preprocessing(64, 64, (DIGITS_MEAN,) * 3, (DIGITS_STD,) * 3)


def resized_size(height, width, size: int):
    """torchvision's "shorter side to ``size``" in integer arithmetic, without a branch.

    ``size * side // shorter`` equals ``int(size * side / shorter)`` and gives ``size`` for the
    shorter side; ``min`` keeps height and width symbolic under ``torch.export``.
    """
    shorter = torch.sym_min(height, width)
    return size * height // shorter, size * width // shorter


def crop_start(length, crop: int):
    """``int(round((length - crop) / 2))`` with Python's round-half-to-even, in integers."""
    excess = length - crop
    half = excess // 2
    return half + (excess % 2) * (half % 2)


class ResizeToUint8(nn.Module):
    """uint8 [H, W, 3] -> resized uint8 [1, 3, h, w], shorter side ``size``, rounded like PIL."""

    def __init__(self, size: int, mode: str = "bilinear", antialias: bool = True) -> None:
        super().__init__()
        self.size, self.mode, self.antialias = size, mode, antialias

    def extra_repr(self) -> str:
        return f"size={self.size}, mode={self.mode!r}, antialias={self.antialias}"

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = image.permute(2, 0, 1).unsqueeze(0).to(torch.float32)
        height, width = resized_size(image.shape[0], image.shape[1], self.size)
        x = F.interpolate(x, size=(height, width), mode=self.mode, align_corners=False,
                          antialias=self.antialias)
        return x.round().clamp(0, 255).to(torch.uint8)


class Preprocess(nn.Module):
    """uint8 [H, W, 3] -> float32 [1, 3, crop, crop], normalised: the model's input."""

    def __init__(self, spec: Preprocessing) -> None:
        super().__init__()
        self.spec = spec
        self.resize = ResizeToUint8(spec.resize, spec.mode, spec.antialias)
        self.register_buffer("mean", torch.tensor(spec.mean, dtype=torch.float32).reshape(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(spec.std, dtype=torch.float32).reshape(1, 3, 1, 1))

    def extra_repr(self) -> str:
        return f"crop={self.spec.crop}"

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.resize(image).to(torch.float32)
        crop = self.spec.crop
        top, left = crop_start(x.shape[2], crop), crop_start(x.shape[3], crop)
        x = x[:, :, top:top + crop, left:left + crop]
        return (x / 255.0 - self.mean) / self.std


class ImagePipeline(nn.Module):
    """uint8 [H, W, 3] -> (probabilities [k], class indices [k]): the whole classifier."""

    def __init__(self, classifier: nn.Module, spec: Preprocessing, k: int = 5) -> None:
        super().__init__()
        self.preprocess = Preprocess(spec)
        self.classifier = classifier.eval()
        self.k = k

    def extra_repr(self) -> str:
        return f"k={self.k}"

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.classifier(self.preprocess(image))
        probabilities = torch.softmax(logits[0], dim=-1)
        values, indices = torch.topk(probabilities, self.k)
        return values, indices


def example_image(height: int = 300, width: int = 400, seed: int = 0) -> torch.Tensor:
    """A random uint8 [H, W, 3] image to trace with (any size: the axes are exported dynamic)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (height, width, 3), dtype=torch.uint8, generator=generator)


def export_image_module(module: nn.Module, path: str | Path, *,
                        output_names: Sequence[str] = ("output",),
                        metadata: Mapping[str, str] | None = None,
                        max_side: int = 8192) -> Path:
    """Export a module whose input is a uint8 [H, W, 3] image, H and W dynamic (dynamo).

    A file made earlier from the same module, weights, arguments and code of this file is
    reused (its key is in the metadata, as with ``helpers.export.exporters.export_if_missing``).
    """
    import onnx

    path = Path(path)
    key = export_key(module, example_image(), output_names=tuple(output_names),
                     metadata=sorted((metadata or {}).items()), max_side=max_side,
                     code=hashlib.sha256(Path(__file__).read_bytes()).hexdigest())
    if path.exists() and stored_export_key(path) == key:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    height = torch.export.Dim("height", min=2, max=max_side)
    width = torch.export.Dim("width", min=2, max=max_side)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), (example_image(),), path, dynamo=True,
                          input_names=[IMAGE_INPUT], output_names=list(output_names),
                          dynamic_shapes=({0: height, 1: width},), external_data=False)
    proto = onnx.load(str(path))
    onnx.helper.set_model_props(proto, {**{p.key: p.value for p in proto.metadata_props},
                                        **{k: str(v) for k, v in (metadata or {}).items()},
                                        EXPORT_KEY: key})
    onnx.save(proto, str(path))
    return path


def pipeline_metadata(spec: Preprocessing, classes: int, k: int, labels: str,
                      weights: str) -> dict[str, str]:
    """The metadata an all-in-one file carries (read by ``python -m helpers.classify``)."""
    return {PIPELINE_KEY: PIPELINE_KIND, "preprocessing": spec.describe(),
            "classes": str(classes), "topk": str(k), "labels": labels, "weights": weights,
            "input": "uint8 [height, width, 3] RGB, any size",
            "outputs": "probabilities float32 [k], indices int64 [k]"}


def export_pipeline(classifier: nn.Module, spec: Preprocessing, path: str | Path, *,
                    classes: int, k: int = 5, labels: str = "imagenet",
                    weights: str = "unknown") -> Path:
    """Export ``ImagePipeline(classifier, spec, k)`` as one all-in-one ONNX file."""
    if not 1 <= k <= classes:
        raise ValueError(f"k must be between 1 and {classes} classes, got {k}")
    return export_image_module(ImagePipeline(classifier, spec, k), path, output_names=OUTPUTS,
                               metadata=pipeline_metadata(spec, classes, k, labels, weights))



def topk_as_input(path: str | Path, out_path: str | Path, name: str = "k") -> Path:
    """Turn the fixed k of an all-in-one file into a graph input ``k`` (int64 [1]).

    torch.export bakes ``k`` in as a constant; ONNX ``TopK`` reads it from a tensor, so
    rewiring that tensor to a new graph input lets one file serve any k up to the classes.
    """
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    node = next((n for n in graph.node if n.op_type == "TopK"), None)
    if node is None:
        raise ValueError(f"{Path(path).name} has no TopK node")
    constant = node.input[1]
    node.input[1] = name
    graph.input.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.INT64, [1]))
    if not any(constant in n.input for n in graph.node):
        kept = [i for i in graph.initializer if i.name != constant]
        del graph.initializer[:]
        graph.initializer.extend(kept)
    for output in graph.output:
        if output.name in node.output:
            output.type.tensor_type.shape.dim[-1].dim_param = name
    onnx.helper.set_model_props(model, {**{p.key: p.value for p in model.metadata_props},
                                        "topk": f"input '{name}'"})
    onnx.checker.check_model(model)
    onnx.save(model, str(out_path))
    return Path(out_path)
