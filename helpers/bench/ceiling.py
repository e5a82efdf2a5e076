"""The machine's ceiling: the best measured matrix multiply, the peak computed from the CPU, and
how much of it each engine reached.

:func:`machine_ceiling` measures torch.mm and ORT's MatMul (what the grid records with the
machine); :func:`ceiling_from` weighs them against the peak that
:func:`helpers.sysinfo.theoretical_peak_gflops` computes; :func:`ceiling_shares` gives each
measured cell's share of that ceiling.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from helpers.bench.timing import RunPolicy
from helpers.bench.worker import measure

TIGHT = 0.02  # a measured multiply within 2 % of the computed peak: timing noise, not turbo


def machine_ceiling(threads: int, n: int = 1024, quick: bool = False) -> dict[str, Any]:
    """The best measured float32 matrix multiply: torch.mm and ORT's MatMul, fresh processes."""
    policy = RunPolicy(warmup=2, warmup_s=0.3, repeats=10 if quick else 20, min_runs=3,
                       max_seconds=0.5 if quick else 2.0, rounds=2 if quick else 3)
    result = {}
    for engine in ("matmul", "ort-matmul"):
        record = measure({"engine": engine, "size": n, "threads": threads,
                          "policy": asdict(policy)})
        if record.get("status") == "ok":
            result[f"{engine}_gflops_best"] = round(record["gflops_best"], 1)
            result[f"{engine}_gflops_median"] = round(record["gflops_median"], 1)
    return result


@dataclass(frozen=True)
class Ceiling:
    """The ceiling a notebook compares engines with, and how it was chosen.

    ``verdict``: ``"turbo"`` (a measured multiply beat the computed peak by more than 2 %:
    the cores ran faster than the reported clock, ``implied_ghz``), ``"tight"`` (a measured
    multiply within 2 % of the peak), ``"computed"`` (every measurement below the peak), or
    ``"measured"`` (no clock known: the best measurement is the ceiling).
    """

    gflops: float
    computed_gflops: float | None
    ghz: float | None
    measured: dict[str, float]
    verdict: str
    implied_ghz: float | None = None

    def sentence(self) -> str:
        """What the verdict means, in one sentence with the numbers."""
        best = max(self.measured.values(), default=0.0)
        if self.verdict == "turbo":
            return (f"the best measured multiply ({best:.0f} GFLOP/s) beats the computed peak "
                    f"({self.computed_gflops:.0f}), so the cores ran at ≥ {self.implied_ghz:.2f} "
                    f"GHz, faster than the {self.ghz:.2f} GHz the system reports (turbo); the "
                    "ceiling is the peak at that clock")
        if self.verdict == "tight":
            return (f"the best measured multiply reaches {100 * best / self.computed_gflops:.1f} % "
                    "of the computed peak: within 2 % (timing noise) the assumptions hold and the "
                    f"ceiling is tight; the ceiling is the larger figure, {self.gflops:.0f} GFLOP/s")
        if self.verdict == "measured":
            return (f"no clock is known, so the ceiling is the best measured multiply, "
                    f"{self.gflops:.0f} GFLOP/s")
        return (f"every measured multiply stays below the computed peak; the ceiling is "
                f"{self.gflops:.0f} GFLOP/s")


def ceiling_from(peak: Mapping[str, Any], machine: Mapping[str, Any]) -> Ceiling:
    """Weigh the computed ``peak`` (from theoretical_peak_gflops) against the measured multiplies.

    ``machine`` holds ``<kernel>_gflops_best`` entries (a grid's ``result.machine``). A
    measurement above the peak means the stated clock is too low; the ceiling is never below
    the best measurement.
    """
    measured = {key.removesuffix("_gflops_best"): float(value) for key, value in machine.items()
                if key.endswith("_gflops_best")}
    best = max(measured.values(), default=0.0)
    computed = peak.get("peak_gflops")
    ghz = peak.get("ghz")
    if not computed:
        if not best:
            raise ValueError("no ceiling: neither a CPU clock nor a measured multiply is known")
        return Ceiling(best, None, ghz, measured, "measured")
    if best > (1 + TIGHT) * computed:
        return Ceiling(best, computed, ghz, measured, "turbo", ghz * best / computed)
    verdict = "tight" if best >= (1 - TIGHT) * computed else "computed"
    return Ceiling(max(computed, best), computed, ghz, measured, verdict)


def ceiling_shares(frame, gflops: float, engines: Sequence[str] = ("torch", "ort")):
    """Measured cells of ``engines`` with ``percent``: their GFLOP/s as a share of ``gflops``."""
    ok = frame[(frame["status"] == "ok") & frame["engine"].isin(list(engines))]
    ok = ok[ok["gflops_per_s"].notna()]
    return ok.assign(percent=100 * ok["gflops_per_s"] / gflops)


# ------------------------------------------------------------------ ceilings per precision ----
@dataclass(frozen=True)
class PrecisionPeak:
    """One precision's peak on one core: the instructions that reach it and the assumption.

    ``ops_per_cycle`` counts a multiply-add as 2 operations (as GFLOP/s does for float32), so
    an INT8 figure in GOP/s compares with the model's GFLOP directly.
    """

    precision: str        # "fp32", "int8" or "bf16"
    path: str             # the instructions, e.g. "AVX2 vpmaddubsw + vpmaddwd"
    ops_per_cycle: float  # per core
    why: str              # the assumption behind ops_per_cycle

    def gops(self, cores: int, ghz: float) -> float:
        """The peak in G operations per second on ``cores`` cores at ``ghz``."""
        return self.ops_per_cycle * cores * ghz


def fp32_per_cycle(machine=None, fma_units: int | None = None) -> PrecisionPeak:
    """float32 operations per core and cycle, by the rule of
    :func:`helpers.sysinfo.theoretical_peak_gflops` (lanes × 2 × FMA units), for any machine."""
    from helpers.expectations import fp32_lanes
    from helpers.machine import describe_machine

    m = describe_machine(machine)
    lanes = fp32_lanes(m)
    fma = m.arch == "arm64" or bool({"fma", "avx512f"} & m.features)
    if m.arch == "arm64":
        units = 4 if m.cpu_vendor == "Apple" else 2
        why = ("Apple's performance cores issue four 128-bit FMAs per cycle" if units == 4
               else "two 128-bit FMA pipes, as on Neoverse cores")
    elif lanes == 16 and m.microarchitecture == "zen4":
        units, why = 1, "Zen 4 splits each 512-bit FMA into two 256-bit halves"
    elif lanes >= 8 and fma:
        units, why = 2, "two FMA ports per core, as on x86 cores since Haswell/Zen 2"
    else:
        units, why = 1, "no FMA, or too little known about this CPU"
    units = fma_units or units
    isa = {16: "AVX-512", 8: "AVX2", 4: "NEON" if m.arch == "arm64" else "SSE"}[lanes]
    path = f"{isa} {'FMA' if fma else 'multiply + add'}"
    return PrecisionPeak("fp32", path, lanes * (2 if fma else 1) * units,
                         f"{lanes} lanes × 2 (multiply-add) × {units} unit(s): {why}")


# Intel's figures for one Sapphire Rapids core's AMX unit (Intel Architecture Instruction Set
# Extensions reference; "Accelerate AI workloads with Intel AMX"): 1024 int8 multiply-adds
# (2048 ops) or 512 bf16 multiply-adds (1024 ops) per cycle.
AMX_INT8_OPS, AMX_BF16_OPS = 2048, 1024


def precision_peaks(machine=None, fma_units: int | None = None) -> dict[str, PrecisionPeak]:
    """The peak per core and cycle of each precision this CPU has an instruction for.

    ``machine``: None (this one), a name of :data:`helpers.machine.EXAMPLE_MACHINES` or a
    :class:`helpers.machine.MachineDescription`. Keys: ``fp32`` always, ``int8`` always (some
    instruction multiplies bytes on every CPU), ``bf16`` where the CPU has bf16 arithmetic.
    Assumptions, each stated in ``why``:

    - INT8 with a one-instruction dot product (AVX-512 VNNI / AVX-VNNI ``vpdpbusd``, ARM
      ``sdot``): 4 byte products per float32 lane, on the same units as the FMAs: 4× FP32.
    - INT8 on ARM with i8mm (``smmla``): a 2×8 by 8×2 block per instruction: 8× FP32.
    - INT8 on x86 without VNNI: ``vpmaddubsw`` (u8×s8 pairs into 16 bits) then ``vpmaddwd``
      (into 32 bits): two multiply instructions for the same 4 products per lane: 2× FP32.
    - AMX-INT8 / AMX-BF16: Intel's 2048 int8 or 1024 bf16 operations per core and cycle,
      whatever the vector width.
    - BF16 with AVX-512 BF16 (``vdpbf16ps``) or ARM BF16 (``bfdot``): 2 products per float32
      lane: 2× FP32.
    Clocks are not part of it (see :func:`precision_ceilings`); AVX-512 and AMX clock offsets
    are ignored, as for FP32.
    """
    from helpers.machine import describe_machine

    m = describe_machine(machine)
    fp32 = fp32_per_cycle(m, fma_units)
    peaks = {"fp32": fp32}
    x = fp32.ops_per_cycle
    if m.has("amx_tile") and m.has("amx_int8"):
        peaks["int8"] = PrecisionPeak("int8", "AMX-INT8 tiles", AMX_INT8_OPS,
                                      "Intel's 1024 int8 multiply-adds per core and cycle")
    elif m.arch == "x86_64" and {"avx512_vnni", "avx_vnni"} & m.features:
        isa = "AVX-512 VNNI" if m.has("avx512_vnni") and m.has("avx512f") else "AVX-VNNI"
        peaks["int8"] = PrecisionPeak("int8", f"{isa} vpdpbusd", 4 * x,
                                      "4 byte products per float32 lane in one instruction, "
                                      "on the FMA units: 4× FP32")
    elif m.arch == "x86_64":
        peaks["int8"] = PrecisionPeak("int8", f"{fp32.path.split()[0]} vpmaddubsw + vpmaddwd",
                                      2 * x, "4 byte products per float32 lane take two "
                                      "multiply instructions (no VNNI): 2× FP32")
    elif m.has("i8mm"):
        peaks["int8"] = PrecisionPeak("int8", "NEON i8mm smmla", 8 * x,
                                      "a 2×8 by 8×2 int8 block per 128-bit instruction: 8× FP32")
    elif m.has("asimddp"):
        peaks["int8"] = PrecisionPeak("int8", "NEON dotprod sdot", 4 * x,
                                      "4 byte products per float32 lane: 4× FP32")
    else:
        peaks["int8"] = PrecisionPeak("int8", "widening multiply", 2 * x,
                                      "16-bit widening multiplies, 2 per float32 lane: 2× FP32")
    if m.has("amx_tile") and m.has("amx_bf16"):
        peaks["bf16"] = PrecisionPeak("bf16", "AMX-BF16 tiles", AMX_BF16_OPS,
                                      "Intel's 512 bf16 multiply-adds per core and cycle")
    elif m.has("avx512_bf16") or (m.arch == "arm64" and m.has("bf16")):
        name = "AVX-512 BF16 vdpbf16ps" if m.arch == "x86_64" else "NEON bfdot"
        peaks["bf16"] = PrecisionPeak("bf16", name, 2 * x,
                                      "2 bf16 products per float32 lane: 2× FP32")
    return peaks


def ort_int8_kernels(machine=None) -> dict[str, str]:
    """The MLAS kernels ONNX Runtime's CPU provider picks for a U8S8 model on this CPU.

    From ``onnxruntime/core/mlas/lib/platform.cpp``: the symmetric-weight convolution kernel
    (``ConvSymU8S8Dispatch``, which ``QLinearConv`` uses when every weight zero point is 0,
    ``qlinearconv.cc``'s ``TryConvSymPrepack``) has AVX2, AVX-VNNI, AVX-512 and AVX-512 VNNI
    versions and no AMX one; AMX is only set for the U8S8 GEMM (``GemmU8S8Dispatch``:
    ``QGemm``, ``MatMulInteger``, and ``QLinearConv`` with non-zero weight zero points).
    """
    from helpers.machine import describe_machine

    m = describe_machine(machine)
    if m.arch == "arm64":
        conv = "MlasConvSymU8DispatchDot (sdot)" if m.has("asimddp") else "MlasConvSymU8DispatchNeon"
        gemm = ("MlasGemmU8X8DispatchUmmla (i8mm)" if m.has("i8mm") else
                "MlasGemmU8X8DispatchUdot (udot)" if m.has("asimddp") else "MlasGemmU8X8DispatchNeon")
        return {"QLinearConv": conv, "QGemm / MatMulInteger": gemm}
    avx512 = m.has("avx512f") and m.has("avx512bw")
    if avx512 and m.has("avx512_vnni"):
        conv = gemm = "AVX-512 VNNI (MlasConvSymDispatchAvx512Vnni / MlasGemmU8S8KernelAvx512Vnni)"
    elif avx512:
        conv = gemm = "AVX-512 vpmaddubsw (MlasConvSymDispatchAvx512Core)"
    elif m.has("avx_vnni"):
        conv = gemm = "AVX-VNNI (MlasConvSymDispatchAvxVnni / MlasGemmU8S8KernelAvxVnni)"
    else:
        conv = gemm = "AVX2 vpmaddubsw (MlasConvSymDispatchAvx2 / MlasGemmU8S8DispatchAvx2)"
    if m.has("amx_tile") and m.has("amx_int8"):
        gemm = "AMX-INT8 tiles (MlasGemmU8S8DispatchAmx)"
    return {"QLinearConv": conv, "QGemm / MatMulInteger": gemm}


def ort_qlinearconv_peak(machine=None, fma_units: int | None = None) -> PrecisionPeak:
    """The INT8 peak ORT's ``QLinearConv`` kernel can reach here: the machine's INT8 peak
    without AMX or i8mm, the two that the symmetric convolution kernel never uses (see
    :func:`ort_int8_kernels`)."""
    from helpers.machine import describe_machine, without_features

    m = describe_machine(machine)
    unused = [f for f in ("amx_tile", "amx_int8", "amx_bf16", "i8mm") if f in m.features]
    return precision_peaks(without_features(m, *unused) if unused else m, fma_units)["int8"]


# What each benchmark engine computes in; "openvino-default" follows the CPU (bf16 where it
# has bf16 arithmetic), "ort-fp16" runs float32 after Cast nodes (notebook 11, section 6).
ENGINE_PRECISIONS = {"ort": "fp32", "ort-fp16": "fp32", "ort-int8": "int8", "ort-int8-s8s8": "int8",
                     "ort-int8-dynamic": "int8", "openvino": "fp32", "openvino-int8": "int8",
                     "ort-openvino": "fp32", "ort-openvino-int8": "int8"}


def openvino_default_precision(machine=None) -> str:
    """The precision OpenVINO's CPU plugin picks without a hint: bf16 with bf16 arithmetic."""
    from helpers.machine import describe_machine

    m = describe_machine(machine)
    return "bf16" if m.has("avx512_bf16") or m.has("amx_bf16") else "fp32"


def engine_precision(engine: str, machine=None) -> str:
    """The precision ``engine`` computes in on ``machine`` (see :data:`ENGINE_PRECISIONS`)."""
    if engine in ("openvino-default", "ort-openvino-default"):
        return openvino_default_precision(machine)
    if engine not in ENGINE_PRECISIONS:
        raise ValueError(f"no precision known for engine {engine!r}; expected one of "
                         f"{sorted([*ENGINE_PRECISIONS, 'openvino-default'])}")
    return ENGINE_PRECISIONS[engine]


def precision_shares(speed, gflop: Mapping[str, float], ghz: float, machine=None,
                     fma_units: int | None = None, cores: int | None = None):
    """Each measured engine's speed as a share of its own precision's ceiling.

    ``speed``: rows of :func:`helpers.bench.compare_engines` (model, engine, threads,
    median_ms, status; batch 1 unless a ``batch`` column says otherwise); ``gflop``: the
    models' GFLOP per image; ``ghz``: the clock; ``cores``: the physical cores (threads beyond
    them add no ceiling; None: no limit). Adds ``precision``, ``path`` (the instructions of that ceiling), ``gops`` (achieved: the
    model's operations over the median), ``ceiling_gops`` (ops per cycle × threads × GHz) and
    ``percent``.
    """
    peaks = precision_peaks(machine, fma_units)
    known = [*ENGINE_PRECISIONS, "openvino-default"]
    ok = speed[(speed["status"] == "ok") & speed["engine"].isin(known)].copy()
    ok["precision"] = [engine_precision(e, machine) for e in ok["engine"]]
    ok["path"] = [peaks[p].path for p in ok["precision"]]
    batch = ok["batch"].fillna(1) if "batch" in ok else 1
    ok["gops"] = ok["model"].map(gflop) * batch / (ok["median_ms"].astype(float) / 1000)
    used = ok["threads"].astype(int).clip(upper=cores or None)
    ok["ceiling_gops"] = [peaks[p].gops(int(t), ghz) for p, t in zip(ok["precision"], used,
                                                                      strict=True)]
    ok["percent"] = 100 * ok["gops"] / ok["ceiling_gops"]
    return ok


def int8_case(machine=None) -> str:
    """Which of the cases notebook 11 distinguishes this CPU is: ``"amx"``, ``"avx512-vnni"``,
    ``"avx512"``, ``"avx-vnni"``, ``"avx2"``, ``"arm"`` or ``"other"``."""
    from helpers.machine import describe_machine

    m = describe_machine(machine)
    if m.arch == "arm64":
        return "arm"
    if m.arch != "x86_64":
        return "other"
    if m.has("amx_tile") and m.has("amx_int8"):
        return "amx"
    if m.has("avx512f"):
        return "avx512-vnni" if m.has("avx512_vnni") else "avx512"
    if m.has("avx2"):
        return "avx-vnni" if m.has("avx_vnni") else "avx2"
    return "other"
