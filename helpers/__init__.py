"""Shared helpers for the course: deploying PyTorch image classifiers with ONNX Runtime.

One module per concern:
- files and data: ``paths``, ``data`` (offline photos and digits), ``images`` (decoding with
  guards, ImageNet preprocessing), ``labels``;
- models: ``models`` (torchvision weights), ``course_model`` (the digits resnet18),
  ``superres``, ``detection_data`` and ``detection`` (the digit detector, NMS in the graph),
  ``pipeline`` and ``pipeline_runtime`` (pre/post-processing inside the graph);
- export and files: ``export``, ``export_lab`` (exporter experiments), ``checks``, ``graphs``
  (pictures, intermediates, bisection);
- running: ``runtime`` (ORT sessions, validated runs, parity), ``quantization`` and
  ``openvino_runner``, ``classify`` (the torch-free command), ``serve`` and ``loadtest``
  (HTTP), ``browser`` (headless Chromium);
- measuring: the ``bench`` package (engine registry, rounds, findings; ``bench_quantized``
  adds the INT8/FP16/OpenVINO engines), ``sysinfo``;
- showing: ``plots``, ``colors`` (one colour per engine), ``exercises``.
"""

from __future__ import annotations

import os

__version__ = "0.1.0"


def quick_mode() -> bool:
    """True when ``COURSE_QUICK=1``: loops, grids and epochs shrink; code paths stay the same."""
    return os.environ.get("COURSE_QUICK") == "1"


def progress_bar(*args, **kwargs):
    """A tqdm progress bar: a widget in Jupyter, text in a terminal.

    ``COURSE_TEXT_PROGRESS=1`` (set by ``make course`` and the tests) asks for the text bar
    everywhere, so executed notebooks keep the bar's final state as plain text.
    """
    if os.environ.get("COURSE_TEXT_PROGRESS") == "1":
        from tqdm import tqdm
    else:
        from tqdm.auto import tqdm
    return tqdm(*args, **kwargs)


def versions_line() -> str:
    """One line with the versions that matter and the hardware in use."""
    import platform

    import onnx
    import onnxruntime
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU only"
    return (f"python {platform.python_version()} | torch {torch.__version__} | "
            f"onnx {onnx.__version__} | onnxruntime {onnxruntime.__version__} | "
            f"{os.cpu_count()} CPU threads | {device}")
