"""Shared helpers for the course: deploying PyTorch image classifiers with ONNX Runtime.

Subpackages follow the course's path, one concern each:
- ``data``: the offline photos and digits, image decoding and preprocessing, labels;
- ``models``: ImageNet classifiers, the digits course model, super-resolution, the detector
  (``models.training``: config, cached result and quick-mode default, once for all three);
- ``export``: the exporters, exporter experiments, pre/post-processing inside the graph;
- ``graph``: checks, pictures, intermediate outputs, bisection;
- ``runtime``: ORT sessions, the all-in-one pipeline runner, quantization, OpenVINO;
- ``serve``: the HTTP app (``python -m helpers.serve``), load generation, headless Chromium;
- ``bench``: the benchmark (``python -m helpers.bench``);
- ``show``: plots, one colour per engine, exercise checks.
Top level: ``notebook`` (``start``: the set-up every notebook calls), ``paths``, ``sysinfo``
and the torch-free command ``classify`` (``python -m helpers.classify``). ``data``,
``runtime`` and ``serve`` import without PyTorch: what a deployed client needs.
"""

from __future__ import annotations

import os

__version__ = "0.1.0"

from helpers.notebook import Course, quick_mode, start  # noqa: E402, F401  (the set-up of every notebook)


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
    """One line with the versions that matter and the machine: CPU class, cores, OS, GPU."""
    import platform

    import onnx
    import onnxruntime
    import torch

    from helpers.machine import short_machine

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"python {platform.python_version()} | torch {torch.__version__} | "
            f"onnx {onnx.__version__} | onnxruntime {onnxruntime.__version__} | "
            f"{short_machine()}, {os.cpu_count()} CPU threads | {device}")
