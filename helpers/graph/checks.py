"""Checking an ONNX file: the checker, shape inference, and a readable summary.

``onnx`` is imported where a model is read, not with the module: ``InvalidModelError`` and
``check_model_file`` are what a server imports, and ``import onnx`` costs about a second of CPU
in every process that would otherwise import it for nothing (each Ray Serve replica).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import onnx


class InvalidModelError(ValueError):
    """A file that is not a valid ONNX model."""


@dataclass(frozen=True)
class TensorInfo:
    """Name, element type and shape of a graph input or output; symbolic dims are strings."""

    name: str
    dtype: str
    shape: tuple[int | str, ...]

    def __str__(self) -> str:
        return f"{self.name}: {self.dtype}[{', '.join(str(d) for d in self.shape)}]"


@dataclass
class ModelSummary:
    """What is inside an ONNX file, at a glance."""

    path: Path
    ir_version: int
    opset: int
    producer: str
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    op_counts: Counter = field(default_factory=Counter)
    parameters: int = 0
    file_bytes: int = 0

    @property
    def node_count(self) -> int:
        return sum(self.op_counts.values())


def check_model_file(path: str | Path) -> Path:
    """Cheap checks before a file is parsed: it exists, is a file, and is not empty."""
    path = Path(path)
    if path.is_dir():
        raise InvalidModelError(f"{path.name} is a directory; expected an .onnx file")
    if not path.is_file():
        raise FileNotFoundError(f"ONNX model not found: {path}")
    if path.stat().st_size == 0:
        raise InvalidModelError(f"{path.name} is empty (0 bytes): not an ONNX model "
                                "(was an export or a download interrupted?)")
    return path


def _missing_external_data(model: onnx.ModelProto, folder: Path) -> list[str]:
    """Names of external data files the model refers to that are not next to it."""
    from onnx import TensorProto

    locations = {entry.value for tensor in model.graph.initializer
                 if tensor.data_location == TensorProto.EXTERNAL
                 for entry in tensor.external_data if entry.key == "location"}
    return sorted(name for name in locations if not (folder / name).is_file())


def load_model(path: str | Path) -> onnx.ModelProto:
    """Load an ONNX file with clear errors for a missing, empty, corrupt or incomplete file."""
    import onnx

    path = check_model_file(path)
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as error:  # noqa: BLE001 - protobuf raises several types
        raise InvalidModelError(
            f"{path.name} is not a valid ONNX model (could not parse the protobuf): {error}"
        ) from error
    if not model.HasField("graph") or model.ir_version == 0:
        raise InvalidModelError(f"{path.name} parses, but holds no ONNX graph (IR version "
                                f"{model.ir_version}): not an ONNX model")
    missing = _missing_external_data(model, path.parent)
    if missing:
        raise InvalidModelError(
            f"{path.name} keeps its weights in {', '.join(missing)}, which is missing next to "
            "it: copy the .onnx file together with its external data file")
    onnx.load_external_data_for_model(model, str(path.parent))
    return model


def check_model(path: str | Path) -> onnx.ModelProto:
    """Run ``onnx.checker`` with full shape inference; return the inferred model.

    Raises ``InvalidModelError`` with the checker's message when the model is invalid.
    """
    import onnx

    path = Path(path)
    model = load_model(path)
    try:
        onnx.checker.check_model(model, full_check=True)
        return onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as error:
        raise InvalidModelError(f"{path.name} failed the ONNX checker: {error}") from error


def _dtype_name(elem_type: int) -> str:
    from onnx import TensorProto

    return TensorProto.DataType.Name(elem_type).lower() if elem_type else "undefined"


def tensor_info(value: onnx.ValueInfoProto) -> TensorInfo:
    """TensorInfo of a graph input/output; unknown dims appear as ``'?'``."""
    tensor_type = value.type.tensor_type
    dims: list[int | str] = []
    for dim in tensor_type.shape.dim:
        if dim.HasField("dim_value"):
            dims.append(int(dim.dim_value))
        else:
            dims.append(dim.dim_param or "?")
    return TensorInfo(value.name, _dtype_name(tensor_type.elem_type), tuple(dims))


def summarize(path: str | Path) -> ModelSummary:
    """Inputs, outputs, opset, op histogram, parameter count and file size of an ONNX file."""
    path = Path(path)
    model = load_model(path)
    initializer_names = {init.name for init in model.graph.initializer}
    parameters = sum(int(np.prod(init.dims)) for init in model.graph.initializer)
    data_file = path.with_name(path.name + ".data")
    size = path.stat().st_size + (data_file.stat().st_size if data_file.exists() else 0)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    return ModelSummary(
        path=path,
        ir_version=model.ir_version,
        opset=opset,
        producer=f"{model.producer_name} {model.producer_version}".strip(),
        inputs=[tensor_info(v) for v in model.graph.input if v.name not in initializer_names],
        outputs=[tensor_info(v) for v in model.graph.output],
        op_counts=Counter(node.op_type for node in model.graph.node),
        parameters=parameters,
        file_bytes=size,
    )


def format_summary(summary: ModelSummary) -> str:
    """A few readable lines describing ``summary``."""
    ops = ", ".join(f"{op}×{n}" for op, n in summary.op_counts.most_common())
    return "\n".join([
        f"file      {summary.path.name} ({summary.file_bytes / 1e6:.1f} MB)",
        f"producer  {summary.producer}, IR {summary.ir_version}, opset {summary.opset}",
        *(f"input     {t}" for t in summary.inputs),
        *(f"output    {t}" for t in summary.outputs),
        f"params    {summary.parameters:,}",
        f"nodes     {summary.node_count}: {ops}",
    ])


def op_counts_frame(summaries: dict[str, ModelSummary]):
    """A DataFrame of op counts, one column per named model (0 where an op is absent)."""
    import pandas as pd

    frame = pd.DataFrame({name: s.op_counts for name, s in summaries.items()}).fillna(0)
    frame = frame.astype(int).sort_index()
    frame.loc["total"] = frame.sum()
    return frame
