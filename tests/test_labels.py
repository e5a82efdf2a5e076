"""helpers.data.labels: class names, softmax and top-k."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.data.labels import format_top_k, imagenet_categories, labels_for, softmax, top_k


def test_imagenet_names_match_torchvision_metadata():
    from torchvision.models import ResNet18_Weights

    assert imagenet_categories() == ResNet18_Weights.IMAGENET1K_V1.meta["categories"]


def test_imagenet_file_is_rewritten_when_absent(tmp_path):
    names = imagenet_categories(tmp_path / "classes.txt")
    assert len(names) == 1000 and names[0] == "tench"


def test_bad_class_file_is_rejected(tmp_path):
    path = tmp_path / "classes.txt"
    path.write_text("a\nb\n")
    with pytest.raises(ValueError, match="expected 1000 class names, found 2"):
        imagenet_categories(path)


def test_labels_for():
    assert labels_for("digits") == [str(i) for i in range(10)]
    assert len(labels_for("imagenet")) == 1000
    with pytest.raises(ValueError, match="unknown label set 'cifar'"):
        labels_for("cifar")


def test_softmax_is_stable_and_normalised():
    probs = softmax(np.array([[1000.0, 1001.0, 999.0], [0.0, 0.0, 0.0]]))
    assert np.allclose(probs.sum(1), 1.0)
    assert np.allclose(probs[1], 1 / 3)
    assert probs[0].argmax() == 1


def test_top_k_orders_and_formats():
    probs = np.array([0.1, 0.6, 0.05, 0.25])
    preds = top_k(probs, ["a", "b", "c", "d"], k=3)
    assert [p.label for p in preds] == ["b", "d", "a"]
    assert [p.rank for p in preds] == [1, 2, 3]
    assert format_top_k(preds).splitlines()[0] == "1. b (0.6000)"


def test_top_k_rejects_bad_arguments():
    with pytest.raises(ValueError, match="expected 3 labels, got 2"):
        top_k(np.ones(3) / 3, ["a", "b"])
    with pytest.raises(ValueError, match="k must be between 1 and 3"):
        top_k(np.ones(3) / 3, ["a", "b", "c"], k=4)
