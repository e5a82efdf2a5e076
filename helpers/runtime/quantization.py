"""Smaller, faster variants of an ONNX file: ORT's INT8 recipe (static QDQ and dynamic), FP16,
calibration readers, and the op counts of the graph ONNX Runtime actually runs.

The course's recommended recipe on x86: ``quant_pre_process`` (shape inference, BatchNorm
folding), then ``quantize_static`` in QDQ format with uint8 activations and int8 weights
(U8S8), per-channel weights, MinMax calibration on images from the *validation* split.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_dynamic,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from helpers.graph.checks import load_model

TYPES = {"u8": QuantType.QUInt8, "s8": QuantType.QInt8}
METHODS = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
           "percentile": CalibrationMethod.Percentile}
FLOAT32 = onnx.TensorProto.FLOAT


class QuantizationError(ValueError):
    """A quantization request that cannot work (no float input, empty or bad calibration set)."""


# --------------------------------------------------------------------------- inputs


def float_input_name(path: str | Path) -> str:
    """Name of the model's float32 input (the one calibration feeds); clear error if none."""
    model = load_model(_require_file(path))
    initializers = {init.name for init in model.graph.initializer}
    inputs = [v for v in model.graph.input if v.name not in initializers]
    floats = [v.name for v in inputs if v.type.tensor_type.elem_type == FLOAT32]
    if len(floats) != 1:
        seen = ", ".join(f"'{v.name}' {onnx.TensorProto.DataType.Name(v.type.tensor_type.elem_type).lower()}"
                         for v in inputs) or "none"
        raise QuantizationError(f"{Path(path).name}: expected exactly one float32 input to "
                                f"calibrate, found inputs: {seen}")
    return floats[0]


class ArrayCalibrationReader(CalibrationDataReader):
    """Feeds ``images`` (N, C, H, W) float32 to calibration in batches; ``rewind()`` to reuse."""

    def __init__(self, input_name: str, images: np.ndarray, batch_size: int = 1) -> None:
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[0] == 0:
            raise QuantizationError(
                f"expected calibration images of shape [N, C, H, W] with N >= 1, got {images.shape}")
        if images.dtype != np.float32:
            raise QuantizationError(f"expected float32 calibration images, got {images.dtype}")
        if batch_size < 1:
            raise QuantizationError(f"batch_size must be >= 1, got {batch_size}")
        self.input_name = input_name
        self.images = images
        self.batch_size = batch_size
        self._next = 0

    def __len__(self) -> int:
        return len(self.images)

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._next >= len(self.images):
            return None
        batch = self.images[self._next:self._next + self.batch_size]
        self._next += self.batch_size
        return {self.input_name: np.ascontiguousarray(batch)}

    def rewind(self) -> None:
        self._next = 0


def digits_validation_images(count: int, seed: int = 0) -> np.ndarray:
    """``count`` digits drawn (seeded) from the course's VALIDATION split, preprocessed.

    Never the test split: calibration is a kind of fitting, and the test split stays unseen.
    """
    from helpers.data.datasets import load_digits_splits
    from helpers.models.course import to_tensors

    splits = load_digits_splits()
    available = len(splits.x_val)
    if not 1 <= count <= available:
        raise QuantizationError(
            f"calibration size must be between 1 and {available} (the validation split), got {count}")
    order = np.random.default_rng(seed).permutation(available)[:count]
    images, _ = to_tensors(splits.x_val[order], splits.y_val[order])
    return images.numpy()


def digits_calibration_reader(model_path: str | Path, count: int, batch_size: int = 32,
                              seed: int = 0) -> ArrayCalibrationReader:
    """A reader over ``count`` validation digits for the model at ``model_path``."""
    return ArrayCalibrationReader(float_input_name(model_path),
                                  digits_validation_images(count, seed), batch_size)


def photo_calibration_images(size: int = 224, count: int | None = None) -> np.ndarray:
    """The course's sample photos, ImageNet-preprocessed: a stand-in calibration set for
    models with random weights (fine for speed, meaningless for accuracy)."""
    from helpers.data.datasets import sample_image_paths
    from helpers.data.images import load_image, preprocess_imagenet

    paths = sample_image_paths()[:count]
    return np.concatenate([preprocess_imagenet(load_image(p), size, size) for p in paths])


# --------------------------------------------------------------------------- recipes


@dataclass(frozen=True)
class QuantRecipe:
    """The options of static quantization that change speed or accuracy."""

    activations: str = "u8"  # "u8" or "s8"
    weights: str = "s8"
    per_channel: bool = True
    method: str = "minmax"  # "minmax", "entropy" or "percentile"
    nodes_to_exclude: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for what, value, allowed in (("activations", self.activations, TYPES),
                                     ("weights", self.weights, TYPES),
                                     ("method", self.method, METHODS)):
            if value not in allowed:
                raise QuantizationError(f"{what} must be one of {sorted(allowed)}, got {value!r}")

    def tag(self) -> str:
        """A short file-name tag, e.g. ``u8s8_pc_minmax``."""
        excluded = f"_x{len(self.nodes_to_exclude)}" if self.nodes_to_exclude else ""
        return (f"{self.activations}{self.weights}_{'pc' if self.per_channel else 'pt'}_"
                f"{self.method}{excluded}")


RECOMMENDED = QuantRecipe()  # U8S8, per-channel, MinMax
LIBRARY_DEFAULT_TYPES = QuantRecipe(activations="s8", weights="s8")


def _require_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ONNX model not found: {path.name}")
    return path


def preprocess_for_quantization(model_path: str | Path, output_path: str | Path | None = None) -> Path:
    """``quant_pre_process``: shape inference and graph clean-up (BatchNorm folded into Conv).

    Written beside the source as ``<stem>_pre.onnx`` unless told otherwise; reused if present.
    """
    source = _require_file(model_path)
    float_input_name(source)
    target = Path(output_path) if output_path else source.with_name(source.stem + "_pre.onnx")
    if not target.exists():
        quant_pre_process(str(source), str(target))
    return target


def quantize_int8(model_path: str | Path, output_path: str | Path, reader: CalibrationDataReader,
                  recipe: QuantRecipe = RECOMMENDED) -> Path:
    """Static INT8 quantization in QDQ format: pre-process, calibrate with ``reader``, write."""
    source = _require_file(model_path)
    input_name = float_input_name(source)
    if isinstance(reader, ArrayCalibrationReader):
        if reader.input_name != input_name:
            raise QuantizationError(f"calibration reader feeds '{reader.input_name}', "
                                    f"the model's input is '{input_name}'")
        reader.rewind()
    prepared = preprocess_for_quantization(source)
    output = Path(output_path)
    output.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.redirect_stdout(io.StringIO()):  # histogram calibrators print progress
        quantize_static(str(prepared), str(output), reader, quant_format=QuantFormat.QDQ,
                        per_channel=recipe.per_channel, activation_type=TYPES[recipe.activations],
                        weight_type=TYPES[recipe.weights], calibrate_method=METHODS[recipe.method],
                        nodes_to_exclude=list(recipe.nodes_to_exclude) or None)
    return output


def quantize_dynamic_int8(model_path: str | Path, output_path: str | Path,
                          weights: str = "u8") -> Path:
    """Dynamic quantization: int8 weights, activation ranges computed at every run."""
    if weights not in TYPES:
        raise QuantizationError(f"weights must be one of {sorted(TYPES)}, got {weights!r}")
    prepared = preprocess_for_quantization(model_path)
    output = Path(output_path)
    output.parent.mkdir(parents=True, exist_ok=True)
    quantize_dynamic(str(prepared), str(output), weight_type=TYPES[weights])
    return output


def convert_fp16(model_path: str | Path, output_path: str | Path) -> Path:
    """Weights and compute in float16 (onnxconverter-common); inputs and outputs stay float32.

    Weights smaller than float16 can hold are clamped to ±1e-7 (the converter's default)."""
    from onnxconverter_common import float16

    source = _require_file(model_path)
    float_input_name(source)
    with warnings.catch_warnings():  # one warning per tiny weight clamped to ±1e-7
        warnings.filterwarnings("ignore", message=".*will be truncated to", category=UserWarning)
        converted = float16.convert_float_to_float16(load_model(source), keep_io_types=True)
    output = Path(output_path)
    output.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(converted, str(output))
    return output


# --------------------------------------------------------------------------- what ORT runs


def optimized_graph(model_path: str | Path, threads: int = 1) -> onnx.ModelProto:
    """The graph ORT runs on the CPU after its optimisations (ORT_ENABLE_ALL), as ORT saves it."""
    from helpers.runtime.sessions import create_session, session_options

    source = _require_file(model_path)
    with tempfile.TemporaryDirectory() as folder:
        saved = Path(folder) / "optimized.onnx"
        create_session(source, providers=["CPUExecutionProvider"],
                       options=session_options(threads=threads, optimized_model_path=saved))
        return onnx.load(str(saved))


def optimized_op_counts(model_path: str | Path) -> Counter:
    """How many nodes of each op type ORT runs (``QLinearConv`` versus float ``Conv``, ...)."""
    return Counter(node.op_type for node in optimized_graph(model_path).graph.node)


def op_counts_table(paths: dict[str, str | Path], ops: Sequence[str] | None = None):
    """A DataFrame: one row per variant, one column per op type of the optimized graphs
    (only ``ops`` when given), and ``nodes``, the total node count."""
    import pandas as pd

    counts = {name: optimized_op_counts(path) for name, path in paths.items()}
    frame = pd.DataFrame(counts).fillna(0).astype(int).T
    if ops is not None:
        frame = frame.reindex(columns=list(ops), fill_value=0)
    frame["nodes"] = [sum(c.values()) for c in counts.values()]
    return frame


def float_weight_convs(model_path: str | Path) -> int:
    """How many ``Conv`` nodes of the file take their weight straight from a float initializer
    (kept float, e.g. by ``nodes_to_exclude``) rather than through a ``DequantizeLinear``."""
    model = load_model(_require_file(model_path))
    floats = {i.name for i in model.graph.initializer if i.data_type == FLOAT32}
    return sum(n.op_type == "Conv" and len(n.input) > 1 and n.input[1] in floats
               for n in model.graph.node)


def conv_weight_types(model: onnx.ModelProto) -> set[str]:
    """Element types (``"FLOAT"``, ``"FLOAT16"``, ...) of the weights the graph's ``Conv`` and
    ``FusedConv`` nodes read from initializers (pass :func:`optimized_graph`'s result)."""
    types = {i.name: i.data_type for i in model.graph.initializer}
    return {onnx.TensorProto.DataType.Name(types[n.input[1]]) for n in model.graph.node
            if n.op_type in ("Conv", "FusedConv") and len(n.input) > 1 and n.input[1] in types}


def cpu_int8_flags() -> list[str]:
    """The CPU's int8 dot-product flags (Linux): VNNI or AMX on x86, dot product or i8mm on
    ARM. None on an x86 CPU means AVX2 / AVX-512 only, where ``reduce_range`` may matter."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return []
    return sorted(flags & {"avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm"})


def compare_logits(out: np.ndarray, labels: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """Test accuracy of logits ``out``, their top-1 agreement with ``reference`` (both in %)
    and the largest absolute logit difference: one row of a variant table."""
    return {"test accuracy %": 100 * float((out.argmax(1) == labels).mean()),
            "top-1 agreement %": 100 * float((out.argmax(1) == reference.argmax(1)).mean()),
            "max |Δ logit|": float(np.abs(out - reference).max())}


def file_mb(path: str | Path) -> float:
    """Size of a file in MB (10^6 bytes)."""
    return Path(path).stat().st_size / 1e6
