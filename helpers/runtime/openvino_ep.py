"""OpenVINO inside ONNX Runtime's own API: the ``onnxruntime-ep-openvino`` plugin provider.

The plugin is a shared library for a stock ``onnxruntime`` (1.23 or later): it is registered
with ``onnxruntime.register_execution_provider_library``, offers devices through
``onnxruntime.get_ep_devices()``, and a session asks for one with
``SessionOptions.add_provider_for_devices``. The plugin bundles its own OpenVINO runtime.

Two facts, the first from its source (``onnxruntime/core/providers/openvino/ov_factory.{h,cc}``
in microsoft/onnxruntime), the second seen running it:

- it offers a device only for hardware whose PCI vendor id is Intel's (``0x8086``): on an
  AMD or ARM CPU ``get_ep_devices()`` lists no OpenVINO device, and no session can use it;
- its options for OpenVINO's properties go through ``load_config`` (JSON, per device): the
  plugin 1.8 ignores the older ``precision`` and ``num_of_threads`` options, with a warning
  (seen on an emulated Intel CPU, ``make cpu-checks``), so :func:`ep_options` sets
  ``INFERENCE_PRECISION_HINT`` and ``INFERENCE_NUM_THREADS`` there.

Imports neither torch nor onnxruntime at module level.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

EP_NAME = "OpenVINOExecutionProvider"
PACKAGE = "onnxruntime-ep-openvino"
REGISTRATION = "openvino_ep"
INTEL_VENDOR_ID = 0x8086
VENDORS = {0x8086: "Intel", 0x1022: "AMD", 0x10DE: "NVIDIA", 0x106B: "Apple", 0x41: "ARM"}
PRECISIONS = {"default": None, "f32": "f32", "bf16": "bf16"}  # INFERENCE_PRECISION_HINT

_registered: str | None = None


class OpenVINOEPError(RuntimeError):
    """The plugin is missing, offers no device here, or cannot make the session asked for."""


@dataclass(frozen=True)
class PluginState:
    """What the plugin can do in this process: installed, registered, which devices."""

    installed: bool
    version: str | None
    registered: bool
    devices: tuple[str, ...] = ()          # OpenVINO device names offered ("CPU", "GPU", ...)
    cpu_vendor_id: int | None = None       # what ONNX Runtime reports for this CPU
    error: str | None = None               # the registration error, if any

    @property
    def cpu_vendor(self) -> str:
        vid = self.cpu_vendor_id
        return "unknown" if vid is None else f"{VENDORS.get(vid, 'vendor')} (0x{vid:04x})"

    @property
    def reason(self) -> str | None:
        """None when an OpenVINO CPU device is offered, else why not, in one line."""
        if not self.installed:
            return f"{PACKAGE} is not installed (pip install {PACKAGE})"
        if self.error:
            return f"{PACKAGE} {self.version} did not register: {self.error}"
        if "CPU" in self.devices:
            return None
        if self.cpu_vendor_id is not None and self.cpu_vendor_id != INTEL_VENDOR_ID:
            return (f"{PACKAGE} {self.version} registered but offers no device: it serves "
                    f"Intel hardware only (vendor 0x{INTEL_VENDOR_ID:04x}), this CPU is "
                    f"{self.cpu_vendor}")
        return f"{PACKAGE} {self.version} registered but offers no OpenVINO CPU device"


def plugin_installed() -> bool:
    return importlib.util.find_spec("onnxruntime_ep_openvino") is not None


def register_plugin() -> str:
    """Register the plugin's library with ONNX Runtime once per process; returns its path."""
    global _registered
    if _registered:
        return _registered
    if not plugin_installed():
        raise OpenVINOEPError(f"{PACKAGE} is not installed (pip install {PACKAGE})")
    import onnxruntime as ort
    import onnxruntime_ep_openvino as plugin

    path = plugin.get_library_path()
    ort.register_execution_provider_library(REGISTRATION, path)
    _registered = path
    return path


def _cpu_vendor_id(devices) -> int | None:
    import onnxruntime as ort

    cpus = [d.device for d in devices if d.device.type == ort.OrtHardwareDeviceType.CPU]
    return int(cpus[0].vendor_id) if cpus else None


def plugin_state() -> PluginState:
    """Register the plugin (if installed) and report what it offers on this machine."""
    if not plugin_installed():
        return PluginState(False, None, False)
    version = metadata.version(PACKAGE)
    try:
        register_plugin()
    except Exception as error:  # noqa: BLE001 - a registration failure is the finding
        return PluginState(True, version, False, error=str(error).splitlines()[0][:300])
    import onnxruntime as ort

    devices = ort.get_ep_devices()
    offered = tuple(d.ep_metadata.get("ov_device", "?") for d in devices if d.ep_name == EP_NAME)
    return PluginState(True, version, True, offered, _cpu_vendor_id(devices))


def openvino_cpu_device():
    """The ``OrtEpDevice`` for OpenVINO on the CPU, or :class:`OpenVINOEPError` saying why none."""
    state = plugin_state()
    if state.reason:
        raise OpenVINOEPError(state.reason)
    import onnxruntime as ort

    return next(d for d in ort.get_ep_devices()
                if d.ep_name == EP_NAME and d.ep_metadata.get("ov_device") == "CPU")


def ep_options(precision: str = "default", threads: int | None = None) -> dict[str, str]:
    """The provider options: OpenVINO's own properties for the CPU, through ``load_config``.

    ``precision`` "default" (what OpenVINO picks), "f32" or "bf16" sets
    ``INFERENCE_PRECISION_HINT``; ``threads`` sets ``INFERENCE_NUM_THREADS``. The plugin
    (1.8) ignores the older options ``precision`` and ``num_of_threads``, with a warning.
    """
    if precision not in PRECISIONS:
        raise OpenVINOEPError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
    config: dict[str, str] = {}
    if PRECISIONS[precision]:
        config["INFERENCE_PRECISION_HINT"] = PRECISIONS[precision]
    if threads is not None:
        config["INFERENCE_NUM_THREADS"] = str(int(threads))
    return {"load_config": json.dumps({"CPU": config})} if config else {}


def create_session(path: str | Path, precision: str = "default", threads: int | None = None,
                   extra: dict[str, Any] | None = None):
    """An ``onnxruntime.InferenceSession`` on OpenVINO's CPU device through the plugin.

    ``threads`` also sets ORT's own intra-op threads (for nodes OpenVINO does not take).
    Raises :class:`OpenVINOEPError` with the reason when the plugin cannot run here.
    """
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ONNX model not found: {path.name}")
    device = openvino_cpu_device()
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = int(threads)
    options.add_provider_for_devices([device], {**ep_options(precision, threads), **(extra or {})})
    return ort.InferenceSession(str(path), sess_options=options)


def installed_mb(distribution: str) -> float | None:
    """Disk size of an installed distribution's files in MB (None when not installed)."""
    try:
        files = metadata.files(distribution) or []
    except metadata.PackageNotFoundError:
        return None
    return sum(f.locate().stat().st_size for f in files if f.locate().is_file()) / 1e6


# What a deployment with each engine family installs (beyond numpy) and where it runs.
DEPLOYMENT = {
    "ort": ("onnxruntime", "every CPU ONNX Runtime ships for (x86-64, ARM64; Linux, macOS, Windows)"),
    "openvino": ("openvino", "x86-64 and ARM64 CPUs (and Intel GPUs/NPUs); a second runtime "
                             "beside or instead of ONNX Runtime"),
    "ort-openvino": ("onnxruntime-ep-openvino", "Intel hardware only, x86-64 Linux and Windows "
                                                "(the plugin offers no device on other CPUs)"),
}


def deployment(engine: str) -> dict[str, object]:
    """What deploying ``engine`` needs: packages, their installed MB here, where it runs."""
    family = next(f for f in ("ort-openvino", "openvino", "ort") if engine.startswith(f))
    packages = ["onnxruntime"] if family == "ort" else (
        ["onnxruntime", PACKAGE] if family == "ort-openvino" else ["openvino"])
    sizes = [installed_mb(p) for p in packages]
    return {"packages": " + ".join(packages),
            "install MB": round(sum(s for s in sizes if s), 0) if all(sizes) else None,
            "runs on": DEPLOYMENT[family][1]}
