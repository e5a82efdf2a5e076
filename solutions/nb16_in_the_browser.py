"""Notebook 16's exercise: the highest ONNX IR version onnxruntime-web 1.30 loads."""

from __future__ import annotations

from helpers.paths import artifacts_dir
from helpers.serve.browser import (
    handmade_classifier,
    headless_chromium,
    open_page,
    try_model_in_page,
)
from helpers.serve.load import running_server


def exercise() -> int:
    """Try the handmade model at IR 14, 13, ... in the page; the first one it loads."""
    import onnx

    path = artifacts_dir("nb16", "solution") / "handmade_ir10.onnx"
    onnx.save(handmade_classifier(ir_version=10), path)
    with running_server(path, threads=1) as server, headless_chromium() as driver:
        if open_page(driver, f"{server.url}/web/") != "ready":
            raise RuntimeError("the page did not load the IR 10 model")
        for ir_version in range(onnx.IR_VERSION, 2, -1):
            model = handmade_classifier(ir_version=ir_version).SerializeToString()
            if try_model_in_page(driver, model) == "ready":
                return ir_version
    raise RuntimeError("no IR version was accepted")
