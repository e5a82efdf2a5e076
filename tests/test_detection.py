"""Unit tests for helpers.data.detection and helpers.models.detector: canvases, targets, NMS, export, mAP."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision

from helpers.data.detection import (
    CANVAS_SIZE,
    cached_canvases,
    load_canvases,
    make_canvases,
    save_canvases,
)
from helpers.models.detector import (
    GRID,
    Detections,
    DetectorWithNMS,
    DetTrainConfig,
    DigitDetector,
    decode,
    detect_ort,
    detect_torch,
    export_detector,
    iou_threshold_as_input,
    load_or_train_detector,
    make_targets,
    mean_average_precision,
    per_class_nms,
    same_detections,
    threshold_margins,
    to_input,
)

TINY = DetTrainConfig(canvases=8, epochs=1, batch_size=4, lr=1e-3, width=8, seed=0)


@pytest.fixture(scope="module")
def canvases():
    return make_canvases(6, "test", seed=3)


def test_canvases_are_seeded_and_consistent(canvases):
    again = make_canvases(6, "test", seed=3)
    assert np.array_equal(canvases.images, again.images)
    assert canvases.images.shape == (6, CANVAS_SIZE, CANVAS_SIZE) and canvases.images.dtype == np.uint8
    for boxes, labels in zip(canvases.boxes, canvases.labels, strict=True):
        assert 1 <= len(labels) <= 4 and boxes.shape == (len(labels), 4)
        assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
        assert (boxes >= 0).all() and (boxes <= CANVAS_SIZE).all()
        iou = torchvision.ops.box_iou(torch.from_numpy(boxes), torch.from_numpy(boxes))
        assert (iou - torch.eye(len(boxes))).abs().max() == 0, "digits never overlap"
    # a shorter set is a prefix of a longer one (the exercise relies on it)
    assert np.array_equal(make_canvases(3, "test", seed=3).images, canvases.images[:3])
    assert not np.array_equal(make_canvases(3, "train", seed=3).images, canvases.images[:3])


@pytest.mark.parametrize("kwargs, match", [({"split": "val"}, "split"), ({"count": 0}, "count"),
                                           ({"digit_px": (2, 10)}, "digit sizes")])
def test_make_canvases_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_canvases(**{"count": 2, **kwargs})


def test_canvases_round_trip_and_cache(tmp_path, canvases):
    save_canvases(canvases, tmp_path / "c.npz")
    back = load_canvases(tmp_path / "c.npz")
    assert np.array_equal(back.images, canvases.images)
    for a, b in zip(back.boxes, canvases.boxes, strict=True):
        assert np.array_equal(a, b)
    first = cached_canvases(2, "train", folder=tmp_path)
    assert len(list(tmp_path.glob("canvases_train_*.npz"))) == 1
    assert np.array_equal(cached_canvases(2, "train", folder=tmp_path).images, first.images)
    assert canvases[1:3].objects() == sum(len(lab) for lab in canvases.labels[1:3])
    with pytest.raises(TypeError, match="slice"):
        canvases[0]


def test_to_input_checks_dtype():
    x = to_input(np.full((2, 16, 16), 255, np.uint8))
    assert x.shape == (2, 1, 16, 16) and float(x.max()) == 1.0
    with pytest.raises(ValueError, match=r"\[N, H, W\] uint8"):
        to_input(np.zeros((2, 16, 16), np.float32))


def test_targets_decode_back_to_the_true_box():
    box = np.array([[30.0, 20.0, 62.0, 60.0]], np.float32)
    positive, cls, ltrb = make_targets([box], [np.array([7])])
    assert positive.shape == (1, GRID * GRID) and int(positive.sum()) > 1, "a big digit has several cells"
    assert (cls[positive] == 7).all()
    raw = torch.zeros(1, 15, GRID, GRID)
    raw.view(1, 15, -1)[0, 11:15] = ltrb[0].T
    boxes, _, _ = decode(raw)
    np.testing.assert_allclose(boxes[0][positive[0]].numpy(), np.repeat(box, int(positive.sum()), 0),
                               atol=1e-4)


def test_per_class_nms_matches_batched_nms():
    g = torch.Generator().manual_seed(0)
    corner = torch.rand(300, 2, generator=g) * 50
    boxes = torch.cat([corner, corner + 12], 1)
    scores, classes = torch.rand(300, generator=g), torch.randint(0, 10, (300,), generator=g)
    for iou in (0.3, 0.5, 0.7):
        assert torch.equal(per_class_nms(boxes, scores, classes, iou),
                           torchvision.ops.batched_nms(boxes, scores, classes, iou))


def test_tiny_training_caches_and_the_wrapper_runs(tmp_path, canvases):
    first = load_or_train_detector(TINY, folder=tmp_path, progress=False)
    assert len(first.losses) == 2 and all(np.isfinite(first.losses)) and not first.model.training
    second = load_or_train_detector(TINY, folder=tmp_path, progress=False)
    assert second.losses == first.losses and second.checkpoint == first.checkpoint
    wrapper = DetectorWithNMS(first.model)
    found = detect_torch(wrapper, canvases.images[:2], 0.0)
    assert len(found) == 2 and found[0].boxes.shape[1] == 4 and found[0].classes.dtype == np.int64
    assert (np.diff(found[0].scores) <= 0).all(), "kept boxes come by decreasing score"
    assert detect_torch(wrapper, canvases.images[:1], 1.0)[0].scores.size == 0


def test_mean_average_precision_perfect_and_empty(canvases):
    perfect = [Detections(b, np.ones(len(b), np.float32), lab)
               for b, lab in zip(canvases.boxes, canvases.labels, strict=True)]
    assert mean_average_precision(perfect, canvases)["mAP@0.5"] == pytest.approx(1.0)
    wrong = [Detections(d.boxes, d.scores, (d.classes + 1) % 10) for d in perfect]
    assert mean_average_precision(wrong, canvases)["mAP@0.5"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="detection lists"):
        mean_average_precision(perfect[:2], canvases)


def test_same_detections():
    a = Detections(np.zeros((1, 4), np.float32), np.array([0.5], np.float32), np.array([3]))
    assert same_detections(a, a)
    assert not same_detections(a, Detections(a.boxes, a.scores, np.array([4])))
    assert not same_detections(a, Detections(a.boxes + 1e-3, a.scores, a.classes))


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "legacy"])
def test_export_matches_torchvision_in_ort(tmp_path, canvases, dynamo):
    from helpers.runtime.sessions import create_session

    torch.manual_seed(0)
    model = DigitDetector(width=8).eval()
    path = export_detector(DetectorWithNMS(model), tmp_path / "det.onnx", dynamo=dynamo)
    session = create_session(path)
    assert [i.name for i in session.get_inputs()] == ["image", "score_threshold", "iou_threshold"]
    for score, iou in ((0.0, 0.5), (0.2, 0.3)):
        ours = detect_torch(DetectorWithNMS(model, iou), canvases.images, score)
        theirs = detect_ort(session, canvases.images, score, iou)
        differing = [i for i, (a, b) in enumerate(zip(ours, theirs, strict=True))
                     if not same_detections(a, b)]
        for i in differing:  # only a threshold tie may explain a difference
            assert min(threshold_margins(model, canvases.images[i], score, iou).values()) < 1e-5


def test_iou_threshold_as_input_needs_nms(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph), tmp_path / "relu.onnx")
    with pytest.raises(ValueError, match="no NonMaxSuppression"):
        iou_threshold_as_input(tmp_path / "relu.onnx")


def test_show_detection_figures(canvases):
    import matplotlib

    matplotlib.use("Agg")
    from helpers.show.detection import plot_canvases, plot_detection_pairs

    fig = plot_canvases(canvases, shown=[0, 1], title="two canvases", name="canvas")
    assert len(fig.axes) == 2 and fig._suptitle.get_text() == "two canvases"
    dashed = [p for p in fig.axes[0].patches if p.get_linestyle() == "--"]
    assert len(dashed) == len(canvases.boxes[0]), "one dashed true box per digit"
    found = [Detections(b, np.full(len(b), 0.9, np.float32), lab)
             for b, lab in zip(canvases.boxes, canvases.labels, strict=True)]
    fig = plot_detection_pairs(canvases, shown=[0, 1, 2],
                               runs={"a": ("red", found), "b": ("blue", found)}, title="pairs")
    assert len(fig.axes) == 2 * 4  # two rows of two canvases, two runs each
    assert fig.axes[1].get_title().startswith(f"b, canvas 0: {len(found[0].scores)} boxes")
    assert len(fig.axes[0].texts) == len(found[0].scores), "each detection labelled"
    with pytest.raises(ValueError, match="at least one run"):
        plot_detection_pairs(canvases, shown=[0], runs={}, title="x")
