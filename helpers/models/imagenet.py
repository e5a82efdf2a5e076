"""Models: torchvision ImageNet classifiers through the weights API, with an honest offline path.

``python -m helpers.models`` (``make weights``) downloads both models' ImageNet weights into
torchvision's cache once, hash checked; offline it says so in one line per model.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import socket
import sys
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


def cached_file_hash_ok(path: Path) -> bool:
    """Whether a cached weights file still matches the SHA-256 prefix in its own name."""
    match = torch.hub.HASH_REGEX.search(path.name)
    if match is None:
        return False
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest().startswith(match.group(1))


def download_weights(name: str) -> tuple[bool | None, str]:
    """Put ``name``'s ImageNet weights into torchvision's cache, hash checked.

    Returns ``(ok, one line for the learner)``: ``ok`` is None when offline. A cached file is re-hashed; a download goes
    through the weights API with ``check_hash=True`` (a corrupt download is refused and removed).
    """
    cache = cached_weights_path(name)
    if cache.exists():
        if cached_file_hash_ok(cache):
            return True, f"{name}: already in the torch hub cache ({cache.name}, SHA-256 prefix matches)"
        return False, (f"{name}: the cached {cache.name} does not match its SHA-256 prefix; "
                       "delete it and run `make weights` again")
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            weights_enum(name).get_state_dict(progress=False, check_hash=True)
    except RuntimeError as error:
        if "hash" in str(error).lower():
            return False, f"{name}: downloaded file failed its hash check and was not kept ({error})"
        return False, f"{name}: not downloaded ({str(error).splitlines()[0][:120]})"
    except Exception as error:  # noqa: BLE001 - no network, DNS, proxy, timeout: all "offline"
        reason = str(error).splitlines()[0][:120] if str(error) else type(error).__name__
        return None, (f"{name}: offline, weights not downloaded ({reason}); the notebooks use "
                      "random weights for it and say so")
    finally:
        socket.setdefaulttimeout(previous_timeout)
    return True, f"{name}: downloaded into the torch hub cache ({cache.name}), hash checked"


def main(argv: list[str] | None = None) -> int:
    """Download every supported model's weights; exit 1 only on a hash mismatch."""
    names = (argv if argv is not None else sys.argv[1:]) or list(SUPPORTED_MODELS)
    failed = False
    for name in names:
        ok, line = download_weights(name)
        print(line)
        failed |= ok is False
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
