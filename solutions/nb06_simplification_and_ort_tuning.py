"""Notebook 06 exercise: a pre-optimised mobilenet_v3_small that still runs on any CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from helpers.bench import ModelStore
from helpers.paths import artifacts_dir
from helpers.show.exercises import report_problems

CPU_SPECIFIC = "com.microsoft.nchwc"  # blocked layouts as wide as this CPU's vectors


def original_file() -> Path:
    """mobilenet_v3_small, legacy export, fixed shape 1×3×224×224 (made if missing)."""
    return Path(ModelStore("legacy").onnx("mobilenet_v3_small", dynamic=False, batch=1, size=224))


def exercise() -> Path:
    """Let ORT optimise up to ORT_ENABLE_EXTENDED (no layout for this CPU) and save the graph."""
    out = artifacts_dir("nb06", "solution") / "mobilenet_v3_small_portable.onnx"
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    so.optimized_model_filepath = str(out)
    ort.InferenceSession(str(original_file()), so, providers=["CPUExecutionProvider"])
    return out


def open_saved(path: str | Path) -> ort.InferenceSession:
    """A session on a pre-optimised file that skips the optimisation work (done already)."""
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def problems(answer, reference: Path) -> list[str]:
    """What keeps ``answer`` from being the smallest portable graph of the model (none: [])."""
    try:
        path = Path(answer)
    except TypeError:
        return ["the answer is the path of your saved file"]
    if not path.is_file():
        return [f"no file at {path.name}"]
    try:
        graph = onnx.load(str(path)).graph
    except Exception as error:  # noqa: BLE001 - any unreadable file is a wrong answer
        return [f"onnx cannot read {path.name}: {type(error).__name__}"]
    if any(node.domain == CPU_SPECIFIC for node in graph.node):
        return [f"{path.name} holds operators of the domain {CPU_SPECIFIC}: laid out for this "
                "CPU's vector width, so it is not for any CPU"]
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224), dtype=np.float32)
    try:
        session = open_saved(path)
        got = session.run(None, {session.get_inputs()[0].name: x})[0]
    except Exception as error:  # noqa: BLE001 - a file ORT refuses is a wrong answer
        return [f"ONNX Runtime cannot run {path.name} with optimisations off: {str(error)[:200]}"]
    plain = ort.InferenceSession(str(original_file()), providers=["CPUExecutionProvider"])
    want = plain.run(None, {plain.get_inputs()[0].name: x})[0]
    if got.shape != want.shape or np.abs(got - want).max() > 1e-4:
        return [f"{path.name} does not compute what mobilenet_v3_small computes"]
    if len(graph.node) > len(onnx.load(str(reference)).graph.node):
        return [f"{path.name} keeps {len(graph.node)} nodes: ORT can fold and fuse more of this "
                "graph without CPU-specific operators"]
    return []


def is_correct(answer, reference: Path) -> bool:
    """The check for the notebook: prints what is wrong, if anything."""
    return report_problems(problems(answer, reference))
