"""What to expect from the engines on a class of CPU, and why, as data (no prints).

Each rule restates, for one machine description (:mod:`helpers.machine`), a choice the
library makes at run time from the same CPU features:

- ORT's INT8 matrix multiply: MLAS picks its kernel in the ``MLAS_PLATFORM`` constructor
  (``onnxruntime/core/mlas/lib/platform.cpp``); the QDQ optimizer rewrites int8 activations
  to uint8 everywhere but on ARM (``QDQIsInt8Allowed()``, ``qdq_selector_action_transformer.h``);
- OpenVINO's default inference precision: ``Config::readProperties`` in
  ``src/plugins/intel_cpu/src/config.cpp`` (PERFORMANCE mode, precision not set);
- the float32 vector width that bounds a core's peak.

The notebooks print the expectation, measure, and say whether it held
(:func:`openvino_reported_precision` is OpenVINO's own answer on this machine).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from helpers.machine import EXAMPLE_MACHINES, MachineDescription, describe_machine

MLAS_SOURCE = "onnxruntime/core/mlas/lib/platform.cpp (MLAS_PLATFORM constructor)"
OPENVINO_SOURCE = "openvino src/plugins/intel_cpu/src/config.cpp (default inferencePrecision)"
SATURATION_FIX = ("quantize_static(..., reduce_range=True) (7-bit weights), or "
                  "so.add_session_config_entry('session.x64quantprecision', '1') "
                  "(weights turned to uint8: the U8U8 kernel, exact but slower)")


@dataclass(frozen=True)
class Expectation:
    """One thing to expect on a machine: the short answer, a key to test, the reason, the rule's source."""

    topic: str
    expect: str
    key: str
    reason: str
    source: str

    def to_dict(self) -> dict[str, object]:
        """Plain data for a table or JSON."""
        return asdict(self)


@dataclass(frozen=True)
class Int8Path(Expectation):
    """ORT's INT8 GEMM on a machine: kernel, activation type, and whether it can saturate."""

    activations: str         # what the kernel reads: "uint8" (x86) or "int8" (ARM)
    saturates: bool          # u8×s8 pairs summed into int16 with saturation (vpmaddubsw)
    fix: str | None          # what to do about it when it saturates


def _avx512_core(m: MachineDescription) -> bool:
    return all(f in m.features for f in ("avx512f", "avx512bw", "avx512dq", "avx512vl"))


def ort_int8_kernel(machine: MachineDescription | None = None) -> Int8Path:
    """Which INT8 GEMM kernel ORT's MLAS takes on ``machine`` (default: this one), and why."""
    m = machine or describe_machine()
    topic = "ORT INT8 matrix multiply (MLAS)"
    if m.arch == "x86_64":
        return _x86_int8(m, topic)
    if m.arch == "arm64":
        activations = "int8"
        keep = ("int8 QDQ models stay signed on ARM (QDQIsInt8Allowed() is true), so S8S8 runs "
                "natively")
        if "i8mm" in m.features and m.os == "Linux":
            return Int8Path(topic, "S8S8/U8X8 with i8mm matrix instructions (smmla/ummla)",
                            "arm-i8mm", f"i8mm is present and MLAS enables its kernels in Linux "
                            f"builds; {keep}", MLAS_SOURCE, activations, False, None)
        if "asimddp" in m.features:
            i8mm_note = (" i8mm is present, but MLAS uses its i8mm kernels only in Linux builds;"
                         if "i8mm" in m.features else "")
            return Int8Path(topic, "S8S8 with sdot, U8X8 with udot (NEON dot product)",
                            "arm-dotprod", f"the CPU has the dot-product extension;{i8mm_note} "
                            f"{keep}", MLAS_SOURCE, activations, False, None)
        return Int8Path(topic, "NEON kernels (widening multiply-adds)", "arm-neon",
                        f"no dot-product extension reported; {keep}", MLAS_SOURCE, activations,
                        False, None)
    return Int8Path(topic, "MLAS's portable C++ kernel", "generic",
                    f"no vector INT8 kernel for {m.arch} in the standard wheels", MLAS_SOURCE,
                    "uint8", False, None)


def _x86_int8(m: MachineDescription, topic: str) -> Int8Path:
    uint8 = ("int8 activations of a QDQ model are rewritten to uint8 on x86 "
             "(QDQS8ToU8Transformer), so the U8S8 kernel runs")
    has = m.features.__contains__
    if not (has("avx2") and has("fma")):
        return Int8Path(topic, "U8X8 with SSE (16-bit widening)", "sse",
                        f"no AVX2: the SSE baseline kernel; {uint8}", MLAS_SOURCE, "uint8",
                        False, None)
    # MLAS's order: AVX2, then AVX-VNNI, then AVX-512 core, then AVX-512 VNNI, then AMX
    key, expect, saturates = "avx2", "U8S8 with AVX2 (vpmaddubsw then vpmaddwd)", True
    why = "AVX2 without VNNI: pairs of u8×s8 products are summed into int16 with saturation"
    if has("avx_vnni"):
        key, expect, saturates = "avx-vnni", "U8S8 with AVX-VNNI (256-bit vpdpbusd)", False
        why = "AVX-VNNI sums u8×s8 products straight into int32 (no 16-bit step)"
    if _avx512_core(m):
        key, expect, saturates = "avx512-core", "U8S8 with AVX-512 (vpmaddubsw, 512-bit)", True
        why = "AVX-512 without VNNI: the same 16-bit saturating pair sums as AVX2, twice as wide"
        if has("avx512_vnni"):
            key, expect, saturates = "avx512-vnni", "U8S8 with AVX-512 VNNI (vpdpbusd)", False
            why = "AVX-512 VNNI sums u8×s8 products straight into int32 (no 16-bit step)"
    if has("amx_tile") and has("amx_int8") and m.os != "Darwin":
        key, expect, saturates = "amx", "U8S8 on AMX tiles (TMUL); small GEMMs on AVX-512 VNNI", False
        why = ("AMX-TILE and AMX-INT8 are present and the OS grants the tile state (Linux: "
               "arch_prctl ARCH_REQ_XCOMP_PERM, which ORT requests)")
    return Int8Path(topic, expect, key, f"{why}; {uint8}", MLAS_SOURCE, "uint8", saturates,
                    SATURATION_FIX if saturates else None)


def openvino_precision(machine: MachineDescription | None = None) -> Expectation:
    """OpenVINO's default CPU inference precision on ``machine``: bf16, f16 or f32, and why."""
    m = machine or describe_machine()
    topic = "OpenVINO default inference precision"
    if m.arch == "x86_64":
        if _avx512_core(m) and "avx512_bf16" in m.features:
            amx = " (AMX-BF16 adds tile kernels)" if "amx_bf16" in m.features else ""
            return Expectation(topic, "bf16", "bf16",
                               f"AVX-512 with BF16 (oneDNN's avx512_core_bf16){amx}: OpenVINO "
                               "computes float layers in bfloat16 unless told f32 "
                               "(INFERENCE_PRECISION_HINT)", OPENVINO_SOURCE)
        return Expectation(topic, "f32", "f32", "no AVX-512 BF16: float layers stay float32",
                           OPENVINO_SOURCE)
    if m.arch == "arm64":
        if m.os == "Windows":
            return Expectation(topic, "unsupported", "unsupported",
                               "OpenVINO's CPU plugin does not run on Windows on ARM",
                               OPENVINO_SOURCE)
        if "asimdhp" in m.features:
            return Expectation(topic, "f16", "f16",
                               "an ARM CPU with FP16 arithmetic: OpenVINO computes float layers "
                               "in float16 unless told f32", OPENVINO_SOURCE)
        return Expectation(topic, "f32", "f32", "no FP16 arithmetic: float layers stay float32",
                           OPENVINO_SOURCE)
    return Expectation(topic, "f32", "f32", f"no reduced-precision default known for {m.arch}",
                       OPENVINO_SOURCE)


def fp32_lanes(machine: MachineDescription | None = None) -> int:
    """float32 values per vector register the float kernels use: 16 (AVX-512), 8 (AVX/AVX2), 4."""
    m = machine or describe_machine()
    if m.arch == "x86_64":
        return 16 if "avx512f" in m.features else 8 if "avx" in m.features else 4
    return 4  # NEON is 128 bits; MLAS's float kernels use NEON even where SVE exists


def fp32_width(machine: MachineDescription | None = None) -> Expectation:
    """The float32 vector width as an :class:`Expectation` (it bounds the peak GFLOP/s)."""
    m = machine or describe_machine()
    lanes = fp32_lanes(m)
    isa = {16: "AVX-512", 8: "AVX2/AVX", 4: "NEON" if m.arch == "arm64" else "SSE"}[lanes]
    return Expectation("float32 vector width", f"{lanes} lanes ({isa})", str(lanes),
                       f"{isa} registers hold {lanes} float32 values; peak per core = lanes × 2 "
                       "(fused multiply-add) × FMA units × clock",
                       "register widths: AVX-512 512 bits, AVX 256 bits, NEON 128 bits")


def expectations(machine: MachineDescription | None = None) -> list[Expectation]:
    """Every expectation for ``machine`` (default: this one)."""
    m = machine or describe_machine()
    return [ort_int8_kernel(m), openvino_precision(m), fp32_width(m)]


def expectations_by_machine(names: tuple[str, ...] | None = None,
                            include_this: bool = True) -> list[dict[str, object]]:
    """One row per machine (this one, then the examples): class, INT8 kernel, OpenVINO precision."""
    machines = ([("this machine", describe_machine())] if include_this else []) + [
        (name, EXAMPLE_MACHINES[name]) for name in (names or tuple(EXAMPLE_MACHINES))]
    rows = []
    for name, m in machines:
        int8 = ort_int8_kernel(m)
        rows.append({"machine": name, "cpu": m.cpu_model, "os": m.os, "class": m.cpu_class,
                     "ort_int8_kernel": int8.key, "int8_saturates": int8.saturates,
                     "openvino_precision": openvino_precision(m).key, "fp32_lanes": fp32_lanes(m)})
    return rows


def openvino_reported_precision() -> str | None:
    """OpenVINO's own default precision on this machine (``"f32"``, ``"bf16"``, ``"f16"``).

    None when OpenVINO is not installed. Imports OpenVINO (about a second).
    """
    try:
        import openvino as ov
    except ImportError:
        return None
    value = ov.Core().get_property("CPU", "INFERENCE_PRECISION_HINT")
    name = getattr(value, "type_name", None) or str(value)
    return {"float32": "f32", "bfloat16": "bf16", "float16": "f16"}.get(name, name)
