"""One colour per engine or variant for every figure of the course (import, never hard-code).

    from helpers.show.colors import engine_color
    ax.plot(x, y, color=engine_color("ort"), label=...)

Names are matched case-insensitively and through the aliases below (``"onnxruntime"`` is
``"ort"``). An unknown name gets a stable colour from a spare palette (the same name gives the
same colour in every process), so a new engine never raises; give it its own entry here (or
pass ``color=`` to ``helpers.bench.register_engine``) to make the choice deliberate.
"""

from __future__ import annotations

import zlib

# Colour-blind-safe base (Okabe–Ito and Tableau hues); families share a hue family:
# PyTorch variants oranges/reds, ORT FP32 variants blues/greens, reduced precision purples.
ENGINE_COLORS: dict[str, str] = {
    "torch": "#E69F00",               # PyTorch eager, CPU
    "torch-channels-last": "#D55E00",
    "torch-compile": "#8C2D04",
    "torch-cuda": "#CC79A7",
    "ort": "#0072B2",                 # ONNX Runtime, fixed axes (the course's main ORT)
    "ort-dynamic": "#56B4E9",
    "ort-sim": "#009E73",
    "ort-dynamic-sim": "#7FD8B6",
    "ort-int8": "#6A3D9A",
    "ort-fp16": "#B294C7",
    "serve": "#CC6677",               # Ray Serve, one request per session.run (notebook 17)
    "serve-batched": "#882255",       # Ray Serve with @serve.batch
    "ray-data": "#DDAA33",            # Ray Data map_batches with an ORT actor pool
    "openvino": "#4D4D4D",
    "openvino-default": "#A6A6A6",
    "preprocess": "#B8860B",
    "reference-loop": "#999933",
    "matmul": "#000000",
    "probe": "#777777",
}
ALIASES: dict[str, str] = {
    "pytorch": "torch", "torch-cpu": "torch", "eager": "torch", "cuda": "torch-cuda",
    "channels_last": "torch-channels-last", "channels-last": "torch-channels-last",
    "compile": "torch-compile", "torch.compile": "torch-compile", "inductor": "torch-compile",
    "onnxruntime": "ort", "ort-fixed": "ort", "uvicorn": "ort", "ray-serve": "serve", "ort-fixed-sim": "ort-sim",
    "int8": "ort-int8", "fp16": "ort-fp16",
}
_SPARE = ("#1B9E77", "#D95F02", "#7570B3", "#E7298A", "#66A61E", "#E6AB02", "#A6761D")
_EXTRA: dict[str, str] = {}


def canonical(name: str) -> str:
    """The palette's name for ``name`` (lower case, aliases resolved)."""
    key = name.strip().lower()
    return ALIASES.get(key, key)


def set_engine_color(name: str, color: str) -> None:
    """Give ``name`` a colour for the rest of this process (used by engine registration)."""
    _EXTRA[canonical(name)] = color


def engine_color(name: str) -> str:
    """The course's colour for an engine or variant (a hex string for matplotlib)."""
    key = canonical(name)
    if key in _EXTRA:
        return _EXTRA[key]
    if key in ENGINE_COLORS:
        return ENGINE_COLORS[key]
    return _SPARE[zlib.crc32(key.encode()) % len(_SPARE)]


def engine_colors(names) -> list[str]:
    """Colours for several names, in order (for bar charts)."""
    return [engine_color(n) for n in names]
