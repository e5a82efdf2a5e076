"""The machine a measurement ran on (CPU, cores, memory, versions) and a process's memory use.

The CPU itself (vendor, model, ISA features, class) is described once, in
:mod:`helpers.machine`; this module keeps the flat dict and one-line forms the benchmark
stores and prints. Imports neither torch nor onnxruntime unless asked, so a benchmark worker
can call it without loading an engine it does not measure.
"""

from __future__ import annotations

import os
import platform
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from helpers.machine import describe_machine

PACKAGES = ("torch", "torchvision", "onnx", "onnxruntime", "onnxsim", "onnxslim", "numpy")
_PROC_STATUS = Path("/proc/self/status")


def cpu_model() -> str:
    """The CPU's marketing name (``/proc/cpuinfo`` on Linux, ``sysctl`` on macOS, the registry
    on Windows; see :func:`helpers.machine.describe_machine`)."""
    return describe_machine().cpu_model


def physical_cores() -> int:
    """Physical cores (psutil), falling back to logical CPUs; cheap (no CPU feature probe)."""
    try:
        import psutil

        return int(psutil.cpu_count(logical=False) or os.cpu_count() or 1)
    except ImportError:  # pragma: no cover - psutil is pinned in requirements.txt
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
    """Resident memory of this process now, in MiB (psutil: every OS)."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is pinned in requirements.txt
        kb = _read_status_kb("VmRSS")
        return kb / 1024 if kb is not None else 0.0
    return psutil.Process().memory_info().rss / 2**20


def peak_rss_mb() -> tuple[float, str]:
    """Peak resident memory of this process in MiB, and where the figure comes from.

    - Linux: ``VmHWM`` from ``/proc/self/status``, the high-water mark of this process's own
      address space. (``getrusage().ru_maxrss`` would be wrong here: a child started from a
      big parent inherits the parent's peak, exec carries it over.)
    - Windows: psutil's ``peak_wset`` (the peak working set), source ``"peak_wset"``.
    - macOS and other Unixes: ``ru_maxrss`` (bytes on macOS, KiB elsewhere).
    - Nothing of these: the current RSS, source ``"rss (no peak available)"``.
    """
    kb = _read_status_kb("VmHWM")
    if kb is not None:
        return kb / 1024, "VmHWM"
    try:
        import psutil

        info = psutil.Process().memory_info()
    except ImportError:  # pragma: no cover - psutil is pinned in requirements.txt
        info = None
    if info is not None and getattr(info, "peak_wset", None):
        return info.peak_wset / 2**20, "peak_wset"
    try:
        import resource
    except ImportError:  # Windows without peak_wset
        return current_rss_mb(), "rss (no peak available)"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 2**20 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB elsewhere
    return peak / scale, "ru_maxrss"


def machine_info(with_engines: bool = True) -> dict[str, object]:
    """CPU model, class and ISA features, cores, memory, OS, Python and package versions, load,
    and the time (UTC).

    ``with_engines`` also asks onnxruntime for its execution providers and torch for a CUDA
    device (imports both).
    """
    machine = describe_machine()
    info: dict[str, object] = {
        "cpu_model": machine.cpu_model,
        "cpu_vendor": machine.cpu_vendor,
        "microarchitecture": machine.microarchitecture,
        "cpu_class": machine.cpu_class,
        "isa": machine.feature_labels,
        "arch": machine.arch,
        "logical_cpus": machine.logical_cpus,
        "physical_cores": machine.physical_cores,
        "memory_gb": machine.memory_gb,
        "os": f"{platform.system()} {platform.release()}",
        "os_version": machine.os_version,
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
    about = [str(v) for v in (info.get("microarchitecture"), info.get("cpu_class")) if v]
    cpu = f"{info['cpu_model']} ({'; '.join(about)})" if about else str(info["cpu_model"])
    return (f"{cpu}, {info['physical_cores']} physical cores / "
            f"{info['logical_cpus']} logical CPUs, {info['memory_gb']} GiB RAM, {info['os']}, "
            f"python {info['python']}, {shown}, {cuda}; load average at start "
            f"{info.get('load_average')}")


def cpu_flags() -> set[str]:
    """The CPU's ISA features in Linux ``/proc/cpuinfo`` names (``avx2``, ``avx512f``,
    ``asimddp``, ...), on every OS; see :data:`helpers.machine.FEATURE_LABELS`."""
    return set(describe_machine().features)


def cpu_clock_ghz() -> tuple[float | None, str]:
    """The clock in GHz and where it comes from: the "@ x GHz" of the model name, else the
    current "cpu MHz" of ``/proc/cpuinfo`` (a VM often reports only the latter), else psutil's
    maximum (or current) frequency."""
    import re

    match = re.search(r"@\s*([\d.]+)\s*GHz", cpu_model())
    if match:
        return float(match.group(1)), "model name"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("cpu mhz") and ":" in line:
                return float(line.split(":", 1)[1]) / 1000, "cpu MHz (current clock)"
    try:
        import psutil

        freq = psutil.cpu_freq()
    except (ImportError, OSError, RuntimeError, NotImplementedError):
        freq = None
    if freq is not None and (freq.max or freq.current):
        return (freq.max or freq.current) / 1000, "psutil cpu_freq"
    return None, "unknown"


def theoretical_peak_gflops(threads: int, fma_units: int | None = None) -> dict[str, object]:
    """float32 peak = cores × lanes × 2 (a fused multiply-add is 2 FLOP) × FMA units × clock.

    Lanes: 16 with AVX-512, 8 with AVX2, 4 with NEON or SSE
    (:func:`helpers.expectations.fp32_lanes`). FMA units per core are not reported by the
    CPU: assumed 2 on x86 with FMA (server cores since Skylake-SP; some parts have 1), 1 for
    AVX-512 on AMD Zen 4 (it runs a 512-bit FMA as two 256-bit halves), 4 on Apple silicon,
    2 on other arm64, 1 otherwise; pass ``fma_units`` to override. Turbo and AVX-512 clock
    offsets are ignored. The returned dict states every assumption (``fma_units_why``).
    """
    from helpers.expectations import fp32_lanes

    machine = describe_machine()
    lanes = fp32_lanes(machine)
    fma = machine.arch == "arm64" or bool({"fma", "avx512f"} & machine.features)
    if machine.arch == "arm64":
        assumed = 4 if machine.cpu_vendor == "Apple" else 2
        why = ("Apple's performance cores issue four 128-bit FMAs per cycle"
               if assumed == 4 else "two 128-bit FMA pipes, as on Neoverse cores")
    elif lanes == 16 and machine.microarchitecture == "zen4":
        assumed, why = 1, "Zen 4 splits each 512-bit FMA into two 256-bit halves"
    elif lanes >= 8 and fma:
        assumed, why = 2, "two FMA ports per core, as on x86 cores since Haswell/Zen 2"
    else:
        assumed, why = 1, "no FMA, or too little known about this CPU"
    units = fma_units or assumed
    ghz, clock_source = cpu_clock_ghz()
    cores = min(threads, machine.physical_cores)
    peak = cores * lanes * (2 if fma else 1) * units * ghz if ghz else None
    return {"peak_gflops": peak, "cores": cores, "fp32_lanes": lanes, "fma": fma,
            "fma_units_per_core": units, "fma_units_assumed": fma_units is None,
            "fma_units_why": why if fma_units is None else "given", "ghz": ghz,
            "clock_source": clock_source}
