"""Notebook 14's exercise: how many boxes NMS removes on the first 20 held-out canvases."""

from __future__ import annotations

from helpers.data.detection import make_canvases
from helpers.models.detector import (
    DetectorWithNMS,
    default_det_config,
    detect_ort,
    export_detector,
    load_or_train_detector,
)
from helpers.paths import artifacts_dir
from helpers.runtime.sessions import create_session


def exercise() -> int:
    """Boxes kept at IoU 1.0 (no suppression) minus boxes kept at IoU 0.5, score > 0.3, in ORT."""
    config = default_det_config()
    path = artifacts_dir("nb14") / f"digit_detector_nms_dynamo_{config.tag()}.onnx"
    if not path.exists():
        model = load_or_train_detector(config, progress=False).model
        export_detector(DetectorWithNMS(model), path, dynamo=True)
    session = create_session(path)
    images = make_canvases(20, "test", config.seed).images  # the held-out set's first 20
    kept = {iou: sum(len(d.scores) for d in detect_ort(session, images, 0.3, iou))
            for iou in (0.5, 1.0)}
    return kept[1.0] - kept[0.5]
