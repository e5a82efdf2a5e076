"""ONNX Runtime for devices: the ORT format, the operator config a reduced build is made from,
and what each route (ORT, ExecuTorch) ships, measured from the installed packages. No PyTorch.

The notebook calls ORT's converter itself (``python -m
onnxruntime.tools.convert_onnx_models_to_ort``); :func:`convert_to_ort` is the same call for
the benchmark's workers and the exercise.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

CONVERTER = "onnxruntime.tools.convert_onnx_models_to_ort"
CONFIG_NAME = "required_operators_and_types.config"  # what the converter writes (style Fixed)

# The shared libraries each route puts in an app, relative to its Python package. ORT's C API
# library is the one a native app links (the Python module wraps the same code); ExecuTorch's
# runtime core, its XNNPACK backend and thread pool run a program that XNNPACK takes whole.
# Programs that keep operators outside the delegate also need a kernel library.
ROUTE_LIBRARIES = {
    "ONNX Runtime": ("onnxruntime", ("capi/libonnxruntime.so*",)),
    "ExecuTorch + XNNPACK": ("executorch", ("lib/libexecutorch.so", "lib/libexecutorch_backend_xnnpack.so",
                                            "lib/libexecutorch_threadpool.so")),
}
EXECUTORCH_KERNELS = ("lib/libexecutorch_kernels_optimized.so", "lib/libexecutorch_kernels_quantized.so")

_LINE = re.compile(r"^(?P<domain>[\w.]+);(?P<opset>\d+);(?P<ops>.+)$")
_OP = re.compile(r"(?P<name>\w+)(?P<types>\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\})?")


class EdgeFormatError(ValueError):
    """An operator config or ORT-format conversion that is not what was expected."""


@dataclass(frozen=True)
class RequiredOperator:
    """One operator a reduced ORT build must keep: its domain, opset, name and types."""

    domain: str
    opset: int
    operator: str
    types: str  # "" when the config has no type reduction for it, else e.g. "inputs 0: float"


def parse_operator_config(text: str) -> list[RequiredOperator]:
    """The operators of an ORT operator config (``domain;opset;Op{types},Op2,...`` lines)."""
    found: list[RequiredOperator] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            raise EdgeFormatError(f"line {number}: expected 'domain;opset;Op,Op2{{...}}', got {line[:60]!r}")
        for op in _OP.finditer(match.group("ops")):
            types = ""
            if op.group("types"):
                try:
                    spec = json.loads(op.group("types"))
                except json.JSONDecodeError as error:
                    raise EdgeFormatError(f"line {number}: types of {op.group('name')} are not "
                                          f"JSON: {error}") from None
                types = "; ".join(f"{side} {index}: {', '.join(names)}"
                                  for side, per_index in spec.items()
                                  for index, names in per_index.items())
            found.append(RequiredOperator(match.group("domain"), int(match.group("opset")),
                                          op.group("name"), types))
    return found


def read_operator_config(path: str | Path) -> pd.DataFrame:
    """An operator config as a table: domain, opset, operator, types (one row per operator)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no operator config at {path.name}")
    rows = parse_operator_config(path.read_text(encoding="utf-8"))
    return pd.DataFrame([vars(r) for r in rows], columns=["domain", "opset", "operator", "types"])


def converter_command(source: str | Path, output_dir: str | Path, *, target_platform: str = "arm",
                      optimization_style: str = "Fixed", type_reduction: bool = True) -> list[str]:
    """The command line of ORT's converter for ``source`` (a file or a folder of .onnx files)."""
    if target_platform not in ("arm", "amd64"):
        raise EdgeFormatError(f"target_platform must be 'arm' or 'amd64', got {target_platform!r}")
    if optimization_style not in ("Fixed", "Runtime"):
        raise EdgeFormatError(f"optimization_style must be 'Fixed' or 'Runtime', got {optimization_style!r}")
    command = [sys.executable, "-m", CONVERTER, str(source), "--output_dir", str(output_dir),
               "--optimization_style", optimization_style, "--target_platform", target_platform]
    return command + (["--enable_type_reduction"] if type_reduction else [])


def config_path(source: str | Path, output_dir: str | Path, *, optimization_style: str = "Fixed",
                type_reduction: bool = True) -> Path:
    """Where the converter writes its operator config: ``required_operators[_and_types]`` with
    ``.with_runtime_opt`` for style Runtime, in the output folder; for a single file the name
    starts with the file's stem (``model.required_operators_and_types.config``)."""
    name = ("required_operators_and_types" if type_reduction else "required_operators") + (
        ".with_runtime_opt" if optimization_style == "Runtime" else "") + ".config"
    source = Path(source)
    return Path(output_dir) / (name if source.is_dir() else f"{source.stem}.{name}")


def convert_to_ort(source: str | Path, output_dir: str | Path, **options) -> Path:
    """Run ORT's converter on one .onnx file; return the .ort file (options: see
    :func:`converter_command`). Raises :class:`EdgeFormatError` with the tool's last words."""
    source, output_dir = Path(source), Path(output_dir)
    if source.suffix != ".onnx" or not source.is_file():
        raise FileNotFoundError(f"expected an existing .onnx file, got {source.name}")
    done = subprocess.run(converter_command(source, output_dir, **options), capture_output=True,
                          text=True)
    target = output_dir / f"{source.stem}.ort"
    if done.returncode != 0 or not target.exists():
        lines = [ln for ln in (done.stderr + done.stdout).splitlines() if ln.strip()]
        raise EdgeFormatError(f"ORT's converter failed on {source.name}: "
                              f"{lines[-1] if lines else done.returncode}")
    return target


def is_ort_format(path: str | Path) -> bool:
    """True for an ORT-format file (a FlatBuffer whose identifier at byte 4 is ``ORTM``)."""
    with open(path, "rb") as handle:
        return handle.read(8)[4:8] == b"ORTM"


def package_folder(package: str) -> Path | None:
    """Where an installed package lives (found without importing it), or None."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def route_libraries(kernels: bool = False) -> pd.DataFrame:
    """The shared libraries each route ships, measured on disk: route, library, MB.

    ``kernels``: add ExecuTorch's kernel libraries (needed when a program keeps operators
    outside the XNNPACK delegate). A route whose package is missing has no rows.
    """
    rows = []
    for route, (package, patterns) in ROUTE_LIBRARIES.items():
        folder = package_folder(package)
        if folder is None:
            continue
        wanted = patterns + (EXECUTORCH_KERNELS if kernels and package == "executorch" else ())
        for pattern in wanted:
            for path in sorted(folder.glob(pattern)):
                if path.is_file() and not path.is_symlink():
                    rows.append({"route": route, "library": path.name,
                                 "MB": path.stat().st_size / 1e6})
    return pd.DataFrame(rows, columns=["route", "library", "MB"])


def route_sizes(kernels: bool = False) -> pd.Series:
    """MB of shared libraries per route (the sum of :func:`route_libraries`)."""
    return route_libraries(kernels).groupby("route", sort=False)["MB"].sum()
