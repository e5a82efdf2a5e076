"""What CPU this is (vendor, model, ISA features, cores, OS, memory), read the way the libraries read it.

Features come from NumPy's own CPU dispatch table (CPUID plus the OS's XSAVE check, in this
process, on every OS), completed by archspec (``/proc/cpuinfo`` on Linux, CPUID on Windows,
``sysctl`` on macOS) for what NumPy does not track (AVX-VNNI, AMX, i8mm, ...), and by
``sysctl hw.optional`` on Apple silicon. Names follow Linux's ``/proc/cpuinfo`` spelling
(``avx512_vnni``, ``asimddp``); :data:`FEATURE_LABELS` gives the printed names.

:func:`describe_machine` describes this machine, or a faked one (a name from
:data:`EXAMPLE_MACHINES`, a dict of :meth:`MachineDescription.from_features` arguments), so
what the course expects on other CPUs (:mod:`helpers.expectations`) is testable here. Imports
neither torch nor onnxruntime.
"""

from __future__ import annotations

import functools
import os
import platform
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path

X86_FEATURES = {
    "sse4_2": "SSE4.2", "avx": "AVX", "avx2": "AVX2", "fma": "FMA", "avx512f": "AVX-512F",
    "avx512bw": "AVX-512BW", "avx512dq": "AVX-512DQ", "avx512vl": "AVX-512VL",
    "avx512_vnni": "AVX-512 VNNI", "avx_vnni": "AVX-VNNI", "avx_vnni_int8": "AVX-VNNI-INT8",
    "avx512_bf16": "AVX-512 BF16", "amx_tile": "AMX-TILE", "amx_int8": "AMX-INT8",
    "amx_bf16": "AMX-BF16",
}
ARM_FEATURES = {
    "asimd": "NEON", "asimddp": "dotprod", "asimdhp": "FP16 arithmetic", "i8mm": "i8mm",
    "bf16": "BF16", "sve": "SVE",
}
FEATURE_LABELS = {**X86_FEATURES, **ARM_FEATURES}
# NumPy's dispatch names (``numpy._core._multiarray_umath.__cpu_features__``) -> ours
NUMPY_NAMES = {
    "SSE42": "sse4_2", "AVX": "avx", "AVX2": "avx2", "FMA3": "fma", "AVX512F": "avx512f",
    "AVX512BW": "avx512bw", "AVX512DQ": "avx512dq", "AVX512VL": "avx512vl",
    "AVX512VNNI": "avx512_vnni", "AVX512BF16": "avx512_bf16", "ASIMD": "asimd",
    "ASIMDDP": "asimddp", "ASIMDHP": "asimdhp", "SVE": "sve",
}
# What macOS reports under ``sysctl hw.optional`` on Apple silicon -> ours
DARWIN_NAMES = {
    "hw.optional.neon": "asimd", "hw.optional.arm.FEAT_DotProd": "asimddp",
    "hw.optional.arm.FEAT_FP16": "asimdhp", "hw.optional.arm.FEAT_I8MM": "i8mm",
    "hw.optional.arm.FEAT_BF16": "bf16",
}
_EXTRA_ALIASES = {"fma3": "fma", "neon": "asimd", "dotprod": "asimddp", "fp16": "asimdhp",
                  "sse42": "sse4_2", "amx": "amx_tile"}
VENDORS = {"GenuineIntel": "Intel", "AuthenticAMD": "AMD", "HygonGenuine": "Hygon"}


def _squash(name: str) -> str:
    return re.sub(r"[\s_.\-]", "", name).lower()


_ALIASES = {_squash(k): k for k in FEATURE_LABELS} | {_squash(v): k for k, v in FEATURE_LABELS.items()}
_ALIASES |= {_squash(k): v for k, v in NUMPY_NAMES.items()} | _EXTRA_ALIASES


def feature_name(name: str) -> str:
    """Our name for a feature spelled the Linux, NumPy or printed way (``"AVX-512 VNNI"``)."""
    key = _squash(name)
    if key not in _ALIASES:
        raise ValueError(f"unknown CPU feature {name!r}; expected one of {sorted(FEATURE_LABELS)}")
    return _ALIASES[key]


def normalize_arch(machine: str) -> str:
    """``x86_64`` or ``arm64`` for the many spellings (AMD64, aarch64, ARM64); others as given."""
    lowered = machine.lower()
    if lowered in ("x86_64", "amd64", "x64", "em64t"):
        return "x86_64"
    if lowered in ("arm64", "aarch64", "armv8", "arm64e"):
        return "arm64"
    return lowered or "unknown"


@dataclass(frozen=True)
class MachineDescription:
    """One machine: CPU, its ISA features, cores, memory and OS, and where each came from."""

    arch: str                          # "x86_64" or "arm64" (normalized)
    os: str                            # "Linux", "Darwin" (macOS) or "Windows"
    os_version: str                    # "Debian GNU/Linux 12, kernel 6.1", "macOS 14.5", ...
    cpu_vendor: str                    # "Intel", "AMD", "Apple", ...
    cpu_model: str                     # the marketing name
    microarchitecture: str | None      # archspec's name: "zen3", "haswell", "m2", ...
    features: frozenset[str]           # present features, names as in FEATURE_LABELS
    physical_cores: int
    logical_cpus: int
    memory_gb: float | None
    performance_cores: int | None = None   # Apple silicon: P-cores (the rest are E-cores)
    unknown: frozenset[str] = frozenset()  # features no source could check here
    sources: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    faked: bool = False

    @classmethod
    def from_features(cls, features: Iterable[str], *, arch: str = "x86_64", os: str = "Linux",
                      cpu_model: str = "", cpu_vendor: str = "", os_version: str = "",
                      microarchitecture: str | None = None, physical_cores: int = 4,
                      logical_cpus: int | None = None, memory_gb: float | None = 16.0,
                      performance_cores: int | None = None, unknown: Iterable[str] = (),
                      notes: Iterable[str] = ()) -> MachineDescription:
        """A description built from a raw feature list (any spelling), for tests and examples.

        Raises ``ValueError`` for a feature of the other architecture (``avx2`` on arm64).
        """
        arch = normalize_arch(arch)
        names = frozenset(feature_name(f) for f in features)
        own = X86_FEATURES if arch == "x86_64" else ARM_FEATURES if arch == "arm64" else {}
        foreign = sorted(names - set(own))
        if foreign:
            raise ValueError(f"features {foreign} do not exist on {arch}; expected some of {sorted(own)}")
        return cls(arch=arch, os=os, os_version=os_version or os, cpu_vendor=cpu_vendor,
                   cpu_model=cpu_model or f"a {arch} CPU", microarchitecture=microarchitecture,
                   features=names, physical_cores=physical_cores,
                   logical_cpus=logical_cpus or physical_cores, memory_gb=memory_gb,
                   performance_cores=performance_cores,
                   unknown=frozenset(feature_name(f) for f in unknown),
                   sources=("faked",), notes=tuple(notes), faked=True)

    def has(self, *names: str) -> bool:
        """Whether every one of ``names`` (any spelling) is present."""
        return all(feature_name(n) in self.features for n in names)

    @property
    def feature_labels(self) -> list[str]:
        """The present features' printed names, in a fixed order (SSE4.2 ... AMX, NEON ... SVE)."""
        return [label for name, label in FEATURE_LABELS.items() if name in self.features]

    @property
    def cpu_class(self) -> str:
        """A short summary such as ``x86 AVX-512 + VNNI + AMX`` or ``arm64 NEON + dotprod``."""
        return cpu_class(self)

    def to_dict(self) -> dict[str, object]:
        """Plain data (sorted lists instead of sets) plus ``cpu_class``, for JSON."""
        data = asdict(self)
        data["features"] = sorted(self.features)
        data["unknown"] = sorted(self.unknown)
        data["cpu_class"] = self.cpu_class
        return data


def cpu_class(machine: MachineDescription) -> str:
    """The class of CPU that decides which kernels the engines pick (see helpers.expectations)."""
    has = machine.features.__contains__
    deciding = {"avx2", "avx512f", "asimd", "asimddp"}
    if machine.unknown & deciding:
        return f"{machine.arch} (ISA features not checked)"
    if machine.arch == "x86_64":
        if has("avx512f"):
            extras = [name for flag, name in (("avx512_vnni", "VNNI"), ("avx512_bf16", "BF16"))
                      if has(flag)] + (["AMX"] if has("amx_tile") and has("amx_int8") else [])
            return " + ".join(["x86 AVX-512", *extras])
        if has("avx2"):
            return "x86 AVX2 + AVX-VNNI" if has("avx_vnni") else "x86 AVX2 only"
        return "x86 AVX (no AVX2)" if has("avx") else "x86 SSE only"
    if machine.arch == "arm64":
        extras = [label for flag, label in (("asimddp", "dotprod"), ("i8mm", "i8mm"), ("sve", "SVE"))
                  if has(flag)]
        return " + ".join(["arm64 NEON" if has("asimd") else "arm64", *extras])
    return machine.arch


def short_machine(machine: MachineDescription | None = None) -> str:
    """One short line for figure titles: ``AMD EPYC (zen3), x86 AVX2 only, 2 cores, Linux``."""
    m = machine or describe_machine()
    uarch = f" ({m.microarchitecture})" if m.microarchitecture else ""
    system = {"Darwin": "macOS"}.get(m.os, m.os)
    return f"{m.cpu_model}{uarch}, {m.cpu_class}, {m.physical_cores} cores, {system}"


# ------------------------------------------------------------------ the real machine ----------
def _numpy_features() -> dict[str, bool]:
    """NumPy's runtime CPU table (CPUID + OS support), in our names; empty if unreadable."""
    table: Mapping[str, bool] = {}
    for module in ("numpy._core._multiarray_umath", "numpy.core._multiarray_umath"):
        try:
            table = __import__(module, fromlist=["__cpu_features__"]).__cpu_features__
            break
        except (ImportError, AttributeError):
            continue
    return {ours: bool(table[theirs]) for theirs, ours in NUMPY_NAMES.items() if theirs in table}


def _archspec_info() -> tuple[set[str] | None, str, str | None, str]:
    """archspec's raw feature flags (None when it read none), vendor, microarchitecture, brand."""
    try:
        import archspec.cpu
        from archspec.cpu.detect import detected_info
    except ImportError:
        return None, "", None, ""
    try:
        info = detected_info()
        host = archspec.cpu.host()
        brand = archspec.cpu.brand_string() or ""
    except Exception:  # noqa: BLE001 - detection is best effort; NumPy's table still stands
        return None, "", None, ""
    return (set(info.features) or None), info.vendor, host.name, brand


def parse_sysctl(text: str) -> dict[str, str]:
    """``key: value`` lines of ``sysctl`` output as a dict."""
    pairs = (line.partition(":") for line in text.splitlines())
    return {key.strip(): value.strip() for key, sep, value in pairs if sep}


def darwin_features(sysctl: Mapping[str, str]) -> dict[str, bool]:
    """Apple silicon's features from ``sysctl hw.optional`` values (``FEAT_I8MM: 1``), our names."""
    return {ours: sysctl[key].strip() == "1" for key, ours in DARWIN_NAMES.items() if key in sysctl}


def _darwin_sysctl() -> dict[str, str]:
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    sysctl = shutil.which("sysctl", path=search)
    if sysctl is None:
        return {}
    keys = ["hw.optional", "machdep.cpu.brand_string", "hw.perflevel0.physicalcpu",
            "sysctl.proc_translated"]
    try:
        result = subprocess.run([sysctl, "-i", *keys], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return {}
    return parse_sysctl(result.stdout)


def _os_version(system: str) -> tuple[str, list[str]]:
    notes = []
    if system == "Darwin":
        return f"macOS {platform.mac_ver()[0]}", notes
    if system == "Windows":
        return f"Windows {platform.release()} (build {platform.version()})", notes
    release = platform.release()
    try:
        name = platform.freedesktop_os_release().get("PRETTY_NAME", system)
    except OSError:
        name = system
    if "microsoft" in release.lower():
        notes.append("Linux under WSL2 on Windows: timings include the virtual machine's overhead")
    return f"{name}, kernel {release}", notes


def _windows_cpu_name() -> str:
    try:
        import winreg

        key = winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, r"HARDWARE\DESCRIPTION\System\CentralProcessor\0")
        return str(winreg.QueryValueEx(key, "ProcessorNameString")[0]).strip()
    except OSError:
        return ""


def _proc_flags() -> set[str] | None:
    """The first CPU's ``flags`` (x86) or ``Features`` (arm64) line of ``/proc/cpuinfo``."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return None
    for line in cpuinfo.read_text(errors="replace").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in ("flags", "Features"):
            return set(value.split())
    return None


def _proc_model_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name") and ":" in line:
                return line.split(":", 1)[1].strip()
    return ""


def _cores_and_memory() -> tuple[int, int, float | None]:
    logical = os.cpu_count() or 1
    try:
        import psutil

        return (int(psutil.cpu_count(logical=False) or logical), logical,
                round(psutil.virtual_memory().total / 2**30, 1))
    except ImportError:  # pragma: no cover - psutil is pinned in requirements.txt
        return logical, logical, None


@functools.lru_cache(maxsize=1)
def _detect() -> MachineDescription:
    system = platform.system()
    arch = normalize_arch(platform.machine())
    darwin = _darwin_sysctl() if system == "Darwin" else {}
    numpy_table = _numpy_features()
    raw, vendor, uarch, brand = _archspec_info()
    raw_source = "archspec"
    if raw is None and system == "Linux":  # archspec not installed: read the kernel's list
        raw, raw_source = _proc_flags(), "the kernel"
    own = X86_FEATURES if arch == "x86_64" else ARM_FEATURES if arch == "arm64" else {}
    apple_flags = darwin_features(darwin)
    present, unknown = set(), set()
    # NumPy asks the CPU at run time on x86 (CPUID) and on Linux arm64 (HWCAP); elsewhere on
    # arm64 its table is the wheel's compile-time baseline, so macOS's sysctl comes first.
    numpy_at_run_time = arch != "arm64" or system == "Linux"
    baseline_only = []
    for name in own:
        if arch == "arm64" and name in apple_flags:
            answer = apple_flags[name]
        elif name in numpy_table and numpy_at_run_time:
            answer = numpy_table[name]
        elif raw is not None:
            answer = name in raw
        elif name in numpy_table:
            answer = numpy_table[name]
            baseline_only.append(name)
        else:
            unknown.add(name)
            continue
        if answer:
            present.add(name)
    disagree = sorted(n for n in numpy_table if raw is not None and n in own
                      and (n in raw) != numpy_table[n])
    sources = ["numpy CPU dispatch table (CPUID)"] if numpy_table else []
    if raw is not None:
        where = {"Linux": "/proc/cpuinfo", "Windows": "CPUID", "Darwin": "sysctl"}.get(system, system)
        sources.append(f"{raw_source} ({where})")
    if apple_flags:
        sources.append("sysctl hw.optional")
    os_version, notes = _os_version(system)
    if baseline_only:
        notes.append(f"{', '.join(FEATURE_LABELS[n] for n in baseline_only)}: NumPy's compile-time "
                     "baseline only (no run-time source on this OS); the CPU may have more")
    if disagree:
        notes.append(f"the OS lists {', '.join(FEATURE_LABELS[n] for n in disagree)} differently "
                     "from CPUID in this process (emulation, or the OS does not enable it); "
                     "the in-process answer is used")
    if darwin.get("sysctl.proc_translated") == "1":
        notes.append("an x86-64 Python translated by Rosetta 2 on Apple silicon: every kernel is "
                     "emulated; install an arm64 Python for representative figures")
    model = (_proc_model_name() or darwin.get("machdep.cpu.brand_string", "")
             or (_windows_cpu_name() if system == "Windows" else "") or brand
             or platform.processor() or uarch or "unknown CPU")
    physical, logical, memory = _cores_and_memory()
    perf = darwin.get("hw.perflevel0.physicalcpu")
    vendor = VENDORS.get(vendor, vendor) or ("Apple" if model.startswith("Apple") else "")
    return MachineDescription(
        arch=arch, os=system, os_version=os_version, cpu_vendor=vendor, cpu_model=model,
        microarchitecture=uarch, features=frozenset(present), physical_cores=physical,
        logical_cpus=logical, memory_gb=memory, performance_cores=int(perf) if perf else None,
        unknown=frozenset(unknown), sources=tuple(sources), notes=tuple(notes))


# ------------------------------------------------------------------ other machines ------------
_AVX2 = ("sse4_2", "avx", "avx2", "fma")
_AVX512 = (*_AVX2, "avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512_vnni")
EXAMPLE_MACHINES: dict[str, MachineDescription] = {
    "haswell": MachineDescription.from_features(
        _AVX2, cpu_model="Intel(R) Core(TM) i7-4770 CPU @ 3.40GHz", cpu_vendor="Intel",
        microarchitecture="haswell", physical_cores=4, logical_cpus=8,
        os_version="Ubuntu 22.04"),
    "windows-avx2": MachineDescription.from_features(
        (*_AVX2, "avx_vnni"), os="Windows", os_version="Windows 11",
        cpu_model="12th Gen Intel(R) Core(TM) i7-1260P", cpu_vendor="Intel",
        microarchitecture="alderlake", physical_cores=12, logical_cpus=16),
    "apple-m2": MachineDescription.from_features(
        ("neon", "dotprod", "fp16", "i8mm", "bf16"), arch="arm64", os="Darwin",
        os_version="macOS 14.5", cpu_model="Apple M2", cpu_vendor="Apple",
        microarchitecture="m2", physical_cores=8, performance_cores=4),
    "graviton3": MachineDescription.from_features(
        ("neon", "dotprod", "fp16", "i8mm", "bf16", "sve"), arch="arm64",
        os_version="Amazon Linux 2023", cpu_model="AWS Graviton3", cpu_vendor="ARM",
        microarchitecture="neoverse_v1", physical_cores=4),
    "zen4": MachineDescription.from_features(
        (*_AVX512, "avx512_bf16"), cpu_model="AMD EPYC 9354P 32-Core Processor",
        cpu_vendor="AMD", microarchitecture="zen4", physical_cores=2),
    "sapphire-rapids": MachineDescription.from_features(
        (*_AVX512, "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16"),
        cpu_model="Intel(R) Xeon(R) Platinum 8488C", cpu_vendor="Intel",
        microarchitecture="sapphirerapids", physical_cores=2, logical_cpus=4),
}


def describe_machine(fake: MachineDescription | Mapping[str, object] | str | None = None
                     ) -> MachineDescription:
    """This machine (detected once per process), or a faked one.

    ``fake``: a :class:`MachineDescription`, a key of :data:`EXAMPLE_MACHINES` (``"haswell"``,
    ``"apple-m2"``, ``"windows-avx2"``, ...), or a dict of
    :meth:`MachineDescription.from_features` arguments (``{"features": [...], "arch": ...}``).
    """
    if fake is None:
        return _detect()
    if isinstance(fake, MachineDescription):
        return fake
    if isinstance(fake, str):
        if fake not in EXAMPLE_MACHINES:
            raise ValueError(f"unknown example machine {fake!r}; expected one of {sorted(EXAMPLE_MACHINES)}")
        return EXAMPLE_MACHINES[fake]
    arguments = dict(fake)
    return MachineDescription.from_features(arguments.pop("features", ()), **arguments)  # type: ignore[arg-type]


def without_features(machine: MachineDescription, *names: str) -> MachineDescription:
    """``machine`` with ``names`` removed (e.g. this machine as if it had no AVX-512)."""
    drop = {feature_name(n) for n in names}
    return replace(machine, features=machine.features - drop, faked=True,
                   sources=(*machine.sources, f"faked: without {sorted(drop)}"))


__all__ = ["ARM_FEATURES", "EXAMPLE_MACHINES", "FEATURE_LABELS", "X86_FEATURES",
           "MachineDescription", "cpu_class", "darwin_features", "describe_machine", "feature_name",
           "normalize_arch", "parse_sysctl", "short_machine", "without_features"]
