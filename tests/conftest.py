"""Fixtures for the helpers' unit tests: small models exported once per session."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from helpers.export.exporters import export_onnx
from helpers.paths import REPO_ROOT


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


@pytest.fixture(scope="session")
def digits_onnx(tmp_path_factory) -> Path:
    """The course model (trained or cached) exported with the legacy exporter, dynamic batch."""
    from helpers.models.course import load_or_train_course_model

    trained = load_or_train_course_model(progress=False)
    path = tmp_path_factory.mktemp("cli") / "digits.onnx"
    export_onnx(trained.model, torch.zeros(1, 3, 64, 64), path, dynamo=False,
                dynamic_dims={0: "batch"})
    return path


@pytest.fixture(scope="session")
def classify_without_torch() -> Callable[[Path, Path], subprocess.CompletedProcess]:
    """Run ``helpers.classify`` top-1 on one image in a process where torch cannot be imported."""
    def run(model: Path, image: Path) -> subprocess.CompletedProcess:
        code = ("import sys; sys.modules['torch'] = None; sys.modules['torchvision'] = None\n"
                "from helpers.classify import main\n"
                f"sys.exit(main([{str(image)!r}, '--model', {str(model)!r}, "
                "'--labels', 'digits', '--topk', '1']))")
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              cwd=REPO_ROOT, timeout=120)
    return run


@pytest.fixture
def scratch_engines():
    """Engines registered by a test are removed afterwards."""
    from helpers.bench import registry as reg

    before, aliases = dict(reg._ENGINES), dict(reg._ALIASES)
    yield
    reg._ENGINES.clear()
    reg._ENGINES.update(before)
    reg._ALIASES.clear()
    reg._ALIASES.update(aliases)
