"""The model store: weights and ONNX files (and their variants) made once, kept in artifacts/bench.

A *variant* is a file built from an exported ONNX file by a recipe (``onnxsim``, an INT8
quantisation, ...). Register the recipe once; the store builds ``<stem>_<variant>.onnx`` the
first time an engine asks for it and reuses it afterwards::

    register_variant("int8", lambda source, target: quantize_dynamic(source, target))
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from helpers.bench.common import (
    EXPORTERS,
    MAX_BATCH,
    MAX_SIZE,
    MIN_SIZE,
    BenchError,
    choices_error,
    validate_model,
)
from helpers.bench.registry import get_engine
from helpers.paths import artifacts_dir, made_once, partial_path

_VARIANTS: dict[str, Callable[[Path, Path], None]] = {}


def register_variant(name: str, build: Callable[[Path, Path], None]) -> None:
    """``build(source, target)`` writes the variant of ONNX file ``source`` to ``target``."""
    if not name.isidentifier():
        raise BenchError(f"variant names are identifiers (letters, digits, _), got {name!r}")
    _VARIANTS[name] = build


def simplify_bytes(path: Path) -> bytes:
    """``onnxsim.simplify`` of an ONNX file, serialised; raises if onnxsim cannot validate it."""
    import onnx
    import onnxsim

    simplified, ok = onnxsim.simplify(onnx.load(str(path)))
    if not ok:
        raise BenchError(f"onnxsim could not validate its simplified {path.name}")
    return simplified.SerializeToString()


register_variant("onnxsim", lambda source, target: target.write_bytes(simplify_bytes(source)))


class ModelStore:
    """Weights and ONNX files for the benchmark, made once and kept under ``artifacts/bench``.

    ImageNet weights are used when torch hub has them cached; otherwise the model gets
    seeded random weights (no download is attempted). Speed does not depend on the weights.
    """

    def __init__(self, exporter: str = "legacy", folder: Path | None = None) -> None:
        if exporter not in EXPORTERS:
            raise choices_error("exporter", exporter, EXPORTERS)
        self.exporter = exporter
        self.folder = folder or artifacts_dir("bench")
        self._models: dict[str, tuple[Any, str]] = {}

    def model(self, name: str):
        """(torch model in eval mode, weights tag ``"imagenet"`` or ``"random"``)."""
        validate_model(name)
        if name not in self._models:
            from helpers.models.imagenet import cached_weights_path, load_imagenet_model

            pretrained = cached_weights_path(name).exists()
            loaded = load_imagenet_model(name, pretrained=pretrained, seed=0)
            self._models[name] = (loaded.model.eval(), "imagenet" if loaded.pretrained else "random")
        return self._models[name]

    def weights_tag(self, name: str) -> str:
        return self.model(name)[1]

    def weights(self, name: str) -> Path:
        """The model's state dict as a file the PyTorch worker loads."""
        import torch

        model, tag = self.model(name)
        path = self.folder / f"{name}_{tag}.pt"
        if not path.exists():
            torch.save(model.state_dict(), path)
        return path

    def onnx(self, name: str, *, dynamic: bool, batch: int = 1, size: int = 224,
             simplified: bool = False, variant: str | None = None) -> Path:
        """The exported file (fixed ``batch x 3 x size x size``, or dynamic B/H/W), or a variant."""
        import torch

        from helpers.export.exporters import export_if_missing

        model, tag = self.model(name)
        shape = "dynamic" if dynamic else f"b{batch}_{size}"
        path = self.folder / f"{name}_{tag}_{self.exporter}_{shape}.onnx"
        example = torch.zeros(1 if dynamic else batch, 3, 224 if dynamic else size,
                              224 if dynamic else size)
        dims = {0: "batch", 2: "height", 3: "width"} if dynamic else None
        said = io.StringIO()
        with contextlib.redirect_stdout(said):  # one line per new file, not one per cell
            export_if_missing(model, example, path, dynamo=self.exporter == "dynamo",
                              dynamic_dims=dims,
                              dim_bounds={"height": (MIN_SIZE, MAX_SIZE),
                                          "width": (MIN_SIZE, MAX_SIZE), "batch": (1, MAX_BATCH)},
                              metadata={"weights": tag})
        for line in said.getvalue().splitlines():
            if not line.startswith("reused"):
                print(line)
        variant = "onnxsim" if simplified else variant
        return self.variant(path, variant) if variant else path

    def variant(self, source: Path, variant: str) -> Path:
        """``source``'s variant file, built by its registered recipe the first time."""
        if variant not in _VARIANTS:
            raise choices_error("variant", variant, _VARIANTS)
        target = source.with_name(f"{source.stem}_{variant}.onnx")
        with made_once(target):  # another process making the same variant: wait for it
            if not target.exists():
                partial = partial_path(target)
                _VARIANTS[variant](source, partial)
                partial.replace(target)  # never leave a half-written file under the final name
        return target

    def files_for(self, engine: str, model: str | None, batch: int, size: int) -> dict[str, str]:
        """The files the engine's worker needs (absolute paths, never printed)."""
        spec = get_engine(engine)
        if spec.files is None or model is None:
            return {}
        if spec.files == "weights":
            return {"weights": str(self.weights(model))}
        dynamic = spec.files == "onnx-dynamic"
        return {"onnx": str(self.onnx(model, dynamic=dynamic, batch=batch, size=size,
                                      variant=spec.variant))}


@lru_cache(maxsize=64)
def model_gflop(name: str, size: int) -> float:
    """GFLOP of one forward pass at batch 1 (multiply and add counted as 2), by torch's counter."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from torchvision.models import get_model

    model = get_model(validate_model(name), weights=None).eval()
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(torch.zeros(1, 3, size, size))
    return counter.get_total_flops() / 1e9
