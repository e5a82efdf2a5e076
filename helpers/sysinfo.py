"""The machine a measurement ran on (CPU, cores, memory, versions) and a process's memory use.

Imports neither torch nor onnxruntime unless asked, so a benchmark worker can call it without
loading an engine it does not measure.
"""

from __future__ import annotations

import os
import platform
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

PACKAGES = ("torch", "torchvision", "onnx", "onnxruntime", "onnxsim", "onnxslim", "numpy")
_PROC_STATUS = Path("/proc/self/status")


def cpu_model() -> str:
    """The CPU's marketing name (``/proc/cpuinfo`` on Linux, ``platform`` elsewhere)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name") and ":" in line:
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def physical_cores() -> int:
    """Physical cores (psutil), falling back to logical CPUs."""
    try:
        import psutil

        return int(psutil.cpu_count(logical=False) or os.cpu_count() or 1)
    except ImportError:  # pragma: no cover - psutil is in requirements
        return int(os.cpu_count() or 1)


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed versions of ``names`` (``"absent"`` when not installed), without importing them."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def _read_status_kb(field: str) -> float | None:
    if not _PROC_STATUS.exists():
        return None
    for line in _PROC_STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1])
    return None


def current_rss_mb() -> float:
    """Resident memory of this process now, in MiB."""
    kb = _read_status_kb("VmRSS")
    if kb is not None:
        return kb / 1024
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def peak_rss_mb() -> tuple[float, str]:
    """Peak resident memory of this process in MiB, and where the figure comes from.

    On Linux this is ``VmHWM`` from ``/proc/self/status``: the high-water mark of this
    process's own address space. ``getrusage().ru_maxrss`` is only the fallback: on Linux a
    child started from a big parent inherits the parent's peak in ``ru_maxrss`` (exec carries
    it over), so it can report the parent's memory rather than the child's.
    """
    kb = _read_status_kb("VmHWM")
    if kb is not None:
        return kb / 1024, "VmHWM"
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 2**20 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return peak / scale, "ru_maxrss"


def machine_info(with_engines: bool = True) -> dict[str, object]:
    """CPU model, cores, memory, OS, Python and package versions, load, and the time (UTC).

    ``with_engines`` also asks onnxruntime for its execution providers and torch for a CUDA
    device (imports both).
    """
    try:
        import psutil

        memory_gb = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:  # pragma: no cover
        memory_gb = None
    info: dict[str, object] = {
        "cpu_model": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "physical_cores": physical_cores(),
        "memory_gb": memory_gb,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": package_versions(),
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "time_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
    }
    if with_engines:
        import onnxruntime
        import torch

        info["ort_providers"] = onnxruntime.get_available_providers()
        info["cuda_device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return info


def format_machine(info: dict[str, object]) -> str:
    """One readable line describing ``info`` from :func:`machine_info`."""
    versions = info.get("versions", {})
    assert isinstance(versions, dict)
    shown = ", ".join(f"{k} {v}" for k, v in versions.items() if k in ("torch", "onnxruntime"))
    cuda = info.get("cuda_device") or "no CUDA device"
    return (f"{info['cpu_model']}, {info['physical_cores']} physical cores / "
            f"{info['logical_cpus']} logical CPUs, {info['memory_gb']} GiB RAM, {info['os']}, "
            f"python {info['python']}, {shown}, {cuda}; load average at start "
            f"{info.get('load_average')}")


def cpu_flags() -> set[str]:
    """The instruction-set flags ``/proc/cpuinfo`` reports (empty set elsewhere)."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return set()
    for line in cpuinfo.read_text(errors="replace").splitlines():
        if line.startswith("flags") and ":" in line:
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_clock_ghz() -> tuple[float | None, str]:
    """The clock in GHz and where it comes from: the "@ x GHz" of the model name, else the
    current "cpu MHz" of ``/proc/cpuinfo`` (a VM often reports only the latter)."""
    import re

    match = re.search(r"@\s*([\d.]+)\s*GHz", cpu_model())
    if match:
        return float(match.group(1)), "model name"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("cpu mhz") and ":" in line:
                return float(line.split(":", 1)[1]) / 1000, "cpu MHz (current clock)"
    return None, "unknown"


def theoretical_peak_gflops(threads: int, fma_units: int | None = None) -> dict[str, object]:
    """float32 peak = cores × lanes × 2 (a fused multiply-add is 2 FLOP) × FMA units × clock.

    Lanes: 16 with AVX-512, 8 with AVX2, 4 otherwise. FMA units per core are not in
    ``/proc/cpuinfo``: assumed 2 with AVX-512 (server cores since Skylake-SP; some parts
    have 1) and with AVX2, 1 otherwise; pass ``fma_units`` to override. Turbo and AVX-512
    clock offsets are ignored. The returned dict states every assumption.
    """
    flags = cpu_flags()
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    fma = "fma" in flags or "avx512f" in flags
    units = fma_units or (2 if lanes >= 8 and fma else 1)
    ghz, clock_source = cpu_clock_ghz()
    cores = min(threads, physical_cores())
    peak = cores * lanes * (2 if fma else 1) * units * ghz if ghz else None
    return {"peak_gflops": peak, "cores": cores, "fp32_lanes": lanes, "fma": fma,
            "fma_units_per_core": units, "fma_units_assumed": fma_units is None, "ghz": ghz,
            "clock_source": clock_source}
