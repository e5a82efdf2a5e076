"""helpers.export.pipeline and helpers.runtime.pipeline: all-in-one classifiers, pixels in, top-k out."""

from __future__ import annotations

import dataclasses

import numpy as np
import onnx
import pytest
import torch
from PIL import Image

from helpers.data.datasets import sample_image_paths
from helpers.data.images import center_crop, load_image, preprocess_digit, resize_shorter_side
from helpers.data.labels import labels_for, softmax
from helpers.export import pipeline
from helpers.export.pipeline import (
    DIGITS,
    IMAGENET,
    ImagePipeline,
    Preprocess,
    ResizeToUint8,
    export_image_module,
    export_pipeline,
)
from helpers.runtime.pipeline import (
    classify_pixels,
    is_pipeline,
    pipeline_classes,
    pipeline_k,
)
from helpers.runtime.sessions import InputValidationError, create_session, run


@pytest.mark.parametrize("height,width", [(2, 2), (300, 451), (451, 300), (257, 1000),
                                          (224, 224), (999, 333), (480, 481)])
def test_sizes_and_crop_offsets_match_pillow_path(height, width):
    resized = resize_shorter_side(Image.new("L", (width, height)), 256)
    new_h, new_w = pipeline.resized_size(height, width, 256)
    assert (new_w, new_h) == resized.size
    for length in (new_h, new_w):
        assert pipeline.crop_start(length, 224) == int(round((length - 224) / 2.0))
    center_crop(resized, 224)  # the crop fits


def test_crop_start_rounds_half_to_even():
    assert [pipeline.crop_start(224 + excess, 224) for excess in range(6)] == [0, 0, 1, 2, 2, 2]


def test_preprocess_module_matches_pillow_path_within_one_grey_level():
    image = load_image(next(p for p in sample_image_paths() if p.name == "chelsea_cat.png"))
    with torch.no_grad():
        ours = Preprocess(DIGITS)(torch.from_numpy(image)).numpy()
    # DIGITS: shorter side 64 then crop 64, scaled to [-1, 1]
    resized = center_crop(resize_shorter_side(Image.fromarray(image), 64), 64)
    reference = (np.asarray(resized, dtype=np.float32) / 255.0 - 0.5) / 0.5
    assert ours.shape == (1, 3, 64, 64)
    assert np.abs(ours[0].transpose(1, 2, 0) - reference).max() <= 2 / 255 + 1e-6  # 1 level / 0.5


@pytest.fixture(scope="module")
def tiny_pipeline(tmp_path_factory, tiny_model):
    path = tmp_path_factory.mktemp("pipe") / "tiny_pipeline.onnx"
    return export_pipeline(tiny_model, DIGITS, path, classes=10, k=3, labels="digits",
                           weights="random")


def test_export_has_uint8_dynamic_input_and_topk_outputs(tiny_pipeline):
    model = onnx.load(str(tiny_pipeline))
    (graph_input,) = model.graph.input
    assert graph_input.name == "image"
    assert graph_input.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    dims = graph_input.type.tensor_type.shape.dim
    assert [d.dim_param for d in dims[:2]] == ["height", "width"] and dims[2].dim_value == 3
    assert [o.name for o in model.graph.output] == ["probabilities", "indices"]
    resize = next(n for n in model.graph.node if n.op_type == "Resize")
    assert onnx.helper.get_attribute_value(
        next(a for a in resize.attribute if a.name == "antialias")) == 1
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["pipeline"] == "uint8-image-to-topk" and meta["classes"] == "10"


@pytest.mark.parametrize("height,width", [(64, 64), (37, 90), (200, 130)])
def test_runs_at_any_size_and_matches_pytorch(tiny_pipeline, tiny_model, height, width):
    session = create_session(tiny_pipeline)
    image = np.random.default_rng(height).integers(0, 256, (height, width, 3), dtype=np.uint8)
    probabilities, indices = run(session, image)
    with torch.no_grad():
        want_p, want_i = ImagePipeline(tiny_model, DIGITS, k=3)(torch.from_numpy(image))
    assert probabilities.shape == (3,) and indices.dtype == np.int64
    assert np.abs(probabilities - want_p.numpy()).max() < 1e-4
    assert indices.tolist() == want_i.tolist()
    assert np.all(np.diff(probabilities) <= 0)


def test_square_digit_matches_plain_preprocessing(tiny_pipeline, tiny_model):
    image = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    with torch.no_grad():
        logits = tiny_model(torch.from_numpy(preprocess_digit(image))).numpy()[0]
    probabilities, indices = run(create_session(tiny_pipeline), image)
    reference = softmax(logits)
    assert indices.tolist() == np.argsort(-reference)[:3].tolist()
    assert np.abs(probabilities - reference[indices]).max() < 1e-5


def test_runtime_helpers_recognise_the_file(tiny_pipeline, tiny_onnx):
    session = create_session(tiny_pipeline)
    assert is_pipeline(session) and not is_pipeline(create_session(tiny_onnx))
    assert pipeline_k(session) == 3 and pipeline_classes(session) == 10
    image = np.zeros((50, 70, 3), dtype=np.uint8)
    predictions = classify_pixels(session, image, labels_for("digits"), k=2)
    assert [p.rank for p in predictions] == [1, 2]
    with pytest.raises(ValueError, match="returns its top 3 classes; asked for 4"):
        classify_pixels(session, image, labels_for("digits"), k=4)
    floats = np.full((50, 70, 3), 0.9, dtype=np.float32)  # a [0, 1] image, not pixels
    with pytest.raises(ValueError, match=r"uint8 array of shape \(H, W, 3\), got float32.*255"):
        classify_pixels(session, floats, labels_for("digits"))
    with pytest.raises(ValueError, match="got uint8 \\(50, 70\\)"):
        classify_pixels(session, image[..., 0], labels_for("digits"))


def test_recognised_from_input_alone_without_metadata(tmp_path, tiny_model):
    path = export_image_module(ImagePipeline(tiny_model, DIGITS, k=2), tmp_path / "bare.onnx",
                               output_names=("probabilities", "indices"))
    session = create_session(path)
    assert "pipeline" not in session.get_modelmeta().custom_metadata_map
    assert is_pipeline(session) and pipeline_classes(session) is None


def test_wrong_input_gets_a_clear_error(tiny_pipeline):
    session = create_session(tiny_pipeline)
    with pytest.raises(InputValidationError, match=r"'image' of shape \[height, width, 3\] uint8"):
        run(session, np.zeros((64, 64, 3), dtype=np.float32))
    with pytest.raises(InputValidationError, match="axis 2 must be 3"):
        run(session, np.zeros((64, 64, 4), dtype=np.uint8))


def test_bad_k_is_refused(tiny_model, tmp_path):
    with pytest.raises(ValueError, match="k must be between 1 and 10"):
        export_pipeline(tiny_model, DIGITS, tmp_path / "x.onnx", classes=10, k=11)


def test_resize_without_antialias_and_bicubic_attributes(tmp_path):
    attrs = {}
    for mode, antialias in [("bilinear", False), ("bicubic", True)]:
        path = export_image_module(ResizeToUint8(32, mode, antialias), tmp_path / f"{mode}.onnx")
        node = next(n for n in onnx.load(str(path)).graph.node if n.op_type == "Resize")
        attrs[mode] = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    assert attrs["bilinear"]["antialias"] == 0
    assert attrs["bicubic"]["antialias"] == 1 and attrs["bicubic"]["cubic_coeff_a"] == -0.5


def test_descriptions():
    assert "antialiased" in IMAGENET.describe() and "crop 224" in IMAGENET.describe()
    assert "no antialias" in dataclasses.replace(DIGITS, antialias=False).describe()


def test_export_is_reused_until_something_changes(tmp_path, tiny_model):
    path = tmp_path / "cached.onnx"
    export_pipeline(tiny_model, DIGITS, path, classes=10, k=2)
    first = path.stat().st_mtime_ns
    export_pipeline(tiny_model, DIGITS, path, classes=10, k=2)
    assert path.stat().st_mtime_ns == first
    export_pipeline(tiny_model, DIGITS, path, classes=10, k=4)
    assert create_session(path).get_outputs()[0].shape == [4]


def test_topk_becomes_an_input(tiny_pipeline, tmp_path):
    from helpers.export.pipeline import topk_as_input

    path = topk_as_input(tiny_pipeline, tmp_path / "k_input.onnx")
    session = create_session(path)
    assert [i.name for i in session.get_inputs()] == ["image", "k"]
    image = np.random.default_rng(0).integers(0, 256, (80, 60, 3), dtype=np.uint8)
    fixed = run(create_session(tiny_pipeline), image)
    for k in (1, 3, 10):
        probabilities, indices = run(session, {"image": image, "k": np.array([k], dtype=np.int64)})
        assert probabilities.shape == (k,) and indices.shape == (k,)
        shared = min(k, 3)
        assert indices[:shared].tolist() == fixed[1][:shared].tolist()
    assert is_pipeline(session) and pipeline_k(session) is None
    assert len(classify_pixels(session, image, labels_for("digits"), k=7)) == 7


def test_topk_as_input_needs_a_topk(tiny_onnx, tmp_path):
    from helpers.export.pipeline import topk_as_input

    with pytest.raises(ValueError, match="has no TopK node"):
        topk_as_input(tiny_onnx, tmp_path / "x.onnx")


def test_show_pipeline_timing_tables_and_figures():
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd

    from helpers.show.pipeline import (
        latency_table,
        plot_latency,
        plot_resize_parity,
        ratio_line,
        source_lines,
        time_interleaved,
    )

    calls = []
    candidates = {"a": lambda x: calls.append(("a", x)), "b": lambda x: calls.append(("b", x))}
    times = time_interleaved(candidates, [1, 2, 3], rounds=2, seed=0)
    assert {name: len(t) for name, t in times.items()} == {"a": 6, "b": 6}
    assert len(calls) == 2 + 2 * 3 * 2  # one untimed call each, then rounds x inputs x candidates
    assert [x for name, x in calls[2:] if name == "a"] == [1, 2, 3, 1, 2, 3]
    with pytest.raises(ValueError, match="at least one round"):
        time_interleaved(candidates, [1], rounds=0)
    table = latency_table({"a": [1.0, 2.0, 3.0], "b": [2.0, 4.0, 6.0]})
    assert table.loc["a", "median ms"] == 2.0 and table.loc["b", "calls"] == 3
    assert "median 2.00" in ratio_line({"a": [1.0, 2.0, 3.0], "b": [2.0, 4.0, 6.0]}, "b", "a")
    fig = plot_latency(table, in_graph=["b"], title="two candidates")
    assert fig.axes[0].get_title() == "two candidates" and "ms" in fig.axes[0].get_xlabel()
    with pytest.raises(ValueError, match="not rows"):
        plot_latency(table, in_graph=["c"], title="x")
    parity = pd.DataFrame({"bilinear max": [1, 1], "bilinear no-AA max": [20, 40],
                           "bicubic max": [3, 5]}, index=["p1", "p2"])
    fig = plot_resize_parity(parity, "resize parity")
    assert len(fig.axes[0].patches) == 6 and fig.axes[0].get_yscale() == "symlog"
    with pytest.raises(ValueError, match="missing"):
        plot_resize_parity(parity.drop(columns="bicubic max"), "x")

    def two_lines(x):
        return x

    assert source_lines(two_lines) == 2 and source_lines(two_lines, two_lines) == 4
