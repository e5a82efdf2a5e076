"""One place for both ONNX exporters: ``dynamo=True`` (torch.export) and legacy TorchScript."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from helpers.paths import ARTIFACTS_DIR

EXPORTERS = ("dynamo", "torchscript")


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote and how."""

    path: Path
    exporter: str  # "dynamo" or "torchscript"
    opset: int
    seconds: float
    size_bytes: int


def _dims_for_dynamo(dynamic_dims: Mapping[int, str],
                     bounds: Mapping[str, tuple[int, int]] | None) -> dict[int, object]:
    """Map {axis: name} to torch.export ``Dim`` objects; axes sharing a name share a Dim."""
    dims: dict[str, object] = {}
    spec: dict[int, object] = {}
    for axis, name in dynamic_dims.items():
        if name not in dims:
            low, high = (bounds or {}).get(name, (1, 4096))
            dims[name] = torch.export.Dim(name, min=low, max=high)
        spec[axis] = dims[name]
    return spec


def export_onnx(
    model: nn.Module,
    example_input: torch.Tensor,
    path: str | Path,
    *,
    dynamo: bool = True,
    opset: int | None = None,
    dynamic_dims: Mapping[int, str] | None = None,
    dim_bounds: Mapping[str, tuple[int, int]] | None = None,
    input_name: str = "input",
    output_name: str = "logits",
    quiet: bool = True,
    metadata: Mapping[str, str] | None = None,
    **kwargs,
) -> ExportResult:
    """Export ``model`` (one image-batch input, one output) to ``path``.

    ``dynamic_dims`` names the input axes that may vary, e.g. ``{0: "batch", 2: "height",
    3: "width"}``. The dynamo exporter gets them as ``dynamic_shapes`` (with ``dim_bounds``
    as min/max); the legacy exporter as ``dynamic_axes`` (batch also on the output).
    ``opset=None`` leaves the opset to ``torch.onnx.export`` (20 for both exporters in torch
    2.14; the tests check that). Weights are stored inside the one file (no ``.onnx.data``
    beside it). ``metadata`` is
    written into the file's ``metadata_props`` (e.g. ``{"weights": "random"}``).
    Extra ``kwargs`` go to ``torch.onnx.export`` unchanged.
    """
    from helpers.paths import partial_path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = partial_path(path)
    if example_input.ndim != 4:
        raise ValueError(f"expected an example input of shape [B, C, H, W], got {tuple(example_input.shape)}")
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if quiet:  # hide progress lines and deprecation warnings; errors still raise
            stack.enter_context(warnings.catch_warnings())
            warnings.simplefilter("ignore")
            stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
        if dynamo:
            dynamic_shapes = (_dims_for_dynamo(dynamic_dims, dim_bounds),) if dynamic_dims else None
            torch.onnx.export(
                model, (example_input,), written, dynamo=True, opset_version=opset,
                input_names=[input_name], output_names=[output_name],
                dynamic_shapes=dynamic_shapes, external_data=False,
                verbose=False if quiet else None, **kwargs,
            )
        else:
            dynamic_axes = None
            if dynamic_dims:
                dynamic_axes = {input_name: dict(dynamic_dims)}
                if 0 in dynamic_dims:
                    dynamic_axes[output_name] = {0: dynamic_dims[0]}
            torch.onnx.export(
                model, (example_input,), str(written), dynamo=False,
                opset_version=opset,
                input_names=[input_name], output_names=[output_name],
                dynamic_axes=dynamic_axes, **kwargs,
            )
    seconds = time.perf_counter() - start
    import onnx

    proto = onnx.load(str(written), load_external_data=False)
    if metadata:
        onnx.helper.set_model_props(proto, {**{p.key: p.value for p in proto.metadata_props},
                                            **{k: str(v) for k, v in metadata.items()}})
        onnx.save(proto, str(written))
    os.replace(written, path)  # the final name only ever holds a whole file
    opset_used = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    return ExportResult(path, "dynamo" if dynamo else "torchscript", opset_used, seconds,
                        path.stat().st_size)


EXPORT_KEY = "course.export_key"  # metadata_props entry: what the file was made from


def export_key(model: nn.Module, example_input: torch.Tensor, **kwargs) -> str:
    """A short hash of everything an export depends on: torch version, the model's code,
    mode and weights, the example's shape and dtype, and the export arguments."""
    digest = hashlib.sha256()
    digest.update(f"{torch.__version__}|{type(model).__qualname__}|{model!r}".encode())
    digest.update(str([m.training for m in model.modules()]).encode())
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    digest.update(f"{tuple(example_input.shape)}|{example_input.dtype}".encode())
    digest.update(repr(sorted((k, repr(v)) for k, v in kwargs.items())).encode())
    return digest.hexdigest()[:16]


def stored_export_key(path: str | Path) -> str | None:
    """The key an earlier :func:`export_if_missing` wrote into ``path``, if any."""
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 - an unreadable file simply gets exported again
        return None
    return next((p.value for p in proto.metadata_props if p.key == EXPORT_KEY), None)


EXPORT_CACHE = ARTIFACTS_DIR / "export-cache"  # one file per export key


def export_if_missing(model: nn.Module, example_input: torch.Tensor, path: str | Path,
                      *, announce: bool = True, **kwargs) -> Path:
    """Export ``model`` to ``path`` unless that file was made from the same model and arguments.

    The file carries a key (:func:`export_key`) in its metadata; when the model, its weights
    or mode, the example's shape or any export argument change, the key changes and the file
    is exported again. An export with the same key made earlier for another path (another
    notebook) is copied from ``artifacts/export-cache/`` instead of being made again: the
    bytes are those the exporter wrote then. ``announce`` prints one line saying which
    happened ("reused", "exported" or "copied"), so a re-run never silently keeps an old file.
    """
    from helpers.paths import made_once

    path = Path(path)
    key = export_key(model, example_input, **kwargs)
    with made_once(path):  # another process exporting the same file: wait, then reuse it
        return _export_unless_same(model, example_input, path, key, announce, kwargs)


def _export_unless_same(model: nn.Module, example_input: torch.Tensor, path: Path, key: str,
                        announce: bool, kwargs: dict) -> Path:
    import shutil

    from helpers.paths import made_once, partial_path, relative

    if path.exists():
        old = stored_export_key(path)
        if old == key:
            if announce:
                print(f"reused {relative(path)} (same model, weights and export arguments)")
            return path
        reason = "made with other arguments or weights" if old else "has no export key"
    else:
        reason = "not there yet"
    cached = EXPORT_CACHE / f"{key}.onnx"
    with made_once(cached):  # the same export for another path: wait for it, then copy it
        if cached.exists() and stored_export_key(cached) == key:
            shutil.copyfile(cached, path)
            if announce:
                print(f"copied {relative(path)} ({reason}) from {relative(cached)}: the same "
                      "model, weights and export arguments were exported earlier")
            return path
        metadata = {**(kwargs.pop("metadata", None) or {}), EXPORT_KEY: key}
        export_onnx(model, example_input, path, metadata=metadata, **kwargs)
        partial = partial_path(cached)
        shutil.copyfile(path, partial)
        os.replace(partial, cached)
    if announce:
        print(f"exported {relative(path)} ({reason})")
    return path
