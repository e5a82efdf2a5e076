"""Notebook 06 exercise: what onnxsim finds in resnet18 once the exporter's folding is off."""

from __future__ import annotations

import onnx
import onnxsim
import torch
from torchvision.models import get_model

from helpers.export.exporters import export_if_missing
from helpers.paths import artifacts_dir


def exercise() -> dict[str, int]:
    """Nodes in a legacy export of resnet18 without constant folding, before and after onnxsim."""
    torch.manual_seed(0)
    model = get_model("resnet18", weights=None).eval()  # the graph does not depend on weights
    path = export_if_missing(model, torch.zeros(1, 3, 224, 224),
                             artifacts_dir("nb06", "solution") / "resnet18_legacy_nofold.onnx",
                             dynamo=False, do_constant_folding=False)
    exported = onnx.load(str(path))
    simplified, ok = onnxsim.simplify(exported)
    assert ok, "onnxsim could not validate its result"
    return {"before": len(exported.graph.node), "after": len(simplified.graph.node)}
