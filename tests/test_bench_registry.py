"""The engine registry and the model store's variant hook (no engine is timed here)."""

from __future__ import annotations

import pytest

from helpers import bench
from helpers.bench import BenchError, Job, parse_engines, register_engine
from helpers.bench import registry as reg
from helpers.bench.store import ModelStore, register_variant
from helpers.show.colors import engine_color


def test_builtin_engines_and_aliases():
    names = bench.engine_names()
    assert {"torch", "ort", "ort-dynamic", "ort-sim", "ort-dynamic-sim", "torch-cuda",
            "preprocess", "torch-compile", "torch-channels-last"} <= set(names)
    assert parse_engines("PyTorch, ort-fixed ,ort,ort-fixed-sim") == ["torch", "ort", "ort-sim"]
    assert parse_engines(["cuda"]) == ["torch-cuda"]
    assert bench.ENGINE_LABELS["ort"] == "ORT fixed axes"
    assert bench.get_engine("ort-sim").variant == "onnxsim"


@pytest.mark.parametrize("bad", ["tensorrt", "torch,tvm", ""])
def test_parse_engines_rejects_unknown(bad):
    with pytest.raises(BenchError, match="expected|no engine"):
        parse_engines(bad)


def test_register_engine_is_one_call(scratch_engines):
    def load(job: Job):
        return lambda: job.input().sum()

    engine = register_engine("toy", "Toy engine", load, aliases=("t0y",), color="#123456",
                             available=lambda: "toy hardware absent")
    assert parse_engines("T0Y") == ["toy"] and engine.module == __name__
    assert engine_color("toy") == "#123456" and bench.ENGINE_LABELS["toy"] == "Toy engine"
    assert engine.why_unavailable() == "toy hardware absent"
    assert "toy hardware absent" in reg.describe_engines()
    run = engine.load(Job("toy", None, batch=2, size=32, threads=1))
    assert run().shape == () and Job("toy", None, 2, 32, 1).input().shape == (2, 3, 32, 32)


def test_register_engine_checks_its_arguments(scratch_engines):
    with pytest.raises(BenchError, match="comma"):
        register_engine("a,b", "x", lambda job: None)
    with pytest.raises(BenchError, match="file kind"):
        register_engine("x", "x", lambda job: None, files="pickle")
    with pytest.raises(BenchError, match="variant needs an ONNX file"):
        register_engine("x", "x", lambda job: None, files="weights", variant="int8")


def test_a_failing_availability_check_is_a_reason_not_a_crash(scratch_engines):
    def broken() -> str | None:
        raise RuntimeError("driver exploded")

    engine = register_engine("flaky", "Flaky", lambda job: None, available=broken)
    assert "driver exploded" in engine.why_unavailable()


def test_variant_hook_builds_once_and_caches(tmp_path):
    calls = []

    def build(source, target):
        calls.append(source.name)
        target.write_bytes(source.read_bytes() + b"!")

    register_variant("shout", build)
    source = tmp_path / "m.onnx"
    source.write_bytes(b"model")
    store = ModelStore(folder=tmp_path)
    first = store.variant(source, "shout")
    second = store.variant(source, "shout")
    assert first == second == tmp_path / "m_shout.onnx" and calls == ["m.onnx"]
    assert first.read_bytes() == b"model!" and not list(tmp_path.glob("*.partial"))
    with pytest.raises(BenchError, match="unknown variant"):
        store.variant(source, "nope")
    with pytest.raises(BenchError, match="identifiers"):
        register_variant("no-dash", build)


def test_store_files_follow_the_registration(scratch_engines, tmp_path):
    register_engine("nofile", "No file", lambda job: None)
    assert ModelStore(folder=tmp_path).files_for("nofile", "resnet18", 1, 32) == {}
