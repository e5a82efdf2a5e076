"""Notebook 18's helpers: the ORT operator config, ORT's converter, the runtime libraries each
route ships, the edge engines and the routes comparison (no model is lowered here)."""

from __future__ import annotations

import matplotlib
import numpy as np
import onnx
import pandas as pd
import pytest
from onnx import TensorProto, helper

from helpers import bench
from helpers.bench import BenchError, register_engine
from helpers.bench.compare_routes import ROUTE_COLUMNS, compare_routes
from helpers.runtime import edge

matplotlib.use("Agg")

CONFIG = """# Generated from model/s:
# - somewhere/model.ort
ai.onnx;13;Gemm{"inputs": {"0": ["float"]}},Transpose{"inputs": {"0": ["uint8_t"]}}
ai.onnx;19;DequantizeLinear{"inputs": {"0": ["int32_t", "int8_t", "uint8_t"]}},Reshape
com.microsoft;1;FusedConv,QLinearConv{"inputs": {"0": ["uint8_t"]}}
"""


def test_parse_operator_config_reads_domains_opsets_and_types():
    ops = edge.parse_operator_config(CONFIG)
    assert [(o.domain, o.opset, o.operator) for o in ops] == [
        ("ai.onnx", 13, "Gemm"), ("ai.onnx", 13, "Transpose"), ("ai.onnx", 19, "DequantizeLinear"),
        ("ai.onnx", 19, "Reshape"), ("com.microsoft", 1, "FusedConv"),
        ("com.microsoft", 1, "QLinearConv")]
    types = {o.operator: o.types for o in ops}
    assert types["DequantizeLinear"] == "inputs 0: int32_t, int8_t, uint8_t"
    assert types["Reshape"] == "" and types["Transpose"] == "inputs 0: uint8_t"


@pytest.mark.parametrize(("text", "match"), [("ai.onnx;Conv", "expected 'domain;opset"),
                                             ('ai.onnx;11;Conv{"inputs": {0}}', "not JSON")])
def test_parse_operator_config_rejects_what_it_cannot_read(text, match):
    with pytest.raises(edge.EdgeFormatError, match=match):
        edge.parse_operator_config(text)


def test_read_operator_config_as_a_table(tmp_path):
    path = tmp_path / edge.CONFIG_NAME
    path.write_text(CONFIG)
    table = edge.read_operator_config(path)
    assert list(table.columns) == ["domain", "opset", "operator", "types"] and len(table) == 6
    with pytest.raises(FileNotFoundError, match="no operator config"):
        edge.read_operator_config(tmp_path / "missing.config")


def test_converter_command_checks_its_choices(tmp_path):
    command = edge.converter_command(tmp_path / "m.onnx", tmp_path / "out")
    assert command[1:3] == ["-m", edge.CONVERTER]
    assert command[-5:] == ["--optimization_style", "Fixed", "--target_platform", "arm",
                            "--enable_type_reduction"]
    assert "--enable_type_reduction" not in edge.converter_command("m.onnx", "o", type_reduction=False)
    with pytest.raises(edge.EdgeFormatError, match="target_platform"):
        edge.converter_command("m.onnx", "o", target_platform="riscv")
    with pytest.raises(edge.EdgeFormatError, match="optimization_style"):
        edge.converter_command("m.onnx", "o", optimization_style="Eager")


def tiny_conv_model(path):
    """Conv + Relu on a 1x1x4x4 input: small enough to convert in a second."""
    weight = helper.make_tensor("w", TensorProto.FLOAT, [2, 1, 3, 3], np.ones(18, np.float32))
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["c"], ["y"])], "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 4, 4])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def test_convert_to_ort_runs_orts_converter(tmp_path):
    import onnxruntime as ort

    source = tiny_conv_model(tmp_path / "tiny.onnx")
    target = edge.convert_to_ort(source, tmp_path / "out", target_platform="arm")
    assert target.suffix == ".ort" and edge.is_ort_format(target) and not edge.is_ort_format(source)
    config = edge.config_path(source, tmp_path / "out")
    assert config.name == "tiny.required_operators_and_types.config"
    assert edge.config_path(tmp_path, "o", optimization_style="Runtime").name == (
        "required_operators_and_types.with_runtime_opt.config")
    ops = edge.read_operator_config(config)
    assert "FusedConv" in set(ops.operator)  # Conv + Relu fused before the file was written
    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    out = session.run(None, {"x": np.ones((1, 1, 4, 4), np.float32)})[0]
    assert out[0, 0, 1, 1] == 9 and out[0, 0, 0, 0] == 4
    with pytest.raises(FileNotFoundError, match="existing .onnx"):
        edge.convert_to_ort(tmp_path / "none.onnx", tmp_path / "out")


def test_route_libraries_measure_the_files_on_disk(tmp_path, monkeypatch):
    folders = {"onnxruntime": tmp_path / "ort", "executorch": tmp_path / "et"}
    (folders["onnxruntime"] / "capi").mkdir(parents=True)
    (folders["executorch"] / "lib").mkdir(parents=True)
    (folders["onnxruntime"] / "capi" / "libonnxruntime.so.1.0").write_bytes(b"x" * 3_000_000)
    (folders["onnxruntime"] / "capi" / "libonnxruntime.so").symlink_to("libonnxruntime.so.1.0")
    for name, size in (("libexecutorch.so", 400_000), ("libexecutorch_backend_xnnpack.so", 2_000_000),
                       ("libexecutorch_threadpool.so", 100_000),
                       ("libexecutorch_kernels_optimized.so", 5_000_000)):
        (folders["executorch"] / "lib" / name).write_bytes(b"x" * size)
    monkeypatch.setattr(edge, "package_folder", folders.get)
    table = edge.route_libraries()
    assert set(table.library) == {"libonnxruntime.so.1.0", "libexecutorch.so",
                                  "libexecutorch_backend_xnnpack.so", "libexecutorch_threadpool.so"}
    sizes = edge.route_sizes()
    assert sizes["ONNX Runtime"] == pytest.approx(3.0) and sizes["ExecuTorch + XNNPACK"] == pytest.approx(2.5)
    assert edge.route_sizes(kernels=True)["ExecuTorch + XNNPACK"] == pytest.approx(7.5)
    monkeypatch.setattr(edge, "package_folder", lambda package: None)
    assert edge.route_libraries().empty


def test_edge_engines_are_registered_with_their_files():
    assert {"executorch", "executorch-int8", "ort-format"} <= set(bench.engine_names())
    assert bench.parse_engines("et,ort-mobile,et-int8") == ["executorch", "ort-format", "executorch-int8"]
    assert bench.get_engine("executorch").files == "weights"
    assert bench.get_engine("executorch-int8").options == {"int8": True}
    assert bench.get_engine("ort-format").files == "onnx-fixed"
    assert bench.get_engine("executorch").why_unavailable() in (None, bench.get_engine("executorch-int8").why_unavailable())


def test_compare_routes_checks_files_and_skips_what_cannot_run(tmp_path, scratch_engines):
    register_engine("absent", "Absent engine", lambda job: None, available=lambda: "not on this machine")
    with pytest.raises(BenchError, match="no file for b"):
        compare_routes({"b": ("ort", {"onnx": tmp_path / "none.onnx"})}, progress=False)
    model = tmp_path / "m.pte"
    model.write_bytes(b"pte")
    frame = compare_routes({"a": ("absent", {"pte": model})}, threads=(1, 2), progress=False)
    assert list(frame.columns) == list(ROUTE_COLUMNS)
    assert list(frame.status) == ["skipped", "skipped"] and list(frame.threads) == [1, 2]
    assert (frame.note == "not on this machine").all() and frame.attrs["rounds"] >= 1


def test_plot_edge_routes_states_its_conditions():
    from helpers.show.edge import plot_edge_routes

    table = pd.DataFrame({"ms @1t": [8.0, 3.0], "low @1t": [7.5, 2.8], "high @1t": [8.5, 3.3],
                          "ms @2t": [5.0, 2.0], "low @2t": [4.8, 1.9], "high @2t": [5.5, 2.2],
                          "model MB": [44.7, 11.3], "runtime MB": [34.8, 3.5],
                          "color": ["ort", "executorch-int8"]}, index=["ORT FP32", "ExecuTorch INT8"])
    fig = plot_edge_routes(table, (1, 2), "batch 1, 64×64, test machine")
    left, right = fig.axes
    assert "test machine" in fig._suptitle.get_text()
    assert "ms" in left.get_xlabel() and "MB" in right.get_xlabel()
    assert [t.get_text() for t in left.get_yticklabels()] == ["ORT FP32", "ExecuTorch INT8"]


def test_executorch_helpers_say_what_they_expected(tmp_path):
    from helpers.export import edge as et_edge

    class Doubler:  # stands in for a loaded ExecuTorch method: list of tensors in, list out
        def execute(self, inputs):
            return [inputs[0] * 2]

    images = np.ones((4, 3, 8, 8), np.float32)
    assert et_edge.run_pte(Doubler(), images, batch=2).shape == (4, 3, 8, 8)
    with pytest.raises(et_edge.EdgeError, match=r"\[N, 3, H, W\] float32"):
        et_edge.run_pte(Doubler(), images.astype(np.float64))
    with pytest.raises(et_edge.EdgeError, match="batches of 3"):
        et_edge.run_pte(Doubler(), images, batch=3)
    with pytest.raises(et_edge.EdgeError, match="at least 1"):
        et_edge.set_threads(0)
    with pytest.raises(et_edge.EdgeError, match="no ExecuTorch program"):
        et_edge.load_method(tmp_path / "none.pte")
    made = et_edge.write_pte_if_missing(tmp_path / "m.pte", lambda: b"program")
    assert made.read_bytes() == b"program"
    assert et_edge.write_pte_if_missing(made, lambda: b"other").read_bytes() == b"program"
