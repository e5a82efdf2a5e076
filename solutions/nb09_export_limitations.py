"""Notebook 09's exercise: which exporters get a negative-index read with a dynamic size right."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

from helpers.paths import artifacts_dir
from helpers.runtime.sessions import default_providers


class Pick(nn.Module):
    """Two entries picked with negative index tensors, scaled by the (dynamic) width."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[torch.tensor([0, -1]), torch.tensor([-1, 2])] * x.shape[1]


def _export(exporter: str, path) -> bool:
    """Export ``Pick`` from a (2, 4) example with both axes dynamic; False if it fails."""
    example = (torch.rand(2, 4),)
    if exporter == "dynamo":
        rows = torch.export.Dim("rows", min=2, max=64)
        cols = torch.export.Dim("cols", min=3, max=64)
        options = {"dynamo": True, "external_data": False, "verbose": False,
                   "dynamic_shapes": ({0: rows, 1: cols},)}
    else:
        options = {"dynamo": False, "input_names": ["x"],
                   "dynamic_axes": {"x": {0: "rows", 1: "cols"}}}
    logging.disable(logging.CRITICAL)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(Pick().eval(), example, path, **options)
        return True
    except Exception:  # noqa: BLE001 - a failed export simply does not give the right answer
        return False
    finally:
        logging.disable(logging.NOTSET)


def exercise() -> set[str]:
    """The exporters whose file matches PyTorch on a (3, 5) input."""
    folder = artifacts_dir("nb09", "solution")
    x = np.arange(15, dtype=np.float32).reshape(3, 5)
    with torch.no_grad():
        want = Pick()(torch.from_numpy(x)).numpy()
    right = set()
    for exporter in ("dynamo", "legacy"):
        path = folder / f"pick_{exporter}.onnx"
        if not _export(exporter, path):
            continue
        try:
            session = ort.InferenceSession(str(path), providers=default_providers())
            got = session.run(None, {session.get_inputs()[0].name: x})[0]
        except Exception:  # noqa: BLE001 - refused by ORT: not right either
            continue
        if got.shape == want.shape and np.allclose(got, want):
            right.add(exporter)
    return right
