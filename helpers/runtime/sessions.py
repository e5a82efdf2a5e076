"""ONNX Runtime sessions with explicit providers and threads, validated runs, and parity checks."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from helpers.graph.checks import InvalidModelError, check_model_file, load_model

ORT_TO_NUMPY = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
}


class InputValidationError(ValueError):
    """Inputs that do not match what the model declares (name, rank, shape or dtype)."""


class NonFiniteWarning(UserWarning):
    """NaN or infinite values in a model's input or output."""


def default_providers() -> list[str]:
    """CUDA first when this onnxruntime build has it, then CPU."""
    available = ort.get_available_providers()
    preferred = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return [p for p in preferred if p in available]


def session_options(threads: int | None = None, inter_op_threads: int | None = None,
                    optimization: ort.GraphOptimizationLevel = ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
                    optimized_model_path: str | Path | None = None,
                    profile: bool = False) -> ort.SessionOptions:
    """SessionOptions with the knobs the course uses, all stated explicitly."""
    for name, value in (("threads", threads), ("inter_op_threads", inter_op_threads)):
        if value is not None and (int(value) != value or value < 1):
            raise ValueError(f"{name} must be a positive integer (or None to let ORT "
                             f"choose), got {value!r}")
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = int(threads)
    if inter_op_threads is not None:
        options.inter_op_num_threads = int(inter_op_threads)
    options.graph_optimization_level = optimization
    if optimized_model_path is not None:
        options.optimized_model_filepath = str(optimized_model_path)
    options.enable_profiling = profile
    options.log_severity_level = 3  # errors only
    return options


def create_session(path: str | Path, *, providers: Sequence[str] | None = None,
                   threads: int | None = None,
                   options: ort.SessionOptions | None = None) -> ort.InferenceSession:
    """Open an ONNX file in ORT; clear errors for a missing or invalid file.

    ``providers`` defaults to CUDA (if this build has it) then CPU; ``threads`` sets
    ``intra_op_num_threads`` (None lets ORT pick one per physical core).
    """
    path = check_model_file(path)
    options = options or session_options(threads=threads)
    try:
        return ort.InferenceSession(str(path), sess_options=options,
                                    providers=list(providers or default_providers()))
    except Exception as error:  # noqa: BLE001 - ORT raises its own exception classes
        try:  # a problem with the file itself (corrupt, external data missing) said clearly
            load_model(path)
        except InvalidModelError as problem:
            raise InvalidModelError(f"ONNX Runtime cannot load {path.name}: {problem}") from error
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        first_line = first_line.replace(str(path.resolve()), path.name).replace(str(path), path.name)
        raise InvalidModelError(f"ONNX Runtime cannot load {path.name}: {first_line}") from error


@dataclass(frozen=True)
class InputSpec:
    """What a session expects for one input."""

    name: str
    shape: tuple[int | str | None, ...]
    dtype: type

    def describe(self) -> str:
        dims = ", ".join("?" if d is None else str(d) for d in self.shape)
        return f"'{self.name}' of shape [{dims}] {np.dtype(self.dtype).name}"


def input_specs(session: ort.InferenceSession) -> list[InputSpec]:
    """Declared inputs of ``session``: names, dims (ints or symbolic names) and numpy dtypes."""
    return [InputSpec(i.name, tuple(i.shape), ORT_TO_NUMPY.get(i.type, object))
            for i in session.get_inputs()]


def _non_finite(name: str, value: np.ndarray, what: str) -> str:
    """'' when ``value`` is finite (or not floating point), else a sentence saying how not."""
    if not np.issubdtype(value.dtype, np.floating):
        return ""
    finite = np.isfinite(value)
    if finite.all():
        return ""
    nans = int(np.isnan(value).sum())
    return (f"{what} '{name}' holds {nans} NaN and {value.size - int(finite.sum()) - nans} "
            f"infinite values out of {value.size}")


def validate_inputs(session: ort.InferenceSession,
                    inputs: np.ndarray | Mapping[str, np.ndarray],
                    nonfinite: str = "warn") -> dict[str, np.ndarray]:
    """Check names, rank, fixed dims and dtype against the model; return the feed dict.

    NaN or infinite values in a float input give a ``NonFiniteWarning`` (``nonfinite="warn"``),
    an ``InputValidationError`` (``"error"``) or nothing (``"ignore"``).
    """
    if nonfinite not in ("warn", "error", "ignore"):
        raise ValueError(f"nonfinite must be 'warn', 'error' or 'ignore', got {nonfinite!r}")
    specs = input_specs(session)
    if not isinstance(inputs, Mapping):
        if len(specs) != 1:
            names = ", ".join(repr(s.name) for s in specs)
            raise InputValidationError(f"model has {len(specs)} inputs ({names}); pass a dict")
        inputs = {specs[0].name: inputs}
    expected_names = {s.name for s in specs}
    unknown = set(inputs) - expected_names
    missing = expected_names - set(inputs)
    if unknown or missing:
        raise InputValidationError(
            f"expected input names {sorted(expected_names)}, got {sorted(inputs)}"
            + (f" (missing {sorted(missing)})" if missing else "")
        )
    feeds: dict[str, np.ndarray] = {}
    for spec in specs:
        value = inputs[spec.name]
        if not isinstance(value, np.ndarray):
            raise InputValidationError(
                f"expected input {spec.describe()} as a numpy array, got {type(value).__name__}")
        problem = ""
        if value.dtype != np.dtype(spec.dtype):
            problem = "wrong dtype"
        elif value.ndim != len(spec.shape):
            problem = f"rank {value.ndim} instead of {len(spec.shape)}"
        else:
            for axis, (want, got) in enumerate(zip(spec.shape, value.shape, strict=True)):
                if isinstance(want, int) and want != got:
                    problem = f"axis {axis} must be {want}"
                    break
                if got == 0:
                    problem = f"axis {axis} is empty"
                    break
        if problem:
            raise InputValidationError(
                f"expected input {spec.describe()}, got {value.shape} {value.dtype} ({problem})")
        bad = "" if nonfinite == "ignore" else _non_finite(spec.name, value, "input")
        if bad and nonfinite == "error":
            raise InputValidationError(f"expected finite values: {bad}")
        if bad:
            warnings.warn(f"{bad}; the outputs will not mean much", NonFiniteWarning,
                          stacklevel=3)
        feeds[spec.name] = value
    return feeds


def run(session: ort.InferenceSession, inputs: np.ndarray | Mapping[str, np.ndarray],
        output_names: Sequence[str] | None = None, nonfinite: str = "warn") -> list[np.ndarray]:
    """Validate ``inputs`` then run the session; returns the outputs as numpy arrays.

    Non-finite inputs warn (or raise with ``nonfinite="error"``); non-finite outputs from
    finite inputs always warn, since they point at the model, not the data.
    """
    feeds = validate_inputs(session, inputs, nonfinite)
    names = list(output_names) if output_names else [o.name for o in session.get_outputs()]
    outputs = session.run(names, feeds)
    if nonfinite == "ignore":
        return outputs
    for name, value in zip(names, outputs, strict=True):
        bad = _non_finite(name, np.asarray(value), "output")
        if bad and not any(_non_finite(n, v, "input") for n, v in feeds.items()):
            warnings.warn(f"{bad} from finite inputs", NonFiniteWarning, stacklevel=2)
    return outputs


@dataclass(frozen=True)
class ParityReport:
    """How close two engines' outputs are (logits of shape [N, classes])."""

    max_abs_diff: float
    mean_abs_diff: float
    allclose: bool
    top1_agreement: float  # fraction of rows with the same argmax
    topk_agreement: float  # fraction of rows with the same top-k set
    k: int
    rows: int


def compare_outputs(reference: np.ndarray, candidate: np.ndarray, k: int = 5,
                    rtol: float = 1e-3, atol: float = 1e-5) -> ParityReport:
    """Compare two output arrays of the same shape: differences and top-k agreement."""
    reference = np.asarray(reference, dtype=np.float64)
    candidate = np.asarray(candidate, dtype=np.float64)
    if reference.shape != candidate.shape:
        raise ValueError(f"outputs differ in shape: {reference.shape} vs {candidate.shape}")
    ref2 = reference.reshape(-1, reference.shape[-1])
    cand2 = candidate.reshape(-1, candidate.shape[-1])
    k = min(k, ref2.shape[1])
    diff = np.abs(ref2 - cand2)
    top1 = ref2.argmax(1) == cand2.argmax(1)
    ref_top = np.sort(np.argsort(-ref2, axis=1, kind="stable")[:, :k], axis=1)
    cand_top = np.sort(np.argsort(-cand2, axis=1, kind="stable")[:, :k], axis=1)
    return ParityReport(
        max_abs_diff=float(diff.max()),
        mean_abs_diff=float(diff.mean()),
        allclose=bool(np.allclose(cand2, ref2, rtol=rtol, atol=atol)),
        top1_agreement=float(top1.mean()),
        topk_agreement=float((ref_top == cand_top).all(1).mean()),
        k=k,
        rows=ref2.shape[0],
    )


def torch_outputs(model, inputs: np.ndarray) -> np.ndarray:
    """Run a PyTorch model on a numpy batch without autograd; return numpy."""
    import torch

    with torch.inference_mode():
        return model(torch.from_numpy(np.ascontiguousarray(inputs))).detach().cpu().numpy()


def check_parity(model, session: ort.InferenceSession, inputs: np.ndarray, k: int = 5,
                 rtol: float = 1e-3, atol: float = 1e-5) -> ParityReport:
    """PyTorch versus ORT on the same inputs."""
    return compare_outputs(torch_outputs(model, inputs), run(session, inputs)[0], k, rtol, atol)
