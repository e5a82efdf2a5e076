"""Load functions for OpenVINO inside ONNX Runtime (the ``onnxruntime-ep-openvino`` plugin):
``ort-openvino`` (the FP32 file) and ``ort-openvino-int8`` (the INT8 QDQ file), both with
OpenVINO's f32 precision hint asked for (an FP32 comparison on every CPU, also where OpenVINO
would pick bf16). This module registers nothing."""

from __future__ import annotations

from helpers.bench.common import Job


def ort_openvino_missing() -> str | None:
    """None when the plugin offers an OpenVINO CPU device here, else why not (one line)."""
    from helpers.runtime.openvino_ep import plugin_state

    return plugin_state().reason


def load_ort_openvino(job: Job):
    """An ORT session on OpenVINO's CPU device (``job.threads`` threads), run on a seeded input."""
    from helpers.runtime.openvino_ep import create_session

    session = create_session(job.files["onnx"], precision=job.options.get("precision", "f32"),
                             threads=job.threads)
    job.info["providers"] = session.get_providers()
    feed = {session.get_inputs()[0].name: job.input()}
    return lambda: session.run(None, feed)
