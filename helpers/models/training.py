"""Train once, cache by configuration: the course model, super-resolution and the detector.

Each model has a frozen config dataclass whose ``tag()`` names everything that decides the
weights; the checkpoint ``artifacts/models/<name>_<tag>.pt`` is reused when it exists. Quick
mode (``COURSE_QUICK=1``) picks a smaller config, with the same code path.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import torch
from torch import nn

M = TypeVar("M", bound=nn.Module)
C = TypeVar("C")


class Config(Protocol):
    def tag(self) -> str: ...


def for_mode(quick: C, full: C) -> C:
    """``quick`` under ``COURSE_QUICK=1``, else ``full``: the default training config."""
    from helpers.notebook import quick_mode

    return quick if quick_mode() else full


@dataclass
class Trained(Generic[M]):
    """A trained model (eval mode), how long training took and what it recorded."""

    model: M
    seconds: float
    record: dict[str, Any] = field(default_factory=dict)
    checkpoint: Path | None = None


def checkpoint_path(name: str, config: Config, folder: Path | None = None) -> Path:
    from helpers.paths import artifacts_dir

    return Path(folder or artifacts_dir("models")) / f"{name}_{config.tag()}.pt"


def load_or_train(name: str, config: Config, build: Callable[[], M],
                  train: Callable[[], Trained[M]], folder: Path | None = None,
                  retrain: bool = False) -> Trained[M]:
    """The cached model for ``config``, or ``train()`` once and cache its weights and record.

    ``build()`` makes an untrained model of the right shape to load the weights into.
    """
    from helpers.paths import made_once, partial_path

    checkpoint = checkpoint_path(name, config, folder)
    with made_once(checkpoint):  # another process training the same config: wait, then load
        if checkpoint.exists() and not retrain:
            saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
            model = build()
            model.load_state_dict(saved["state_dict"])
            seconds = float(saved.get("seconds", saved.get("train_seconds", 0.0)))
            record = saved.get("record") or {key: value for key, value in saved.items()
                                              if key not in ("state_dict", "config", "seconds",
                                                             "train_seconds")}
            return Trained(model.eval(), seconds, dict(record), checkpoint)
        trained = train()
        partial = partial_path(checkpoint)
        torch.save({"state_dict": trained.model.state_dict(), "config": asdict(config),  # type: ignore[call-overload]
                    "seconds": trained.seconds, "record": trained.record}, partial)
        os.replace(partial, checkpoint)
    trained.model.eval()
    trained.checkpoint = checkpoint
    return trained
