"""Notebook 00's exercise: a three-layer model through the ONNX exporter, checked in ORT."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from helpers.paths import artifacts_dir


class ThreeLayer(nn.Module):
    """4 -> 8 (ReLU) -> 8 (ReLU) -> 3."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Linear(4, 8)
        self.extra = nn.Linear(8, 8)
        self.out = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.extra(torch.relu(self.hidden(x)))))


def exercise() -> dict:
    """Export ``ThreeLayer`` with a dynamic batch; return its op types, stored numbers and ORT output shape."""
    torch.manual_seed(0)
    model = ThreeLayer().eval()
    path = artifacts_dir("nb00", "solution") / "three_layer.onnx"
    batch = torch.export.Dim("batch", min=1, max=64)
    torch.onnx.export(model, (torch.randn(2, 4),), path, dynamo=True, input_names=["x"],
                      output_names=["y"], dynamic_shapes=({0: batch},), external_data=False,
                      verbose=False)
    graph = onnx.load(path).graph
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    x = torch.randn(5, 4)
    (y,) = session.run(None, {"x": x.numpy()})
    with torch.no_grad():
        assert np.abs(y - model(x).numpy()).max() < 1e-5
    return {"ops": [node.op_type for node in graph.node],
            "stored_numbers": int(sum(np.prod(t.dims) for t in graph.initializer)),
            "output_shape": tuple(y.shape)}


def is_correct(answer: dict, expected: dict) -> bool:
    """All three parts must match (a list or tuple is fine for the shape)."""
    try:
        return (list(answer["ops"]) == expected["ops"]
                and int(answer["stored_numbers"]) == expected["stored_numbers"]
                and tuple(answer["output_shape"]) == expected["output_shape"])
    except (TypeError, KeyError, ValueError):
        return False
