"""Shared helpers for the course: deploying PyTorch image classifiers with ONNX Runtime.

One module per concern: ``paths``, ``data`` (offline sample photos and digits),
``images`` (loading and ImageNet preprocessing), ``labels``, ``models``, ``digits``
(the course model), ``export``, ``inspect`` (checking and summaries), ``runtime``
(ORT sessions and parity), ``plots``, ``exercises`` and the ``classify`` command.
"""

from __future__ import annotations

import os

__version__ = "0.1.0"


def quick_mode() -> bool:
    """True when ``COURSE_QUICK=1``: loops, grids and epochs shrink; code paths stay the same."""
    return os.environ.get("COURSE_QUICK") == "1"
