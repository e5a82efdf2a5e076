"""helpers.runtime.quantization, helpers.runtime.openvino and the reduced-precision benchmark engines."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from helpers.runtime.quantization import (
    RECOMMENDED,
    ArrayCalibrationReader,
    QuantizationError,
    QuantRecipe,
    conv_weight_types,
    convert_fp16,
    cpu_int8_flags,
    digits_validation_images,
    float_input_name,
    float_weight_convs,
    optimized_graph,
    optimized_op_counts,
    quantize_dynamic_int8,
    quantize_int8,
)
from helpers.runtime.sessions import create_session, run


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((8, 3, 64, 64), dtype=np.float32)


@pytest.fixture(scope="module")
def int64_input_model(tmp_path_factory):
    """A valid model whose only input is int64 token ids: nothing to calibrate."""
    graph = helper.make_graph(
        [helper.make_node("Cast", ["ids"], ["out"], to=TensorProto.FLOAT)], "ids",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, [1, 4])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path_factory.mktemp("ids") / "ids.onnx"
    onnx.save(model, str(path))
    return path


def _logits(path, x):
    return run(create_session(path, providers=["CPUExecutionProvider"], threads=1), x)[0]


# ----------------------------------------------------------------------------- bad input


def test_empty_or_malformed_calibration_set_is_refused():
    with pytest.raises(QuantizationError, match=r"N >= 1, got \(0, 3, 64, 64\)"):
        ArrayCalibrationReader("input", np.zeros((0, 3, 64, 64), np.float32))
    with pytest.raises(QuantizationError, match=r"shape \[N, C, H, W\]"):
        ArrayCalibrationReader("input", np.zeros((3, 64, 64), np.float32))
    with pytest.raises(QuantizationError, match="expected float32 calibration images, got uint8"):
        ArrayCalibrationReader("input", np.zeros((2, 3, 64, 64), np.uint8))


def test_model_without_float_input(int64_input_model, images):
    with pytest.raises(QuantizationError, match="expected exactly one float32 input.*'ids' int64"):
        float_input_name(int64_input_model)
    reader = ArrayCalibrationReader("ids", images)
    with pytest.raises(QuantizationError, match="float32 input"):
        quantize_int8(int64_input_model, int64_input_model.with_name("q.onnx"), reader)
    with pytest.raises(QuantizationError, match="float32 input"):
        convert_fp16(int64_input_model, int64_input_model.with_name("h.onnx"))


def test_missing_file(tmp_path, images):
    reader = ArrayCalibrationReader("input", images)
    for call in (lambda p: quantize_int8(p, tmp_path / "q.onnx", reader),
                 lambda p: quantize_dynamic_int8(p, tmp_path / "d.onnx"),
                 lambda p: convert_fp16(p, tmp_path / "h.onnx"),
                 optimized_op_counts, float_input_name):
        with pytest.raises(FileNotFoundError, match="ONNX model not found: missing.onnx"):
            call(tmp_path / "missing.onnx")


def test_reader_for_another_input_name_is_refused(tiny_onnx, images, tmp_path):
    with pytest.raises(QuantizationError, match="feeds 'pixels', the model's input is 'input'"):
        quantize_int8(tiny_onnx, tmp_path / "q.onnx", ArrayCalibrationReader("pixels", images))


def test_bad_recipe_and_calibration_size():
    with pytest.raises(QuantizationError, match="activations must be one of"):
        QuantRecipe(activations="int4")
    with pytest.raises(QuantizationError, match="method must be one of"):
        QuantRecipe(method="kl")
    with pytest.raises(QuantizationError, match=r"between 1 and \d+ \(the validation split\), got 100000"):
        digits_validation_images(100000)


# ----------------------------------------------------------------------------- behaviour


def test_reader_batches_and_rewinds(images):
    reader = ArrayCalibrationReader("input", images, batch_size=3)
    shapes = []
    while (batch := reader.get_next()) is not None:
        shapes.append(batch["input"].shape[0])
    assert shapes == [3, 3, 2] and len(reader) == 8
    reader.rewind()
    assert reader.get_next()["input"].shape == (3, 3, 64, 64)


def test_digits_calibration_comes_from_the_validation_split():
    from helpers.data.datasets import load_digits_splits
    from helpers.models.course import to_tensors

    chosen = digits_validation_images(16, seed=0)
    splits = load_digits_splits()
    val = to_tensors(splits.x_val, splits.y_val)[0].numpy()
    test = to_tensors(splits.x_test, splits.y_test)[0].numpy()
    assert chosen.shape == (16, 3, 64, 64) and chosen.dtype == np.float32
    in_val = [any(np.array_equal(img, v) for v in val) for img in chosen]
    in_test = [any(np.array_equal(img, t) for t in test) for img in chosen]
    assert all(in_val) and not any(in_test)
    assert np.array_equal(chosen, digits_validation_images(16, seed=0))  # seeded


def test_static_int8_u8s8_runs_as_qlinearconv(tiny_onnx, images, tmp_path):
    out = quantize_int8(tiny_onnx, tmp_path / "u8s8.onnx", ArrayCalibrationReader("input", images, 4),
                        RECOMMENDED)
    ops = {n.op_type for n in onnx.load(str(out)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops  # QDQ format on disk
    counts = optimized_op_counts(out)
    assert counts["QLinearConv"] == 1 and counts["Conv"] == 0  # fused by ORT on x86
    reference, quantized = _logits(tiny_onnx, images), _logits(out, images)
    scale = np.abs(reference).max()
    assert np.abs(reference - quantized).max() < 0.1 * scale  # close, not equal


def test_recipe_options_change_the_file(tiny_onnx, images, tmp_path):
    reader = ArrayCalibrationReader("input", images, 4)
    per_tensor = quantize_int8(tiny_onnx, tmp_path / "pt.onnx", reader, QuantRecipe(per_channel=False))
    per_channel = quantize_int8(tiny_onnx, tmp_path / "pc.onnx", reader, RECOMMENDED)

    def weight_scales(path):
        model = onnx.load(str(path))
        names = {i.name: i for i in model.graph.initializer}
        conv = next(n for n in model.graph.node if n.op_type == "Conv")
        dq = next(n for n in model.graph.node if n.output[0] == conv.input[1])
        return onnx.numpy_helper.to_array(names[dq.input[1]]).size

    assert weight_scales(per_tensor) == 1 and weight_scales(per_channel) == 8  # 8 filters
    excluded = quantize_int8(tiny_onnx, tmp_path / "x.onnx", reader,
                             QuantRecipe(nodes_to_exclude=("node_conv2d",)))
    assert optimized_op_counts(excluded)["QLinearConv"] in (0, 1)  # a missing name is ignored


def test_dynamic_int8_uses_integer_convolution(tiny_onnx, images, tmp_path):
    out = quantize_dynamic_int8(tiny_onnx, tmp_path / "dyn.onnx")
    ops = {n.op_type for n in onnx.load(str(out)).graph.node}
    assert "ConvInteger" in ops and "DynamicQuantizeLinear" in ops
    assert np.abs(_logits(out, images) - _logits(tiny_onnx, images)).max() < 0.1


def test_fp16_keeps_float32_inputs_and_outputs(tiny_onnx, images, tmp_path):
    out = convert_fp16(tiny_onnx, tmp_path / "fp16.onnx")
    model = onnx.load(str(out))
    assert model.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert model.graph.output[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert all(i.data_type == TensorProto.FLOAT16 for i in model.graph.initializer
               if i.data_type in (TensorProto.FLOAT, TensorProto.FLOAT16) and len(i.dims) > 1)
    diff = np.abs(_logits(out, images) - _logits(tiny_onnx, images)).max()
    assert 0 < diff < 1e-2  # float16 rounding: visible, small


def test_float_weights_in_the_file_and_in_what_ort_runs(tiny_onnx, images, tmp_path):
    reader = ArrayCalibrationReader("input", images, 4)
    int8 = quantize_int8(tiny_onnx, tmp_path / "u8s8.onnx", reader, RECOMMENDED)
    kept = quantize_int8(tiny_onnx, tmp_path / "kept.onnx", reader,
                         QuantRecipe(nodes_to_exclude=tuple(
                             n.name for n in onnx.load(str(tiny_onnx)).graph.node
                             if n.op_type == "Conv")))
    assert float_weight_convs(tiny_onnx) == 1  # the float file's one convolution
    assert float_weight_convs(int8) == 0  # its weight comes through DequantizeLinear
    assert float_weight_convs(kept) == 1  # excluded: the float weight stays in the file
    fp16 = convert_fp16(tiny_onnx, tmp_path / "fp16.onnx")
    assert conv_weight_types(onnx.load(str(fp16))) in (set(), {"FLOAT16"})  # on disk
    assert conv_weight_types(optimized_graph(fp16)) == {"FLOAT"}  # ORT's CPU casts back
    with pytest.raises(FileNotFoundError, match="missing.onnx"):
        float_weight_convs(tmp_path / "missing.onnx")


def test_cpu_int8_flags_are_known_names():
    assert set(cpu_int8_flags()) <= {"avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm"}


def test_sqnr_table_in_graph_order(tiny_onnx, images, tmp_path):
    from onnxruntime.quantization import qdq_loss_debug as qdq_debug

    from helpers.runtime.quant_debug import SQNR_COLUMNS, sqnr_table
    from helpers.runtime.quantization import preprocess_for_quantization

    pre = preprocess_for_quantization(tiny_onnx, tmp_path / "pre.onnx")
    int8 = quantize_int8(tiny_onnx, tmp_path / "u8s8.onnx", ArrayCalibrationReader("input", images, 4))
    acts = {}
    for name, path in (("float", pre), ("qdq", int8)):
        augmented = tmp_path / f"{name}_all.onnx"
        qdq_debug.modify_model_output_intermediate_tensors(str(path), str(augmented))
        acts[name] = qdq_debug.collect_activations(str(augmented), ArrayCalibrationReader(
            "input", images, 4), execution_providers=["CPUExecutionProvider"])
    errors = qdq_debug.compute_activation_error(
        qdq_debug.create_activation_matching(acts["qdq"], acts["float"]))
    table = sqnr_table(errors, pre)
    order = [o for n in onnx.load(str(pre)).graph.node for o in n.output]
    assert tuple(table.columns) == SQNR_COLUMNS and len(table) >= 2
    assert list(table.tensor) == [t for t in order if t in set(table.tensor)]  # graph order
    assert table.tensor.iloc[-1] == onnx.load(str(pre)).graph.output[0].name  # ends at the logits
    lost = table["SQNR dB"].shift(1) - table["SQNR dB"]
    assert np.allclose(table["dB lost here"].iloc[1:], lost.iloc[1:])
    assert table["dB lost here"].iloc[0] == 0
    with pytest.raises(ValueError, match="pass the float model that was quantized"):
        sqnr_table({"not_a_tensor": {"xmodel_err": 30.0}}, pre)


# ----------------------------------------------------------------------------- figures


def test_figures_state_their_conditions():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from helpers.show import quantization as show

    by_size = pd.DataFrame({"test accuracy %": [95.2, 95.9], "max |Δ logit|": [9.0, 1.3]},
                           index=pd.Index([8, 32], name="calibration digits"))
    fig = show.plot_calibration_sizes(by_size, 95.9, "course model, 270 test digits")
    assert "270 test digits" in fig.axes[0].get_title() and len(fig.axes) == 2
    sqnr = pd.DataFrame({"SQNR dB": [40.0, 33.0, 35.0], "op": ["Conv", "Conv", "Gemm"]})
    fig = show.plot_sqnr(sqnr, sqnr.iloc[[1]], "16 validation digits")
    assert "16 validation digits" in fig.axes[0].get_title()
    speed = pd.DataFrame({"model": "resnet18", "engine": ["ort", "ort-int8"] * 2,
                          "threads": [1, 1, 2, 2], "weights": "random",
                          "median_ms": [80.0, 40.0, 50.0, 25.0], "low_ms": [78.0, 39.0, 49.0, 24.0],
                          "high_ms": [85.0, 44.0, 52.0, 27.0], "speedup": [1.0, 2.0, 1.0, 2.0]})
    speed.attrs.update(cpu="Test CPU", cores=2, rounds=3, batch=1, size=224, baseline="ort",
                       baseline_label="ORT FP32")
    fig = show.plot_engine_speedups(speed)
    title = fig.get_suptitle()
    assert "Test CPU" in title and "3 interleaved rounds" in title and "2 physical cores" in title
    panel = fig.axes[0]
    assert "batch 1" in panel.get_title() and "224×224" in panel.get_title()
    assert panel.get_yscale() == "log"
    heights = sorted(round(p.get_height(), 6) for p in panel.patches if p.get_height() > 0)
    assert heights == [1.0, 1.0, 2.0, 2.0]  # one bar per engine and thread count
    plt.close("all")


# ----------------------------------------------------------------------------- OpenVINO


def test_openvino_f32_matches_ort_and_reports_its_precision(tiny_onnx, images):
    from helpers.runtime.openvino import compile_onnx

    model = compile_onnx(tiny_onnx, precision="f32", threads=1)
    assert model.precision_used == "f32" and model.input_name == "input"
    assert np.abs(model(images) - _logits(tiny_onnx, images)).max() < 1e-4


def test_openvino_bad_input(tmp_path, tiny_onnx, corrupt_onnx):
    from helpers.runtime.openvino import OpenVINOError, compile_onnx

    with pytest.raises(OpenVINOError, match="precision must be one of"):
        compile_onnx(tiny_onnx, precision="bf16")
    with pytest.raises(FileNotFoundError, match="missing.onnx"):
        compile_onnx(tmp_path / "missing.onnx")
    with pytest.raises(OpenVINOError, match="OpenVINO cannot compile corrupt.onnx") as caught:
        compile_onnx(corrupt_onnx)
    assert "Exception from src/" not in str(caught.value) and len(str(caught.value)) > 60
    model = compile_onnx(tiny_onnx)
    with pytest.raises(OpenVINOError, match=r"float32 array of shape \[B, C, H, W\], got \(3, 64, 64\)"):
        model(np.zeros((3, 64, 64), np.float32))


def test_openvino_errors_keep_the_reason_not_the_source_locations():
    from helpers.runtime.openvino import openvino_reason

    text = ("Exception from src/inference/src/cpp/core.cpp:112:\n"
            "Exception from src/inference/src/dev/plugin.cpp:53:\n"
            "Exception from src/plugins/intel_cpu/src/node.cpp:1611:\n"
            "Unsupported operation of type: QLinearConv name: conv1\n"
            "Details: precision i8 is not supported for activations\n")
    assert openvino_reason(text) == ("Unsupported operation of type: QLinearConv name: conv1 / "
                                     "Details: precision i8 is not supported for activations")
    assert openvino_reason("Exception from src/x.cpp:1:") == "Exception from src/x.cpp:1:"
    assert openvino_reason("") == "RuntimeError" and len(openvino_reason("x" * 2000)) == 500


# ----------------------------------------------------------------------------- bench engines


def test_engines_are_registered_with_the_benchmark():
    import helpers.bench as bench  # the registry finds helpers.bench.engines_quantized itself

    names = bench.engines()
    for name in ("ort-int8", "ort-fp16", "openvino", "openvino-default"):
        assert name in names, f"{name} missing from the benchmark registry"
    assert bench.get_engine("openvino").options["precision"] == "f32"
    assert bench.get_engine("ort-int8").variant == "int8"


def test_openvino_engine_runs_in_a_worker(tiny_onnx):
    import helpers.bench as bench

    record = bench.measure({"engine": "openvino-default", "model": None, "batch": 1, "size": 64,
                            "threads": 1, "files": {"onnx": str(tiny_onnx)},
                            "policy": {"warmup": 1, "warmup_s": 0, "repeats": 3, "min_runs": 1,
                                       "max_seconds": 0.1, "rounds": 1}}, timeout=120)
    assert record["status"] == "ok", record.get("note")
    assert record["precision_used"] in ("f32", "bf16", "f16")


def test_compare_logits_gives_accuracy_agreement_and_the_largest_difference():
    from helpers.runtime.quantization import compare_logits

    reference = np.array([[2.0, 0.0], [0.0, 2.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    out = reference + np.array([[0, 0], [0, 0], [0, 1.5], [0, 0]], dtype=np.float32)
    row = compare_logits(out, np.array([0, 1, 0, 0]), reference)
    assert row == {"test accuracy %": 50.0, "top-1 agreement %": 75.0, "max |Δ logit|": 1.5}
