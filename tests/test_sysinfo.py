"""helpers.machine, helpers.expectations and helpers.sysinfo: this machine and faked ones."""

from __future__ import annotations

import importlib.util
import platform
import types

import numpy as np
import pytest

from helpers import sysinfo
from helpers.expectations import (
    expectations,
    expectations_by_machine,
    fp32_lanes,
    openvino_precision,
    openvino_reported_precision,
    ort_int8_kernel,
)
from helpers.machine import (
    ARM_FEATURES,
    EXAMPLE_MACHINES,
    FEATURE_LABELS,
    X86_FEATURES,
    MachineDescription,
    darwin_features,
    describe_machine,
    feature_name,
    normalize_arch,
    parse_sysctl,
    short_machine,
    without_features,
)

# ------------------------------------------------------------------ this machine -------------


def test_this_machine_is_described_from_cpu_queries():
    machine = describe_machine()
    assert machine.arch == normalize_arch(platform.machine()) and machine.os == platform.system()
    own = X86_FEATURES if machine.arch == "x86_64" else ARM_FEATURES
    assert machine.features <= set(own) and not machine.faked
    assert machine.physical_cores >= 1 and machine.logical_cpus >= machine.physical_cores
    assert machine.sources and machine.sources[0].startswith("numpy")  # CPUID, not a text file
    assert machine.cpu_class.startswith({"x86_64": "x86", "arm64": "arm64"}.get(machine.arch, ""))
    line = short_machine()
    assert machine.cpu_model in line and machine.cpu_class in line


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch not installed")
def test_features_agree_with_torchs_own_cpu_detection():
    """PyTorch picks its ATen kernels from its own CPUID reading (cpuinfo): it must agree."""
    import torch

    machine = describe_machine()
    capability = torch.backends.cpu.get_cpu_capability()
    if capability == "AVX512":
        assert machine.has("avx512f", "avx512bw", "avx512dq", "avx512vl"), capability
    if capability == "AVX2":
        assert machine.has("avx2") and not machine.has("avx512_vnni", "avx512bw"), capability
    if machine.arch == "x86_64" and machine.has("avx2", "fma"):
        assert capability in ("AVX2", "AVX512"), (capability, machine.cpu_class)


@pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="openvino not installed")
def test_openvino_default_precision_is_what_the_rule_predicts():
    """The rule restated from OpenVINO's config.cpp against OpenVINO's own answer here."""
    assert openvino_reported_precision() == openvino_precision().key


def test_sysinfo_uses_the_one_description():
    machine = describe_machine()
    assert sysinfo.cpu_flags() == set(machine.features)
    assert sysinfo.cpu_model() == machine.cpu_model
    assert sysinfo.physical_cores() == machine.physical_cores
    info = sysinfo.machine_info(with_engines=False)
    assert info["cpu_class"] == machine.cpu_class and info["isa"] == machine.feature_labels
    assert machine.cpu_class in sysinfo.format_machine(info)


def test_format_machine_reads_reports_stored_before_the_cpu_class():
    old = {"cpu_model": "Some CPU", "physical_cores": 2, "logical_cpus": 4, "memory_gb": 8.0,
           "os": "Linux 6.1", "python": "3.11.7", "versions": {"torch": "2.14.1"}}
    assert sysinfo.format_machine(old).startswith("Some CPU, 2 physical cores / 4 logical CPUs")


# ------------------------------------------------------------------ memory -------------------


def test_rss_grows_with_touched_memory_and_peak_follows():
    before = sysinfo.current_rss_mb()
    block = np.ones(25_000_000)  # 200 MB, every page written
    grown = sysinfo.current_rss_mb() - before
    peak, source = sysinfo.peak_rss_mb()
    del block
    assert grown > 150, f"RSS grew {grown:.0f} MB after touching 200 MB"
    assert peak >= before + 150 and source in ("VmHWM", "peak_wset", "ru_maxrss")


def test_peak_on_windows_is_psutils_peak_working_set(monkeypatch, tmp_path):
    import psutil

    info = types.SimpleNamespace(rss=100 * 2**20, peak_wset=300 * 2**20)
    monkeypatch.setattr(sysinfo, "_PROC_STATUS", tmp_path / "absent")
    monkeypatch.setattr(psutil, "Process", lambda: types.SimpleNamespace(memory_info=lambda: info))
    assert sysinfo.peak_rss_mb() == (300.0, "peak_wset")
    assert sysinfo.current_rss_mb() == 100.0


@pytest.mark.skipif(importlib.util.find_spec("resource") is None, reason="no resource module")
@pytest.mark.parametrize(("platform_name", "ru_maxrss"), [("darwin", 512 * 2**20), ("linux", 512 * 1024)])
def test_peak_from_ru_maxrss_in_the_right_unit(monkeypatch, tmp_path, platform_name, ru_maxrss):
    """ru_maxrss is bytes on macOS and KiB elsewhere: both read as 512 MiB."""
    import resource

    import psutil

    monkeypatch.setattr(sysinfo, "_PROC_STATUS", tmp_path / "absent")
    monkeypatch.setattr(psutil, "Process", lambda: types.SimpleNamespace(
        memory_info=lambda: types.SimpleNamespace(rss=1)))
    monkeypatch.setattr(resource, "getrusage", lambda who: types.SimpleNamespace(ru_maxrss=ru_maxrss))
    monkeypatch.setattr(sysinfo.sys, "platform", platform_name)
    assert sysinfo.peak_rss_mb() == (512.0, "ru_maxrss")


# ------------------------------------------------------------------ faked machines -----------


def test_haswell_avx2_only():
    m = describe_machine("haswell")
    assert m.faked and m.cpu_class == "x86 AVX2 only"
    int8 = ort_int8_kernel(m)
    assert (int8.key, int8.activations, int8.saturates) == ("avx2", "uint8", True)
    assert "reduce_range=True" in int8.fix and "x64quantprecision" in int8.fix
    assert "int16" in int8.reason  # the 16-bit saturating step, said
    assert openvino_precision(m).key == "f32" and fp32_lanes(m) == 8


def test_apple_silicon_on_macos():
    m = describe_machine("apple-m2")
    assert m.arch == "arm64" and m.os == "Darwin"
    assert m.cpu_class == "arm64 NEON + dotprod + i8mm"
    int8 = ort_int8_kernel(m)
    assert (int8.key, int8.activations, int8.saturates, int8.fix) == ("arm-dotprod", "int8", False, None)
    assert "only in Linux builds" in int8.reason  # i8mm present, not used by macOS's MLAS
    assert openvino_precision(m).key == "f16" and fp32_lanes(m) == 4
    same_chip_on_linux = MachineDescription.from_features(m.features, arch="arm64", os="Linux")
    assert ort_int8_kernel(same_chip_on_linux).key == "arm-i8mm"


def test_windows_laptop_with_avx2():
    vnni = describe_machine("windows-avx2")  # Alder Lake: AVX2 plus AVX-VNNI, no AVX-512
    assert vnni.os == "Windows" and vnni.cpu_class == "x86 AVX2 + AVX-VNNI"
    assert (ort_int8_kernel(vnni).key, ort_int8_kernel(vnni).saturates) == ("avx-vnni", False)
    assert openvino_precision(vnni).key == "f32"
    plain = describe_machine({"features": ["SSE4.2", "AVX", "AVX2", "FMA3"], "os": "Windows"})
    assert plain.cpu_class == "x86 AVX2 only" and ort_int8_kernel(plain).saturates


@pytest.mark.parametrize(("name", "kernel", "precision", "css"), [
    ("sapphire-rapids", "amx", "bf16", "x86 AVX-512 + VNNI + BF16 + AMX"),
    ("zen4", "avx512-vnni", "bf16", "x86 AVX-512 + VNNI + BF16"),  # bf16 without AMX
    ("graviton3", "arm-i8mm", "f16", "arm64 NEON + dotprod + i8mm + SVE"),
])
def test_server_classes(name, kernel, precision, css):
    m = describe_machine(name)
    assert (m.cpu_class, ort_int8_kernel(m).key, openvino_precision(m).key) == (css, kernel, precision)


def test_avx512_without_vnni_saturates_like_avx2():
    skylake = MachineDescription.from_features(
        ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl"])
    assert skylake.cpu_class == "x86 AVX-512"
    assert (ort_int8_kernel(skylake).key, ort_int8_kernel(skylake).saturates) == ("avx512-core", True)
    assert ort_int8_kernel(without_features(describe_machine("zen4"), "avx512_vnni")).saturates


def test_feature_spellings_and_errors():
    assert {feature_name(n) for n in ("AVX-512 VNNI", "AVX512VNNI", "avx512_vnni")} == {"avx512_vnni"}
    assert feature_name("dotprod") == feature_name("ASIMDDP") == "asimddp"
    assert set(FEATURE_LABELS) == set(X86_FEATURES) | set(ARM_FEATURES)
    with pytest.raises(ValueError, match="do not exist on arm64"):
        MachineDescription.from_features(["avx2"], arch="aarch64")
    with pytest.raises(ValueError, match="unknown CPU feature 'avx9000'"):
        MachineDescription.from_features(["avx9000"])
    with pytest.raises(ValueError, match="unknown example machine"):
        describe_machine("pentium-4")


def test_a_machine_whose_features_could_not_be_read_says_so():
    m = MachineDescription.from_features([], arch="arm64", os="Windows", unknown=["dotprod", "i8mm"])
    assert m.cpu_class == "arm64 (ISA features not checked)"
    assert openvino_precision(m).key == "unsupported"  # no CPU plugin on Windows on ARM


def test_macos_sysctl_output_is_read():
    text = ("hw.optional.neon: 1\nhw.optional.arm.FEAT_DotProd: 1\nhw.optional.arm.FEAT_I8MM: 0\n"
            "hw.optional.arm.FEAT_FP16: 1\nmachdep.cpu.brand_string: Apple M1\n")
    values = parse_sysctl(text)
    assert values["machdep.cpu.brand_string"] == "Apple M1"
    assert darwin_features(values) == {"asimd": True, "asimddp": True, "asimdhp": True, "i8mm": False}


def test_expectation_rows_for_every_example_machine():
    rows = expectations_by_machine()
    assert [r["machine"] for r in rows] == ["this machine", *EXAMPLE_MACHINES]
    assert len({r["ort_int8_kernel"] for r in rows}) >= 5  # the classes really differ
    assert {e.topic for e in expectations()} >= {"ORT INT8 matrix multiply (MLAS)",
                                                 "OpenVINO default inference precision"}


def test_peak_gflops_assumptions_follow_the_machine(monkeypatch):
    monkeypatch.setattr(sysinfo, "describe_machine", lambda: describe_machine("apple-m2"))
    monkeypatch.setattr(sysinfo, "cpu_clock_ghz", lambda: (3.5, "test"))
    ceiling = sysinfo.theoretical_peak_gflops(threads=4)
    assert (ceiling["fp32_lanes"], ceiling["fma_units_per_core"], ceiling["cores"]) == (4, 4, 4)
    assert ceiling["peak_gflops"] == pytest.approx(4 * 4 * 2 * 4 * 3.5)


@pytest.mark.parametrize("name, lanes, units", [("zen4", 16, 1), ("sapphire-rapids", 16, 2),
                                                 ("haswell", 8, 2), ("graviton3", 4, 2)])
def test_peak_gflops_fma_units_per_class_of_cpu(monkeypatch, name, lanes, units):
    monkeypatch.setattr(sysinfo, "describe_machine", lambda: describe_machine(name))
    monkeypatch.setattr(sysinfo, "cpu_clock_ghz", lambda: (2.0, "test"))
    peak = sysinfo.theoretical_peak_gflops(threads=2)
    assert (peak["fp32_lanes"], peak["fma_units_per_core"]) == (lanes, units)
    assert peak["fma_units_why"] and peak["peak_gflops"] == pytest.approx(2 * lanes * 2 * units * 2.0)
