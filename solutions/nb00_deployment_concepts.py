"""Notebook 00's exercise: a three-layer model through the ONNX exporter."""

from __future__ import annotations

import onnx
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


def exercise() -> list[str]:
    """Export ``ThreeLayer`` with the dynamo exporter; return the graph's op types in order."""
    torch.manual_seed(0)
    path = artifacts_dir("nb00", "solution") / "three_layer.onnx"
    torch.onnx.export(ThreeLayer().eval(), (torch.randn(2, 4),), path, dynamo=True,
                      input_names=["x"], output_names=["y"], external_data=False, verbose=False)
    return [node.op_type for node in onnx.load(path).graph.node]
