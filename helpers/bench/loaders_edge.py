"""Load functions for the edge routes (notebook 18): ExecuTorch with XNNPACK (FP32 and PT2E
INT8) and ONNX Runtime on an ORT-format file. They register nothing:
:mod:`helpers.bench.engines_edge` names them as engines.

A job may bring its own file (``files["pte"]``, or an ``.ort`` file as ``files["onnx"]``: the
notebook times the course model's files this way); otherwise the file is made once from the
benchmark's model and cached beside it (the ``.pte`` from the state dict, the ``.ort`` from
the exported ONNX file by ORT's converter).
"""

from __future__ import annotations

from pathlib import Path

from helpers.bench.common import Job


def executorch_unavailable() -> str | None:
    from helpers.export.edge import executorch_missing

    return executorch_missing()


def pte_for(job: Job) -> Path:
    """The job's ``.pte`` file: its own, or one lowered from the benchmark's model once."""
    if job.files.get("pte"):
        return Path(job.files["pte"])
    import torch
    from torchvision.models import get_model

    from helpers.export.edge import lower_to_pte, quantize_pt2e, write_pte_if_missing

    weights = Path(job.files["weights"])
    int8 = bool(job.options.get("int8"))
    target = weights.with_name(f"{weights.stem}_b{job.batch}_{job.size}_xnnpack_"
                               f"{'int8' if int8 else 'fp32'}.pte")

    def make() -> bytes:
        model = get_model(job.model, weights=None)
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        model = model.eval()
        example = torch.from_numpy(job.input())
        if int8:  # calibrated on the sample photos: right for speed, meaningless for accuracy
            from helpers.runtime.quantization import photo_calibration_images

            photos = torch.from_numpy(photo_calibration_images(job.size))
            model = quantize_pt2e(model, example, [photos[i:i + 1].expand(job.batch, -1, -1, -1)
                                                   for i in range(len(photos))])
        return lower_to_pte(model, example)

    return write_pte_if_missing(target, make)


def load_executorch(job: Job):
    """ExecuTorch's Python runtime on a ``.pte`` lowered to XNNPACK, ``job.threads`` threads."""
    import torch

    from helpers.export.edge import load_method, set_threads

    path = pte_for(job)
    job.info["threadpool_threads"] = set_threads(job.threads)  # before loading: XNNPACK keeps it
    method = load_method(path)
    x = torch.from_numpy(job.input())
    job.info["file_mb"] = round(path.stat().st_size / 1e6, 3)
    return lambda: method.execute([x])


def ort_file_for(job: Job) -> Path:
    """The job's ORT-format file: its own ``.ort``, or ORT's converter run once on the ONNX file."""
    from helpers.paths import made_once
    from helpers.runtime.edge import convert_to_ort

    source = Path(job.files["onnx"])
    if source.suffix == ".ort":
        return source
    folder = source.with_name(f"{source.stem}_ort")
    target = folder / f"{source.stem}.ort"
    with made_once(target):
        if not target.exists():
            convert_to_ort(source, folder, target_platform=job.options.get("target_platform", "amd64"))
    return target


def load_ort_format(job: Job):
    """An ORT session on an ORT-format file (CPU provider, the grid's session options)."""
    import onnxruntime as ort

    from helpers.bench.loaders_core import ort_session_options
    from helpers.runtime.sessions import validate_inputs

    path = ort_file_for(job)
    options = ort_session_options(job)
    options.add_session_config_entry("session.load_model_format", "ORT")
    session = ort.InferenceSession(str(path), sess_options=options,
                                   providers=["CPUExecutionProvider"])
    feeds = validate_inputs(session, job.input())
    job.info["intra_op_threads"] = options.intra_op_num_threads
    job.info["file_mb"] = round(path.stat().st_size / 1e6, 3)
    return lambda: session.run(None, feeds)
