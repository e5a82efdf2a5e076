"""The fastest path on a CPU (notebook 11, section 9): ceilings per precision on faked machines,
which MLAS kernels ORT picks, OpenVINO's default precision, the OpenVINO EP plugin's state and
options, and the engines it registers. No timing is measured or asserted."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from helpers.bench import registry
from helpers.bench.ceiling import (
    AMX_INT8_OPS,
    engine_precision,
    fp32_per_cycle,
    openvino_default_precision,
    ort_int8_kernels,
    ort_qlinearconv_peak,
    precision_peaks,
    precision_shares,
)
from helpers.runtime.openvino_ep import (
    INTEL_VENDOR_ID,
    OpenVINOEPError,
    PluginState,
    create_session,
    ep_options,
)
from helpers.show.quantization import plot_precision_ceilings


def ops(machine) -> dict[str, float]:
    return {name: peak.ops_per_cycle for name, peak in precision_peaks(machine).items()}


@pytest.mark.parametrize(("machine", "expected"), [
    ("haswell", {"fp32": 32, "int8": 64}),                       # AVX2: vpmaddubsw, 2× FP32
    ("windows-avx2", {"fp32": 32, "int8": 128}),                 # AVX-VNNI: 4× FP32
    ("zen4", {"fp32": 32, "int8": 128, "bf16": 64}),             # 512-bit as two halves
    ("sapphire-rapids", {"fp32": 64, "int8": 2048, "bf16": 1024}),  # AMX tiles
    ("apple-m2", {"fp32": 32, "int8": 256, "bf16": 64}),         # i8mm, 4 FMA pipes
    ("graviton3", {"fp32": 16, "int8": 128, "bf16": 32}),
])
def test_ceilings_per_precision_follow_the_cpu_flags(machine, expected):
    assert ops(machine) == expected
    assert all(peak.why for peak in precision_peaks(machine).values()), "every assumption stated"


def test_fp32_rule_matches_the_course_peak_on_this_machine():
    from helpers.sysinfo import theoretical_peak_gflops

    peak = theoretical_peak_gflops(1)
    if peak["peak_gflops"] is None:
        pytest.skip("no clock known here")
    assert fp32_per_cycle().gops(1, peak["ghz"]) == pytest.approx(peak["peak_gflops"])
    assert fp32_per_cycle("zen4", fma_units=2).ops_per_cycle == 64  # the override is honoured


def test_ort_convolutions_never_reach_amx():
    spr = ort_int8_kernels("sapphire-rapids")
    assert "VNNI" in spr["QLinearConv"] and "AMX" in spr["QGemm / MatMulInteger"]
    assert ort_qlinearconv_peak("sapphire-rapids").ops_per_cycle * 8 == AMX_INT8_OPS
    assert "AVX2 vpmaddubsw" in ort_int8_kernels("haswell")["QLinearConv"]
    assert ort_qlinearconv_peak("haswell") == precision_peaks("haswell")["int8"]
    assert "sdot" in ort_int8_kernels("apple-m2")["QLinearConv"]


def test_engine_precisions_and_openvino_default():
    assert openvino_default_precision("sapphire-rapids") == "bf16"
    assert openvino_default_precision("zen4") == "bf16"
    assert openvino_default_precision("haswell") == "fp32"
    assert engine_precision("openvino-default", "haswell") == "fp32"
    assert engine_precision("ort-openvino") == "fp32", "the plugin's CPU default is FP32"
    assert engine_precision("ort-int8") == "int8"
    with pytest.raises(ValueError, match="no precision known"):
        engine_precision("torch")


def speed_frame() -> pd.DataFrame:
    rows = [("ort", 40.0), ("ort-int8", 20.0), ("openvino-default", 10.0), ("torch", 50.0)]
    return pd.DataFrame([{"model": "resnet18", "engine": e, "threads": t, "median_ms": ms / t,
                          "status": "ok"} for e, ms in rows for t in (1, 2)])


def test_precision_shares_weigh_each_engine_against_its_own_ceiling():
    shares = precision_shares(speed_frame(), {"resnet18": 3.6}, ghz=2.0, machine="sapphire-rapids",
                              cores=1)
    assert "torch" not in set(shares.engine), "engines with no known precision are left out"
    one = shares[shares.threads == 1].set_index("engine")
    assert one.loc["ort", "gops"] == pytest.approx(90.0)
    assert one.loc["ort", "percent"] == pytest.approx(100 * 90 / 128)   # 64 ops × 2 GHz
    assert one.loc["ort-int8", "path"] == "AMX-INT8 tiles"
    assert one.loc["openvino-default", "precision"] == "bf16"
    two = shares[shares.threads == 2].set_index("engine")
    assert two.loc["ort", "ceiling_gops"] == one.loc["ort", "ceiling_gops"], "one core only"
    fig = plot_precision_ceilings(shares, conditions="resnet18 b1 224, 2.0 GHz, faked SPR")
    assert "faked SPR" in fig.axes[0].get_title() and "%" in fig.axes[0].get_ylabel()
    with pytest.raises(ValueError, match="one model"):
        plot_precision_ceilings(pd.concat([shares, shares.assign(model="other")]))
    plt.close("all")


def test_plugin_reason_names_what_is_missing():
    assert "not installed" in PluginState(False, None, False).reason
    amd = PluginState(True, "1.8.1", True, (), 0x1022)
    assert "Intel hardware only" in amd.reason and "AMD (0x1022)" in amd.reason
    assert PluginState(True, "1.8.1", True, ("CPU", "GPU"), INTEL_VENDOR_ID).reason is None
    assert "did not register" in PluginState(True, "1.8.1", False, error="boom").reason


def test_plugin_options_and_errors():
    assert ep_options("default") == {}
    f32 = json.loads(ep_options("f32", threads=2)["load_config"])
    assert f32 == {"CPU": {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": "2"}}
    assert json.loads(ep_options(threads=1)["load_config"]) == {"CPU": {"INFERENCE_NUM_THREADS": "1"}}
    bf16 = json.loads(ep_options("bf16")["load_config"])
    assert bf16 == {"CPU": {"INFERENCE_PRECISION_HINT": "bf16"}}
    with pytest.raises(OpenVINOEPError, match="precision must be one of"):
        ep_options("fp8")
    with pytest.raises(FileNotFoundError, match="nothing.onnx"):
        create_session("nothing.onnx")


def test_plugin_engines_are_registered_with_a_reason_when_absent():
    engines = registry.engines()
    assert {"ort-openvino", "ort-openvino-int8"} <= set(engines)
    assert engines["ort-openvino-int8"].variant == "int8"
    reason = engines["ort-openvino"].why_unavailable()
    text = registry.describe_engines()
    assert "ort-openvino" in text and (reason is None or reason in text)


def test_cpu_cases_and_what_a_deployment_needs():
    from helpers.bench.ceiling import int8_case
    from helpers.runtime.openvino_ep import deployment

    cases = {m: int8_case(m) for m in ("haswell", "windows-avx2", "zen4", "sapphire-rapids",
                                       "apple-m2")}
    assert cases == {"haswell": "avx2", "windows-avx2": "avx-vnni", "zen4": "avx512-vnni",
                     "sapphire-rapids": "amx", "apple-m2": "arm"}
    ort_only = deployment("ort-int8")
    assert ort_only["packages"] == "onnxruntime" and ort_only["install MB"] > 0
    assert "Intel hardware only" in deployment("ort-openvino-int8")["runs on"]
    assert deployment("openvino-default")["packages"] == "openvino"
