"""Fixtures for the helpers' unit tests: small models exported once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from helpers.export import export_onnx


class TinyNet(nn.Module):
    """A small CNN with the course's input/output conventions (N, 3, H, W) -> (N, 10)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.head = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.conv(x)))
        return self.head(x.mean(dim=(2, 3)))


@pytest.fixture(scope="session")
def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return TinyNet().eval()


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory, tiny_model) -> Path:
    """TinyNet exported with the dynamo exporter, dynamic batch, fixed 3x64x64."""
    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    export_onnx(tiny_model, torch.randn(1, 3, 64, 64), path, dynamo=True,
                dynamic_dims={0: "batch"})
    return path


@pytest.fixture()
def corrupt_onnx(tmp_path, tiny_onnx) -> Path:
    """The first half of a valid file: a truncated download."""
    path = tmp_path / "corrupt.onnx"
    data = tiny_onnx.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path
