"""Models: torchvision ImageNet classifiers through the weights API, with an honest offline path."""

from __future__ import annotations

import contextlib
import io
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

SUPPORTED_MODELS = ("resnet18", "mobilenet_v3_small")
DOWNLOAD_TIMEOUT_S = 20.0


class UnknownModelError(ValueError):
    """A model name the course does not support."""


@dataclass
class LoadedModel:
    """A model in eval mode plus whether its weights are the real pretrained ones."""

    model: nn.Module
    name: str
    pretrained: bool
    message: str  # one line saying where the weights came from

    def __repr__(self) -> str:  # keep notebook output short
        return f"LoadedModel(name={self.name!r}, pretrained={self.pretrained}, message={self.message!r})"


def default_device() -> torch.device:
    """CUDA when present, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def weights_enum(name: str):
    """The torchvision weights enum value (``DEFAULT``, i.e. IMAGENET1K_V1 for these two)."""
    from torchvision.models import get_model_weights

    if name not in SUPPORTED_MODELS:
        raise UnknownModelError(
            f"unknown model {name!r}; expected one of: {', '.join(SUPPORTED_MODELS)}"
        )
    return get_model_weights(name).IMAGENET1K_V1


def cached_weights_path(name: str) -> Path:
    """Where torch.hub keeps (or would keep) the weights file for ``name``."""
    url = weights_enum(name).url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def load_imagenet_model(name: str, pretrained: bool = True, seed: int = 0) -> LoadedModel:
    """Load a torchvision classifier in eval mode.

    Weights come from the torch hub cache, or are downloaded when online. When neither works
    the model is randomly initialised (seeded) and flagged ``pretrained=False``: its ImageNet
    labels then mean nothing, and the course never prints them as if they did.
    Set ``COURSE_OFFLINE=1`` to skip the download attempt.
    """
    from torchvision.models import get_model

    weights = weights_enum(name)
    torch.manual_seed(seed)
    model = get_model(name, weights=None)
    if not pretrained:
        return LoadedModel(model.eval(), name, False, "random weights (pretrained=False asked)")
    cache = cached_weights_path(name)
    if not cache.exists() and os.environ.get("COURSE_OFFLINE") == "1":
        message = (f"{name}: no cached ImageNet weights and COURSE_OFFLINE=1; "
                   "using RANDOM weights (predictions are meaningless)")
        print(message)
        return LoadedModel(model.eval(), name, False, message)
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        # torch.hub prints "Downloading ... to <machine path>" (stdout in recent torch)
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            state = weights.get_state_dict(progress=False, check_hash=True)
    except Exception as error:  # noqa: BLE001 - any network or file error means "not available"
        reason = str(error).splitlines()[0][:120] if str(error) else type(error).__name__
        message = (f"{name}: ImageNet weights not in the cache and not downloadable ({reason}); "
                   "using RANDOM weights (predictions are meaningless)")
        print(message)
        return LoadedModel(model.eval(), name, False, message)
    finally:
        socket.setdefaulttimeout(previous_timeout)
    model.load_state_dict(state)
    return LoadedModel(model.eval(), name, True, f"{name}: pretrained {weights} weights")
