"""The course's figure style: the reading default, and a projector style for the front of a room.

``COURSE_PROJECTOR=1`` (or ``use_style("projector")``) makes text, lines and markers large
enough to read from the back of a room; every notebook applies the style in its set-up call.
"""

from __future__ import annotations

import os

import matplotlib as mpl

STYLES: dict[str, dict[str, object]] = {
    "reading": {},  # matplotlib's defaults, as the figures were designed
    "projector": {
        "font.size": 15, "axes.titlesize": 16, "axes.labelsize": 15, "figure.titlesize": 17,
        "xtick.labelsize": 13, "ytick.labelsize": 13, "legend.fontsize": 13,
        "lines.linewidth": 2.8, "lines.markersize": 9, "axes.linewidth": 1.4,
        "grid.linewidth": 1.0, "patch.linewidth": 1.4, "figure.dpi": 110,
        "axes.titleweight": "bold",
    },
}


def style_from_env() -> str:
    """``"projector"`` when ``COURSE_PROJECTOR=1``, else ``"reading"``."""
    return "projector" if os.environ.get("COURSE_PROJECTOR") == "1" else "reading"


def use_style(name: str | None = None) -> str:
    """Apply a course style to every figure drawn from now on; return its name."""
    name = name or style_from_env()
    if name not in STYLES:
        raise ValueError(f"expected a style among {sorted(STYLES)}, got {name!r}")
    mpl.rcParams.update(STYLES[name])  # "reading" changes nothing: matplotlib's defaults
    return name
