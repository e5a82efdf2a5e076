"""helpers.graph.debug: pictures of a graph, exposed intermediates, layer comparison, bisection."""

from __future__ import annotations

import gc
import shutil

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from helpers.doctor import find_browser, find_chromedriver
from helpers.graph import debug as graphs
from helpers.graph.debug import (
    RendererMissingError,
    bisect_divergence,
    compare_layers,
    expose_intermediates,
    first_divergent,
    gc_frozen,
    node_outputs,
    render_graph,
    run_intermediates,
    to_dot,
)


def chain_model(factor: float) -> onnx.ModelProto:
    """x → Relu → Mul(factor) → Add(side) → Tanh, with a side branch Neg(x) after the Mul."""
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
        helper.make_node("Mul", ["r", "k"], ["m"], name="mul"),
        helper.make_node("Neg", ["x"], ["side"], name="neg"),  # later in order, independent of mul
        helper.make_node("Add", ["m", "side"], ["a"], name="add"),
        helper.make_node("Tanh", ["a"], ["y"], name="tanh"),
    ]
    graph = helper.make_graph(
        nodes, "chain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])],
        [numpy_helper.from_array(np.array(factor, dtype=np.float32), "k")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 10
    onnx.checker.check_model(model)
    return model


@pytest.fixture()
def feeds() -> dict[str, np.ndarray]:
    return {"x": np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4)}


def test_to_dot_names_every_node_and_edge():
    dot = to_dot(chain_model(2.0))
    for op in ("Relu", "Mul", "Neg", "Add", "Tanh"):
        assert f'label="{op}' in dot
    assert '"in:x" -> n0' in dot and '"n3" -> n4' in dot and '"n4" -> "out:y"' in dot
    assert "k" in dot.split("n1 [label=")[1].split("]")[0]  # the weight is named in its node


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz not installed")
def test_graphviz_png_writes_a_png(tmp_path):
    path = graphs.graphviz_png(chain_model(2.0), tmp_path / "g.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_render_graph_falls_back_to_graphviz_then_says_what_is_missing(tmp_path, monkeypatch):
    model_path = tmp_path / "m.onnx"
    onnx.save(chain_model(2.0), model_path)

    def no_netron(*args, **kwargs):
        raise RendererMissingError("no chromium")

    def no_graphviz(*args, **kwargs):
        raise RendererMissingError("no dot")

    monkeypatch.setattr(graphs, "netron_png", no_netron)
    if shutil.which("dot"):
        picture = render_graph(model_path, tmp_path / "m.png")
        assert picture.renderer == "graphviz" and picture.path.exists()
    monkeypatch.setattr(graphs, "graphviz_png", no_graphviz)
    with pytest.raises(RendererMissingError, match="no chromium; no dot"):
        render_graph(model_path, tmp_path / "m.png")


@pytest.mark.skipif(not (find_browser() and find_chromedriver()),
                    reason="chromium and chromium-driver not installed")
def test_netron_capture_draws_the_graph(tmp_path):
    from PIL import Image

    model_path = tmp_path / "m.onnx"
    onnx.save(chain_model(2.0), model_path)
    png = graphs.netron_png(model_path, tmp_path / "netron.png", size=(500, 700))
    pixels = np.asarray(Image.open(png).convert("L"), dtype=np.float32)
    width, height = pixels.shape[1] / graphs.SCALE, pixels.shape[0] / graphs.SCALE
    assert 100 < width < 500 and 200 < height < 700  # cropped to the drawing
    assert graphs.Picture(png, "netron").display_width == pixels.shape[1] // graphs.SCALE
    assert pixels.std() > 5  # boxes and text, not a blank page


def test_gc_frozen_skips_old_objects_and_still_collects_new_ones():
    class Node:
        pass

    gc.collect()
    assert gc.get_freeze_count() == 0
    with gc_frozen():
        assert gc.get_freeze_count() > 0, "what existed before is frozen"
        cycle = Node()
        cycle.me = cycle
        del cycle
        assert gc.collect() >= 1, "a cycle made inside the block is still collected"
    assert gc.get_freeze_count() == 0, "unfrozen afterwards"


def test_expose_and_run_intermediates_in_graph_order(feeds):
    model = chain_model(2.0)
    exposed = expose_intermediates(model)
    assert [o.name for o in exposed.graph.output] == ["y", "r", "m", "side", "a"]
    assert len(model.graph.output) == 1  # the original is untouched
    values = run_intermediates(model, feeds)
    assert list(values) == node_outputs(model) == ["r", "m", "side", "a", "y"]
    x = feeds["x"]
    np.testing.assert_allclose(values["m"], np.maximum(x, 0) * 2)
    np.testing.assert_allclose(values["y"], np.tanh(np.maximum(x, 0) * 2 - x), rtol=1e-6)


def test_compare_layers_finds_the_first_disagreeing_tensor(feeds):
    good = run_intermediates(chain_model(2.0), feeds)
    bad = run_intermediates(chain_model(3.0), feeds)
    frame = compare_layers(good, bad)
    assert list(frame["tensor"]) == ["r", "m", "side", "a", "y"]
    assert list(frame["agrees"]) == [True, False, True, False, False]
    assert first_divergent(frame) == "m"
    assert first_divergent(compare_layers(good, good)) is None
    shaped = compare_layers({"r": np.zeros((1, 4))}, {"r": np.zeros((2, 4))})
    assert not shaped["agrees"][0] and shaped["max_abs_diff"][0] == float("inf")


def test_bisection_names_the_culprit_despite_an_agreeing_side_branch(tmp_path, feeds):
    bad_path = tmp_path / "bad.onnx"
    onnx.save(chain_model(3.0), bad_path)
    reference = run_intermediates(chain_model(2.0), feeds)
    result = bisect_divergence(bad_path, feeds, reference, tmp_path)
    assert result.culprit == "m" and result.node.op_type == "Mul"
    assert len(result.tried) <= 4  # 5 candidates: the last, then at most 3 halvings
    assert [n.op_type for n in result.sub_model.graph.node] == ["Mul"]
    good_path = tmp_path / "good.onnx"
    onnx.save(chain_model(2.0), good_path)
    with pytest.raises(ValueError, match="agrees"):
        bisect_divergence(good_path, feeds, reference, tmp_path)
