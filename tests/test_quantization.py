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
    convert_fp16,
    digits_validation_images,
    float_input_name,
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
    with pytest.raises(OpenVINOError, match="OpenVINO cannot compile corrupt.onnx"):
        compile_onnx(corrupt_onnx)
    model = compile_onnx(tiny_onnx)
    with pytest.raises(OpenVINOError, match=r"float32 array of shape \[B, C, H, W\], got \(3, 64, 64\)"):
        model(np.zeros((3, 64, 64), np.float32))


# ----------------------------------------------------------------------------- bench engines


def test_engines_are_registered_with_the_benchmark():
    import helpers.bench as bench
    import helpers.bench.loaders_quantized  # noqa: F401 - registers the engines

    names = bench.engines()
    for name in ("ort-int8", "ort-fp16", "openvino", "openvino-default"):
        assert name in names, f"{name} missing from the benchmark registry"
    assert bench.get_engine("openvino").options["precision"] == "f32"
    assert bench.get_engine("ort-int8").variant == "int8"


def test_openvino_engine_runs_in_a_worker(tiny_onnx):
    import helpers.bench as bench
    import helpers.bench.loaders_quantized  # noqa: F401 - registers the engines

    record = bench.measure({"engine": "openvino-default", "model": None, "batch": 1, "size": 64,
                            "threads": 1, "files": {"onnx": str(tiny_onnx)},
                            "policy": {"warmup": 1, "warmup_s": 0, "repeats": 3, "min_runs": 1,
                                       "max_seconds": 0.1, "rounds": 1}}, timeout=120)
    assert record["status"] == "ok", record.get("note")
    assert record["precision_used"] in ("f32", "bf16", "f16")
