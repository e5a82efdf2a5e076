"""Benchmarking done right: warm-up, repeated timed runs, fixed threads, a fresh process per engine.

    python -m helpers.bench --model resnet18 --batch 1 --size 224 --engines torch,ort \\
        --repeats 20 --format json
    python -m helpers.bench --grid full --report reports/bench      # what `make bench` runs

Each engine is measured in its own fresh subprocess (``--worker``): onnxruntime's spinning
threads cannot slow PyTorch down, imports do not mix, and each process's peak memory is its
own. Only the model's compute is inside the timed region; preprocessing is its own engine
(``preprocess``), and ``reference-loop`` times the loop the reference tutorial timed (folder
listing, decoding, transforms, class table, softmax and top-k around the model) to show what
that does. Models get random weights when ImageNet weights are not cached: speed does not
depend on the values of the weights.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from helpers.paths import REFERENCE_DIR, REPO_ROOT, artifacts_dir, relative
from helpers.sysinfo import current_rss_mb, machine_info, peak_rss_mb, physical_cores

MODELS = ("resnet18", "mobilenet_v3_small")
MODEL_ENGINES = ("torch", "torch-cuda", "ort", "ort-dynamic", "ort-sim", "ort-dynamic-sim")
EXTRA_ENGINES = ("preprocess", "reference-loop")
ENGINES = MODEL_ENGINES + EXTRA_ENGINES
ORT_ENGINES = ("ort", "ort-dynamic", "ort-sim", "ort-dynamic-sim")
ALIASES = {"pytorch": "torch", "torch-cpu": "torch", "cuda": "torch-cuda",
           "onnxruntime": "ort", "ort-fixed": "ort", "ort-fixed-sim": "ort-sim"}
ENGINE_LABELS = {
    "torch": "PyTorch eager CPU", "torch-cuda": "PyTorch CUDA", "ort": "ORT fixed axes",
    "ort-dynamic": "ORT dynamic axes", "ort-sim": "ORT fixed + onnxsim",
    "ort-dynamic-sim": "ORT dynamic + onnxsim", "preprocess": "preprocessing only",
    "reference-loop": "reference-style loop (ORT dynamic)",
}
EXPORTERS = ("legacy", "dynamo")
OPT_LEVELS = ("disable", "basic", "extended", "all")
REFERENCE_SIZES = (32, 64, 128, 256, 512, 640, 768, 1024)
MIN_SIZE, MAX_SIZE, MAX_BATCH = 32, 2048, 256
STAT_FIELDS = ("median_ms", "p10_ms", "p90_ms", "mean_ms", "min_ms", "max_ms", "std_ms", "runs")
JSON_FIELDS = ("engine", "model", "batch", "size", "threads", "median_ms", "p10_ms", "p90_ms",
               "runs", "status")

# The reference tutorial's published figures (seconds per run; i5-10400F, RTX 3070, WSL),
# shipped in data/reference/. Their timed loop included I/O and preprocessing (see the module doc).
REFERENCE_SPEED_CSV = REFERENCE_DIR / "speed_table.csv"
REFERENCE_VARIANTS = {"pytorch_cpu": "torch", "pytorch_gpu": "torch-cuda", "onnx_fixed": "ort",
                      "onnx_dynamic": "ort-dynamic", "onnx_fixed_sim": "ort-sim",
                      "onnx_dynamic_sim": "ort-dynamic-sim"}


class BenchError(ValueError):
    """A benchmark request that cannot be run (unknown model or engine, bad number)."""


# --------------------------------------------------------------------------- validation


def _choices_error(kind: str, given: str, allowed: Iterable[str]) -> BenchError:
    return BenchError(f"unknown {kind} {given!r}; expected one of: {', '.join(allowed)}")


def validate_model(name: str) -> str:
    """Return ``name`` if it is a supported model, else raise :class:`BenchError`."""
    if name not in MODELS:
        raise _choices_error("model", name, MODELS)
    return name


def parse_engines(engines: str | Sequence[str]) -> list[str]:
    """Engine names from ``"torch,ort"`` or a list; aliases resolved, duplicates dropped."""
    names = engines.split(",") if isinstance(engines, str) else list(engines)
    result: list[str] = []
    for raw in names:
        name = ALIASES.get(raw.strip().lower(), raw.strip().lower())
        if name not in ENGINES:
            raise _choices_error("engine", raw.strip(), ENGINES)
        if name not in result:
            result.append(name)
    if not result:
        raise BenchError(f"no engine given; expected some of: {', '.join(ENGINES)}")
    return result


def _positive_ints(values: str | Sequence[int], what: str, low: int, high: int) -> tuple[int, ...]:
    items = values.split(",") if isinstance(values, str) else list(values)
    result = []
    for item in items:
        try:
            number = int(item)
        except (TypeError, ValueError):
            raise BenchError(f"{what} must be whole numbers, got {item!r}") from None
        if not low <= number <= high:
            raise BenchError(f"{what} must be between {low} and {high}, got {number}")
        result.append(number)
    if not result:
        raise BenchError(f"no {what} given")
    return tuple(result)


# --------------------------------------------------------------------------- timing


@dataclass(frozen=True)
class RunPolicy:
    """How many runs: warm-up, then timed runs until ``repeats`` or ``max_seconds``.

    Warm-up: up to ``warmup`` untimed runs (the cold first run counts), stopping early once
    ``warmup_s`` have passed (but at least one run when ``warmup`` > 0). Timed: stop at ``repeats`` runs, or as soon as
    ``max_seconds`` have passed and at least ``min_runs`` are done. The count actually done
    is always recorded.
    """

    warmup: int = 3
    warmup_s: float = 1.0
    repeats: int = 50
    min_runs: int = 5
    max_seconds: float = 10.0

    def __post_init__(self) -> None:
        if self.warmup < 0:
            raise BenchError(f"warmup must be 0 or more, got {self.warmup}")
        if self.repeats < 1 or self.min_runs < 1:
            raise BenchError(f"repeats and min_runs must be at least 1, got {self.repeats} "
                             f"and {self.min_runs}")
        if self.min_runs > self.repeats:
            raise BenchError(f"min_runs ({self.min_runs}) cannot exceed repeats ({self.repeats})")
        if not (self.warmup_s >= 0 and self.max_seconds >= 0):
            raise BenchError("warmup_s and max_seconds must be 0 or more")


FULL_POLICY = RunPolicy(warmup=3, warmup_s=0.5, repeats=50, min_runs=3, max_seconds=2.0)
QUICK_POLICY = RunPolicy(warmup=2, warmup_s=0.3, repeats=20, min_runs=3, max_seconds=0.5)


def time_runs(fn: Callable[[], object], policy: RunPolicy, *,
              sync: Callable[[], object] | None = None,
              clock: Callable[[], float] = time.perf_counter,
              done_runs: int = 0, done_s: float = 0.0) -> tuple[list[float], int]:
    """Run ``fn`` as ``policy`` says; return (seconds of each timed run, warm-up runs done).

    ``sync`` is called after each run inside the timed region (``torch.cuda.synchronize``
    for a GPU, whose calls return before the work is done). ``done_runs`` and ``done_s``
    count untimed runs already made (the cold first run) towards the warm-up.
    """
    sync = sync or (lambda: None)
    warm = done_runs
    start = clock() - done_s
    while warm < policy.warmup and (warm == 0 or clock() - start < policy.warmup_s):
        fn()
        sync()
        warm += 1
    times: list[float] = []
    begin = clock()
    while len(times) < policy.repeats:
        t0 = clock()
        fn()
        sync()
        times.append(clock() - t0)
        if len(times) >= policy.min_runs and clock() - begin >= policy.max_seconds:
            break
    return times, warm


def summarize_times(seconds: Sequence[float]) -> dict[str, float | int]:
    """Median, p10, p90, mean, min, max and std in milliseconds, plus the number of runs."""
    values = np.asarray(list(seconds), dtype=np.float64)
    if values.size == 0:
        raise BenchError("no timings to summarize (0 runs)")
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise BenchError("timings must be finite and non-negative seconds")
    ms = values * 1000.0
    p10, median, p90 = np.percentile(ms, [10, 50, 90])
    return {"median_ms": float(median), "p10_ms": float(p10), "p90_ms": float(p90),
            "mean_ms": float(ms.mean()), "min_ms": float(ms.min()), "max_ms": float(ms.max()),
            "std_ms": float(ms.std(ddof=1)) if ms.size > 1 else 0.0, "runs": int(ms.size)}


# --------------------------------------------------------------------------- grid


@dataclass(frozen=True)
class Cell:
    """One measurement: a model, a batch size, a square input size and an engine."""

    model: str
    batch: int
    size: int
    engine: str

    @property
    def key(self) -> tuple[str, int, int, str]:
        return (self.model, self.batch, self.size, self.engine)


@dataclass(frozen=True)
class GridSpec:
    """Models x batches x sizes x engines, with the run policy, threads and exporter."""

    models: tuple[str, ...]
    sizes: tuple[int, ...]
    batches: tuple[int, ...]
    engines: tuple[str, ...]
    policy: RunPolicy = field(default_factory=RunPolicy)
    threads: int | None = None  # None: one per physical core
    exporter: str = "legacy"
    name: str = "custom"

    def __post_init__(self) -> None:
        for model in self.models:
            validate_model(model)
        object.__setattr__(self, "engines", tuple(parse_engines(self.engines)))
        _positive_ints(self.sizes, "sizes", MIN_SIZE, MAX_SIZE)
        _positive_ints(self.batches, "batch sizes", 1, MAX_BATCH)
        if self.exporter not in EXPORTERS:
            raise _choices_error("exporter", self.exporter, EXPORTERS)
        if self.threads is not None and self.threads < 1:
            raise BenchError(f"threads must be at least 1, got {self.threads}")

    @property
    def thread_count(self) -> int:
        return self.threads or physical_cores()

    def cells(self) -> list[Cell]:
        """Every cell, model by model, batch by batch, size by size; engines innermost.

        ``preprocess`` does not depend on the model: it is measured once per shape, filed
        under the first model.
        """
        return [Cell(m, b, s, e) for m in self.models for b in self.batches
                for s in self.sizes for e in self.engines
                if e != "preprocess" or m == self.models[0]]


GRIDS = {
    # The reference tutorial's grid, plus 224 (the size the models were trained at).
    "full": GridSpec(models=MODELS, sizes=tuple(sorted(REFERENCE_SIZES + (224,))),
                     batches=(1, 16), engines=MODEL_ENGINES + ("preprocess",),
                     policy=FULL_POLICY, name="full"),
    "quick": GridSpec(models=MODELS, sizes=(64, 224), batches=(1,),
                      engines=MODEL_ENGINES + ("preprocess",), policy=QUICK_POLICY, name="quick"),
}


# --------------------------------------------------------------------------- files


class ModelStore:
    """Weights and ONNX files for the benchmark, made once and kept under ``artifacts/bench``.

    ImageNet weights are used when torch hub has them cached; otherwise the model gets
    seeded random weights (no download is attempted). Speed does not depend on the weights.
    """

    def __init__(self, exporter: str = "legacy", folder: Path | None = None) -> None:
        if exporter not in EXPORTERS:
            raise _choices_error("exporter", exporter, EXPORTERS)
        self.exporter = exporter
        self.folder = folder or artifacts_dir("bench")
        self._models: dict[str, tuple[Any, str]] = {}

    def model(self, name: str):
        """(torch model in eval mode, weights tag ``"imagenet"`` or ``"random"``)."""
        validate_model(name)
        if name not in self._models:
            from helpers.models import cached_weights_path, load_imagenet_model

            pretrained = cached_weights_path(name).exists()
            loaded = load_imagenet_model(name, pretrained=pretrained, seed=0)
            self._models[name] = (loaded.model.eval(), "imagenet" if loaded.pretrained else "random")
        return self._models[name]

    def weights_tag(self, name: str) -> str:
        return self.model(name)[1]

    def weights(self, name: str) -> Path:
        """The model's state dict as a file the PyTorch worker loads."""
        import torch

        model, tag = self.model(name)
        path = self.folder / f"{name}_{tag}.pt"
        if not path.exists():
            torch.save(model.state_dict(), path)
        return path

    def onnx(self, name: str, *, dynamic: bool, batch: int = 1, size: int = 224,
             simplified: bool = False) -> Path:
        """The exported file (fixed shape ``batch x 3 x size x size``, or dynamic B/H/W)."""
        import torch

        from helpers.export import export_if_missing

        model, tag = self.model(name)
        shape = "dynamic" if dynamic else f"b{batch}_{size}"
        path = self.folder / f"{name}_{tag}_{self.exporter}_{shape}.onnx"
        example = torch.zeros(1 if dynamic else batch, 3, 224 if dynamic else size,
                              224 if dynamic else size)
        dims = {0: "batch", 2: "height", 3: "width"} if dynamic else None
        export_if_missing(model, example, path, dynamo=self.exporter == "dynamo",
                          dynamic_dims=dims,
                          dim_bounds={"height": (MIN_SIZE, MAX_SIZE), "width": (MIN_SIZE, MAX_SIZE),
                                      "batch": (1, MAX_BATCH)},
                          metadata={"weights": tag})
        if not simplified:
            return path
        sim_path = path.with_name(path.stem + "_onnxsim.onnx")
        if not sim_path.exists():
            sim_path.write_bytes(simplify_bytes(path))
        return sim_path

    def files_for(self, cell: Cell) -> dict[str, str]:
        """The files the worker for ``cell`` needs (absolute paths, never printed)."""
        engine = cell.engine
        if engine in ("torch", "torch-cuda"):
            return {"weights": str(self.weights(cell.model))}
        if engine in ("ort", "ort-sim"):
            return {"onnx": str(self.onnx(cell.model, dynamic=False, batch=cell.batch,
                                          size=cell.size, simplified=engine == "ort-sim"))}
        if engine in ("ort-dynamic", "ort-dynamic-sim", "reference-loop"):
            return {"onnx": str(self.onnx(cell.model, dynamic=True,
                                          simplified=engine == "ort-dynamic-sim"))}
        return {}


def simplify_bytes(path: Path) -> bytes:
    """``onnxsim.simplify`` of an ONNX file, serialised; raises if onnxsim cannot validate it."""
    import onnx
    import onnxsim

    simplified, ok = onnxsim.simplify(onnx.load(str(path)))
    if not ok:
        raise BenchError(f"onnxsim could not validate its simplified {path.name}")
    return simplified.SerializeToString()


@lru_cache(maxsize=64)
def model_gflop(name: str, size: int) -> float:
    """GFLOP of one forward pass at batch 1 (multiply and add counted as 2), by torch's counter."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from torchvision.models import get_model

    model = get_model(validate_model(name), weights=None).eval()
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(torch.zeros(1, 3, size, size))
    return counter.get_total_flops() / 1e9


# --------------------------------------------------------------------------- workers


def _cell_record(spec: dict[str, Any]) -> dict[str, Any]:
    return {"engine": spec["engine"], "model": spec.get("model"), "batch": spec.get("batch"),
            "size": spec.get("size"), "threads": spec["threads"], "status": "ok", "note": ""}


def _random_input(batch: int, size: int) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((batch, 3, size, size), dtype=np.float32)


def _policy(spec: dict[str, Any]) -> RunPolicy:
    return RunPolicy(**spec.get("policy", {}))


def _finish(record: dict[str, Any], times: list[float], warm: int, baseline_mb: float) -> dict:
    record.update(summarize_times(times))
    record["warmup_runs"] = warm
    peak, source = peak_rss_mb()
    record.update(baseline_rss_mb=round(baseline_mb, 1), peak_rss_mb=round(peak, 1),
                  model_rss_mb=round(peak - baseline_mb, 1), memory_source=source)
    return record


def _torch_worker(spec: dict[str, Any]) -> dict[str, Any]:
    record = _cell_record(spec)
    t0 = time.perf_counter()
    import torch
    from torchvision.models import get_model

    record["import_s"] = round(time.perf_counter() - t0, 3)
    torch.set_num_threads(spec["threads"])
    torch.set_num_interop_threads(1)
    cuda = spec["engine"] == "torch-cuda"
    if cuda and not torch.cuda.is_available():
        record.update(status="skipped", note="no CUDA device on this machine")
        return record
    device = torch.device("cuda" if cuda else "cpu")
    sync = torch.cuda.synchronize if cuda else None
    x_np = _random_input(spec["batch"], spec["size"])
    baseline = current_rss_mb()
    t0 = time.perf_counter()
    model = get_model(spec["model"], weights=None)
    model.load_state_dict(torch.load(spec["files"]["weights"], map_location="cpu",
                                     weights_only=True))
    model = model.eval().to(device)
    x = torch.from_numpy(x_np).to(device)
    if sync:
        sync()
    record["load_ms"] = (time.perf_counter() - t0) * 1000
    with torch.inference_mode():
        t0 = time.perf_counter()
        model(x)
        if sync:
            sync()
        first = time.perf_counter() - t0
        record["first_run_ms"] = first * 1000
        times, warm = time_runs(lambda: model(x), _policy(spec), sync=sync, done_runs=1,
                                done_s=first)
    record["cold_start_ms"] = record["load_ms"] + record["first_run_ms"]
    record["torch_threads"] = torch.get_num_threads()
    if cuda:
        record["gpu_peak_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        record["device"] = torch.cuda.get_device_name(0)
    return _finish(record, times, warm, baseline)


def _ort_options(spec: dict[str, Any]):
    import onnxruntime as ort

    from helpers.runtime import session_options

    levels = {"disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
              "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
              "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
              "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
    options = session_options(threads=spec["threads"], inter_op_threads=1,
                              optimization=levels[spec.get("optimization", "all")],
                              optimized_model_path=spec.get("optimized_model_path"),
                              profile=bool(spec.get("profile_prefix")))
    if spec.get("profile_prefix"):
        options.profile_file_prefix = spec["profile_prefix"]
    if spec.get("spinning") is not None:
        options.add_session_config_entry("session.intra_op.allow_spinning",
                                         "1" if spec["spinning"] else "0")
    return options


def _ort_worker(spec: dict[str, Any]) -> dict[str, Any]:
    record = _cell_record(spec)
    t0 = time.perf_counter()
    import onnxruntime as ort

    from helpers.runtime import validate_inputs

    record["import_s"] = round(time.perf_counter() - t0, 3)
    options = _ort_options(spec)
    x = _random_input(spec["batch"], spec["size"])
    baseline = current_rss_mb()
    t0 = time.perf_counter()
    session = ort.InferenceSession(spec["files"]["onnx"], sess_options=options,
                                   providers=["CPUExecutionProvider"])
    record["load_ms"] = (time.perf_counter() - t0) * 1000
    feeds = validate_inputs(session, x)  # once, outside the timed region
    t0 = time.perf_counter()
    session.run(None, feeds)
    first = time.perf_counter() - t0
    record["first_run_ms"] = first * 1000
    record["cold_start_ms"] = record["load_ms"] + record["first_run_ms"]
    if spec["engine"] == "reference-loop":
        times, model_times = _alternate(_reference_loop(session, spec["batch"], spec["size"]),
                                        lambda: session.run(None, feeds), _policy(spec))
        warm = 1
        model = summarize_times(model_times)
        record.update({f"model_{k}": v for k, v in model.items() if k != "runs"})
        record["note"] = "loop and model alone timed alternately in this process"
    else:
        times, warm = time_runs(lambda: session.run(None, feeds), _policy(spec), done_runs=1,
                                done_s=first)
    record["optimization"] = spec.get("optimization", "all")
    record["intra_op_threads"] = options.intra_op_num_threads
    if spec.get("profile_prefix"):
        record["profile_file"] = session.end_profiling()
        record["profiled_runs"] = 1 + warm + len(times)
    return _finish(record, times, warm, baseline)


def _alternate(first: Callable[[], object], second: Callable[[], object],
               policy: RunPolicy) -> tuple[list[float], list[float]]:
    """Time two functions in turn (one warm-up each), so a busy CPU slows both alike."""
    first()
    second()
    times_a: list[float] = []
    times_b: list[float] = []
    begin = time.perf_counter()
    while len(times_a) < policy.repeats:
        for fn, times in ((first, times_a), (second, times_b)):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        if len(times_a) >= policy.min_runs and time.perf_counter() - begin >= policy.max_seconds:
            break
    return times_a, times_b


def _reference_loop(session, batch: int, size: int) -> Callable[[], object]:
    """One iteration of the loop the reference tutorial timed, around the model's run."""
    from helpers.images import load_image, preprocess_imagenet
    from helpers.labels import imagenet_categories, softmax, top_k
    from helpers.paths import IMAGES_DIR

    input_name = session.get_inputs()[0].name

    def iteration() -> object:
        names = sorted(p for p in os.listdir(IMAGES_DIR)  # list the folder every time
                       if p.lower().endswith((".png", ".jpg", ".jpeg")))
        chosen = [names[i % len(names)] for i in range(batch)]
        x = np.concatenate([preprocess_imagenet(load_image(IMAGES_DIR / n), size, size)
                            for n in chosen])
        classes = imagenet_categories()  # the class table, read from disk every time
        logits = session.run(None, {input_name: x})[0]
        return [top_k(softmax(row), classes, 3) for row in logits]

    return iteration


def _preprocess_worker(spec: dict[str, Any]) -> dict[str, Any]:
    record = _cell_record(spec)
    from helpers.data import sample_image_paths
    from helpers.images import load_image, preprocess_imagenet

    paths = sample_image_paths()
    chosen = [paths[i % len(paths)] for i in range(spec["batch"])]
    size = spec["size"]
    baseline = current_rss_mb()

    def prepare() -> np.ndarray:
        return np.concatenate([preprocess_imagenet(load_image(p), size, size) for p in chosen])

    t0 = time.perf_counter()
    prepare()
    first = time.perf_counter() - t0
    record["first_run_ms"] = first * 1000
    times, warm = time_runs(prepare, _policy(spec), done_runs=1, done_s=first)
    record["note"] = "decode + resize + centre crop + normalise, no model"
    return _finish(record, times, warm, baseline)


def _matmul_worker(spec: dict[str, Any]) -> dict[str, Any]:
    import torch

    torch.set_num_threads(spec["threads"])
    n = int(spec.get("n", 2048))
    a, b = torch.randn(n, n), torch.randn(n, n)
    times, warm = time_runs(lambda: torch.mm(a, b), _policy(spec))
    record = {"engine": "matmul", "threads": spec["threads"], "n": n, "status": "ok",
              **summarize_times(times), "warmup_runs": warm}
    flop = 2.0 * n**3
    record["gflops_best"] = flop / (record["min_ms"] / 1000) / 1e9
    record["gflops_median"] = flop / (record["median_ms"] / 1000) / 1e9
    return record


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Measure one engine in this process (run only inside a fresh subprocess)."""
    engine = spec.get("engine")
    if engine in ("torch", "torch-cuda"):
        return _torch_worker(spec)
    if engine in ORT_ENGINES or engine == "reference-loop":
        return _ort_worker(spec)
    if engine == "preprocess":
        return _preprocess_worker(spec)
    if engine == "matmul":
        return _matmul_worker(spec)
    raise _choices_error("engine", str(engine), ENGINES)


def parse_worker_output(stdout: str) -> dict[str, Any] | None:
    """The last line of ``stdout`` that is a JSON object, or None."""
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                return value
    return None


def thread_env(threads: int) -> dict[str, str]:
    """Environment for a worker: every thread pool capped at ``threads``."""
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(threads)
    return env


def measure(spec: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
    """Run :func:`worker` for ``spec`` in a fresh ``python -m helpers.bench --worker`` process.

    Returns the worker's record; a worker that fails gives a record with ``status="error"``
    and the last line of its error output in ``note``.
    """
    spec = dict(spec)
    spec.setdefault("threads", physical_cores())
    command = [sys.executable, "-m", "helpers.bench", "--worker", json.dumps(spec)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT,
                              env=thread_env(int(spec["threads"])), timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**_cell_record(spec), "status": "error", "note": f"timed out after {timeout} s"}
    record = parse_worker_output(done.stdout)
    if done.returncode != 0 or record is None:
        lines = [ln for ln in done.stderr.strip().splitlines() if ln.strip()]
        return {**_cell_record(spec), "status": "error",
                "note": lines[-1] if lines else f"worker exited with {done.returncode}"}
    return record


def matmul_peak(threads: int | None = None, n: int = 2048,
                policy: RunPolicy | None = None) -> dict[str, Any]:
    """This machine's float32 matrix-multiply speed (torch.mm, n x n) in a fresh process."""
    policy = policy or RunPolicy(warmup=2, warmup_s=0.5, repeats=20, min_runs=5, max_seconds=3)
    return measure({"engine": "matmul", "threads": threads or physical_cores(), "n": n,
                    "policy": asdict(policy)})


def measure_cell(cell: Cell, store: ModelStore, policy: RunPolicy, threads: int,
                 timeout: float | None = None, **options: Any) -> dict[str, Any]:
    """Measure one cell in its own subprocess; adds weights, exporter, GFLOP and GFLOP/s.

    ``torch-cuda`` is skipped without a subprocess when this machine has no CUDA device.
    Extra ``options`` go to the worker (``optimization``, ``spinning``, ...).
    """
    spec = {**asdict(cell), "threads": threads, "policy": asdict(policy), **options}
    if cell.engine == "torch-cuda":
        import torch

        if not torch.cuda.is_available():
            return {**_cell_record(spec), "status": "skipped",
                    "note": "no CUDA device on this machine"}
    spec["files"] = store.files_for(cell)
    record = measure(spec, timeout=timeout)
    if cell.engine not in ("preprocess",):
        record["weights"] = store.weights_tag(cell.model)
    if cell.engine in ORT_ENGINES or cell.engine == "reference-loop":
        record["exporter"] = store.exporter
        record["file"] = relative(spec["files"]["onnx"])
    if record.get("status") == "ok" and cell.engine in MODEL_ENGINES:
        record["gflop"] = model_gflop(cell.model, cell.size) * cell.batch
        record["gflops_per_s"] = record["gflop"] / (record["median_ms"] / 1000)
    return record


# --------------------------------------------------------------------------- the grid


@dataclass
class GridResult:
    """Records of a grid run, with the machine, the settings and the wall time."""

    records: list[dict[str, Any]]
    machine: dict[str, Any]
    settings: dict[str, Any]
    wall_s: float
    reused: int = 0

    def frame(self):
        return results_frame(self.records)


def grid_settings(spec: GridSpec) -> dict[str, Any]:
    """What decides the numbers besides the machine (used to decide whether to reuse)."""
    return {"grid": spec.name, "models": list(spec.models), "sizes": list(spec.sizes),
            "batches": list(spec.batches), "engines": list(spec.engines),
            "threads": spec.thread_count, "exporter": spec.exporter, "policy": asdict(spec.policy),
            "ort_inter_op_threads": 1, "torch_interop_threads": 1, "timer": "time.perf_counter",
            "torch_mode": "inference_mode, eval()"}


def _fingerprint(machine: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    return {"cpu": machine.get("cpu_model"), "cpus": machine.get("logical_cpus"),
            "versions": machine.get("versions"), "threads": settings.get("threads"),
            "exporter": settings.get("exporter"), "policy": settings.get("policy")}


def load_report(folder: str | Path) -> GridResult | None:
    """A report written by :func:`write_report`, or None when there is none."""
    path = Path(folder) / "results.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return GridResult(data["records"], data["machine"], data["settings"], data["wall_s"],
                      data.get("reused", 0))


def run_grid(spec: GridSpec, report_dir: str | Path | None = None, *, progress: bool = True,
             reuse: bool = False, timeout: float | None = None,
             matmul: bool | None = None) -> GridResult:
    """Measure every cell of ``spec``, each engine in a fresh subprocess, with a progress bar.

    With ``reuse``, cells already measured in ``report_dir`` on this machine with the same
    versions, threads, exporter and run policy are taken from there and not measured again.
    When every cell can be reused, the earlier run is returned as it was (its machine
    record, wall time and report untouched). Writes the report to ``report_dir`` when given. ``matmul`` (default: for the named
    grids) also measures this machine's matrix-multiply peak, recorded with the machine.
    """
    from helpers import progress_bar
    from helpers.data import gather_sample_images
    from helpers.labels import imagenet_categories

    start = time.perf_counter()
    machine = machine_info()
    settings = grid_settings(spec)
    previous: dict[tuple, dict] = {}
    if reuse and report_dir is not None:
        old = load_report(report_dir)
        if old and _fingerprint(old.machine, old.settings) == _fingerprint(machine, settings):
            previous = {(r["model"], r["batch"], r["size"], r["engine"]): r
                        for r in old.records if r.get("status") in ("ok", "skipped")}
            cells = spec.cells()
            if all(cell.key in previous for cell in cells):
                # nothing to measure: the earlier run, its machine record and wall time as they were
                return GridResult([previous[cell.key] for cell in cells], old.machine,
                                  old.settings, old.wall_s, reused=len(cells))
    gather_sample_images()
    imagenet_categories()  # written once here, so workers only read it
    peak = matmul_peak(spec.thread_count) if (spec.name in GRIDS if matmul is None else matmul) else {}
    if peak.get("status") == "ok":
        machine["matmul_gflops_best"] = round(peak["gflops_best"], 1)
        machine["matmul_gflops_median"] = round(peak["gflops_median"], 1)
    store = ModelStore(spec.exporter)
    cells = spec.cells()
    records, reused = [], 0
    bar = progress_bar(cells, desc=f"bench {spec.name}", unit="cell", disable=not progress)
    for cell in bar:
        bar.set_postfix_str(f"{cell.model} b{cell.batch} {cell.size}px {cell.engine}")
        if cell.key in previous:
            records.append(previous[cell.key])
            reused += 1
            continue
        records.append(measure_cell(cell, store, spec.policy, spec.thread_count, timeout))
    bar.close()
    if hasattr(os, "getloadavg"):
        machine["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    result = GridResult(records, machine, settings, time.perf_counter() - start, reused)
    if report_dir is not None:
        write_report(result, report_dir)
    return result


# --------------------------------------------------------------------------- analysis


def results_frame(records: Sequence[dict[str, Any]]):
    """Records as a DataFrame with the key columns first."""
    import pandas as pd

    frame = pd.DataFrame(list(records))
    if frame.empty:
        return frame
    first = [c for c in ("model", "batch", "size", "engine", "status", "threads", *STAT_FIELDS)
             if c in frame.columns]
    return frame[first + [c for c in frame.columns if c not in first]]


def _ok(frame):
    return frame[frame["status"] == "ok"] if "status" in frame.columns else frame


def latency_table(frame, value: str = "median_ms"):
    """One row per (model, batch, size), one column per engine (engines measured only)."""
    table = _ok(frame).pivot_table(index=["model", "batch", "size"], columns="engine",
                                   values=value, sort=False)
    order = [e for e in ENGINES if e in table.columns]
    return table[order]


def speedup_table(frame, baseline: str = "torch", engines: Sequence[str] = ORT_ENGINES):
    """How many times faster each engine is than ``baseline`` (baseline median / engine median)."""
    table = latency_table(frame)
    if baseline not in table.columns:
        raise BenchError(f"no {baseline!r} measurements to compare with")
    present = [e for e in engines if e in table.columns]
    return table[present].rdiv(table[baseline], axis=0)


def memory_table(frame, value: str = "peak_rss_mb"):
    """Peak resident memory (MiB) per engine and shape."""
    return latency_table(frame, value=value)


@dataclass(frozen=True)
class Finding:
    """One of the reference tutorial's conclusions, checked against this run's data."""

    claim: str
    holds: bool | None  # None: not measured here
    measured: str
    shapes: int


def _overlap(low_a, high_a, low_b, high_b) -> np.ndarray:
    """Where two [p10, p90] ranges overlap: a difference within the run-to-run spread."""
    return (np.asarray(low_a) <= np.asarray(high_b)) & (np.asarray(low_b) <= np.asarray(high_a))


def _same_speed(ratios, overlaps, tolerance: float) -> tuple[bool, str]:
    ratios = np.asarray(ratios, dtype=float)
    overlaps = np.asarray(overlaps, dtype=bool)
    keep = np.isfinite(ratios)
    ratios, overlaps = ratios[keep], overlaps[keep]
    within = np.abs(ratios - 1) <= tolerance
    same = within | overlaps
    median = float(np.median(ratios))
    holds = bool(abs(median - 1) <= tolerance and same.sum() >= 0.75 * len(ratios))
    text = (f"within ±{tolerance:.0%} at {int(within.sum())}/{len(ratios)} shapes, within "
            f"±{tolerance:.0%} or inside the p10–p90 spread at {int(same.sum())}/{len(ratios)}; "
            f"median ratio {median:.2f} (range {ratios.min():.2f}–{ratios.max():.2f})")
    return holds, text


def _pair_stats(frame, a: str, b: str):
    """Median ratio a/b per shape (a Series indexed by shape) and whether their p10–p90 ranges overlap."""
    med = latency_table(frame)
    low, high = latency_table(frame, "p10_ms"), latency_table(frame, "p90_ms")
    both = med[[a, b]].dropna().index
    ratio = med.loc[both, a] / med.loc[both, b]
    overlap = _overlap(low.loc[both, a], high.loc[both, a], low.loc[both, b], high.loc[both, b])
    clearly_a_faster = (high.loc[both, a] < low.loc[both, b]).to_numpy()
    return ratio, overlap, clearly_a_faster


def _shape_list(shapes: Sequence[str], most: int = 3) -> str:
    """'a, b, c and 2 more': the first few shapes of a list, for a finding's text."""
    more = f" and {len(shapes) - most} more" if len(shapes) > most else ""
    return ", ".join(shapes[:most]) + more


def findings(frame, tolerance: float = 0.10) -> list[Finding]:
    """The reference tutorial's conclusions, each recomputed from ``frame``.

    "Faster at every size": the median is lower at every shape ("clearly" where the p10–p90
    ranges do not overlap). "Same speed": the median ratio is within ``tolerance`` of 1, and
    at three shapes in four or more the two are within ``tolerance`` or within each other's
    p10–p90 spread (a difference smaller than the run-to-run spread is no evidence of a
    difference on a busy machine).
    """
    table = latency_table(frame)
    result: list[Finding] = []
    if {"torch", "ort"} <= set(table.columns):
        ratio, overlap, clearly = _pair_stats(frame, "ort", "torch")
        speedup = 1 / ratio
        faster = int((speedup > 1).sum())
        slower = [f"{m} b{b} {s} px ({'inside the p10–p90 spread' if o else 'clearly slower'})"
                  for (m, b, s), x, o in zip(speedup.index, speedup, overlap, strict=True)
                  if x <= 1]
        result.append(Finding(
            "ORT is faster than PyTorch on CPU at every size", faster == len(speedup),
            f"ORT faster than PyTorch at {faster}/{len(speedup)} shapes (clearly, with no "
            f"overlap of the p10–p90 ranges, at {int(clearly.sum())}); median speedup "
            f"{np.median(speedup):.2f}× (range {speedup.min():.2f}–{speedup.max():.2f}×)"
            + (f"; not faster at {_shape_list(slower)}" if slower else ""), len(speedup)))
    if {"ort", "ort-dynamic"} <= set(table.columns):
        ratio, overlap, _ = _pair_stats(frame, "ort-dynamic", "ort")
        holds, text = _same_speed(ratio, overlap, tolerance)
        result.append(Finding("Fixed and dynamic axes run at the same speed", holds,
                              f"dynamic / fixed latency {text}", len(ratio)))
    sims = [(s, b) for s, b in (("ort-sim", "ort"), ("ort-dynamic-sim", "ort-dynamic"))
            if {s, b} <= set(table.columns)]
    if sims:
        stats = [_pair_stats(frame, s, b) for s, b in sims]
        ratio = np.concatenate([r for r, _, _ in stats])
        overlap = np.concatenate([o for _, o, _ in stats])
        holds, text = _same_speed(ratio, overlap, tolerance)
        result.append(Finding("onnxsim makes no difference to speed", holds,
                              f"simplified / original latency {text}", len(ratio)))
    memory = memory_table(frame)
    if {"torch", "ort"} <= set(memory.columns):
        pair = memory[["torch", "ort"]].dropna()
        ratio = pair["torch"] / pair["ort"]
        less = int((ratio > 1).sum())
        higher = [f"{m} b{b} {s} px" for (m, b, s), r in ratio.items() if r <= 1]
        exceptions = f"; ORT peaked as high or higher at {_shape_list(higher)}" if higher else ""
        result.append(Finding(
            "ORT needs much less memory than PyTorch on CPU", less == len(pair),
            f"ORT's process peaked lower at {less}/{len(pair)} shapes; PyTorch / ORT peak "
            f"memory median {ratio.median():.2f}× (range {ratio.min():.2f}–{ratio.max():.2f}×)"
            f"{exceptions}", len(pair)))
    cuda = _ok(frame)
    if "torch-cuda" in set(cuda["engine"]) and "torch" in table.columns:
        pair = table[["torch", "torch-cuda"]].dropna()
        pair = pair[pair.index.get_level_values("batch") == 1]
        large = pair[pair.index.get_level_values("size") >= 256]
        wins = int((large["torch-cuda"] < large["torch"]).sum())
        result.append(Finding("A GPU wins from 256×256 up at batch 1", wins == len(large),
                              f"CUDA faster at {wins}/{len(large)} batch-1 shapes from 256 up",
                              len(large)))
    else:
        result.append(Finding("A GPU wins from 256×256 up at batch 1", None,
                              "not measured: no CUDA device on this machine", 0))
    return result


def findings_frame(items: Sequence[Finding]):
    """Findings as a DataFrame (claim, holds here, what was measured)."""
    import pandas as pd

    return pd.DataFrame([{"reference claim": f.claim,
                          "holds here": {True: "yes", False: "no", None: "not measured"}[f.holds],
                          "measured here": f.measured, "shapes": f.shapes} for f in items])


def reference_table(path: Path = REFERENCE_SPEED_CSV):
    """The reference tutorial's published figures, long format, in milliseconds."""
    import pandas as pd

    if not Path(path).is_file():
        raise BenchError(f"reference figures not found: {relative(path)} (shipped with the course)")
    raw = pd.read_csv(path)
    if not (raw["height"] == raw["width"]).all():
        raise BenchError(f"{relative(path)}: expected square sizes (height == width)")
    unknown = set(raw["variant"]) - set(REFERENCE_VARIANTS)
    if unknown:
        raise BenchError(f"{relative(path)}: unknown variants {sorted(unknown)}; "
                         f"expected {sorted(REFERENCE_VARIANTS)}")
    long = pd.DataFrame({"model": raw["model"], "batch": raw["batch"], "size": raw["height"],
                         "engine": raw["variant"].map(REFERENCE_VARIANTS),
                         "median_ms": raw["seconds_per_run"] * 1000})
    return long.dropna(subset=["median_ms"]).reset_index(drop=True)


def compare_with_reference(frame):
    """Per shape: this machine's and the reference's PyTorch and ORT latency and speedup.

    ``agrees`` is True where both say the same thing about which engine is faster.
    """
    ours = latency_table(frame)
    theirs = latency_table(reference_table().assign(status="ok"))
    rows = []
    for key in ours.index.intersection(theirs.index):
        if not {"torch", "ort"} <= set(ours.columns) or np.isnan(ours.loc[key, ["torch", "ort"]]).any():
            continue
        our_speedup = ours.loc[key, "torch"] / ours.loc[key, "ort"]
        their_speedup = theirs.loc[key, "torch"] / theirs.loc[key, "ort"]
        rows.append({"model": key[0], "batch": key[1], "size": key[2],
                     "torch_ms": ours.loc[key, "torch"], "ort_ms": ours.loc[key, "ort"],
                     "ref_torch_ms": theirs.loc[key, "torch"], "ref_ort_ms": theirs.loc[key, "ort"],
                     "speedup": our_speedup, "ref_speedup": their_speedup,
                     "ref_ort / our_ort": theirs.loc[key, "ort"] / ours.loc[key, "ort"],
                     "agrees": bool((our_speedup > 1) == (their_speedup > 1))})
    import pandas as pd

    return pd.DataFrame(rows)


def headline(frame, model: str = "resnet18", batch: int = 1, size: int = 224) -> dict[str, float]:
    """PyTorch and ORT (fixed) medians for one shape and their ratio (PyTorch / ORT)."""
    table = latency_table(frame)
    key = (model, batch, size)
    if key not in table.index or not {"torch", "ort"} <= set(table.columns):
        raise BenchError(f"no torch and ort measurements for {model} batch {batch} {size}x{size}")
    torch_ms, ort_ms = float(table.loc[key, "torch"]), float(table.loc[key, "ort"])
    return {"torch_ms": torch_ms, "ort_ms": ort_ms, "ratio": torch_ms / ort_ms}


def profile_table(path: str | Path, runs: int | None = None):
    """ORT's profile (``enable_profiling``) as a per-op-type time table, slowest first.

    ``runs`` divides the totals to give milliseconds per run (defaults to the number of
    ``model_run`` events in the file).
    """
    import pandas as pd

    events = json.loads(Path(path).read_text(encoding="utf-8"))
    nodes = [e for e in events if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time")]
    if not nodes:
        raise BenchError(f"{Path(path).name} has no node events; was profiling enabled?")
    runs = runs or sum(1 for e in events if e.get("name") == "model_run") or 1
    frame = pd.DataFrame({"op": [e["args"].get("op_name", "?") for e in nodes],
                          "ms": [e["dur"] / 1000 for e in nodes]})
    table = frame.groupby("op")["ms"].agg(total_ms="sum", calls="count")
    table["ms_per_run"] = table["total_ms"] / runs
    table["nodes"] = (table["calls"] / runs).round().astype(int)
    table["share_%"] = 100 * table["total_ms"] / table["total_ms"].sum()
    return table.sort_values("total_ms", ascending=False)[["nodes", "ms_per_run", "share_%"]]


# --------------------------------------------------------------------------- plots


def plot_latency(frame, model: str, engines: Sequence[str] = MODEL_ENGINES):
    """Median latency (ms, log scale) against input size, one panel per batch size."""
    import matplotlib.pyplot as plt

    table = latency_table(frame)
    if model not in table.index.get_level_values("model"):
        raise BenchError(f"no measurements for model {model!r}")
    table = table.xs(model, level="model")
    batches = sorted(set(table.index.get_level_values("batch")))
    fig, axes = plt.subplots(1, len(batches), figsize=(5.5 * len(batches), 3.8), squeeze=False)
    for ax, batch in zip(axes[0], batches, strict=True):
        part = table.xs(batch, level="batch").sort_index()
        for engine in [e for e in engines if e in part.columns]:
            ax.plot(part.index, part[engine], marker="o", label=ENGINE_LABELS[engine])
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(list(part.index), [str(s) for s in part.index])
        ax.set_xlabel("input size (pixels per side)")
        ax.set_ylabel("median latency (ms)")
        ax.set_title(f"{model}, batch {batch}")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_speedup(frame, baseline: str = "torch"):
    """Speedup of each ORT variant over ``baseline`` against input size, per model and batch."""
    import matplotlib.pyplot as plt

    table = speedup_table(frame, baseline)
    groups = list(dict.fromkeys((m, b) for m, b, _ in table.index))
    fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 3.6), squeeze=False,
                             sharey=True)
    for ax, (model, batch) in zip(axes[0], groups, strict=True):
        part = table.xs((model, batch), level=("model", "batch")).sort_index()
        for engine in part.columns:
            ax.plot(part.index, part[engine], marker="o", label=ENGINE_LABELS[engine])
        ax.axhline(1.0, color="black", lw=1, ls="--")
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(part.index), [str(s) for s in part.index], rotation=45)
        ax.set_xlabel("input size (pixels per side)")
        ax.set_title(f"{model}, batch {batch}", fontsize=10)
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel(f"speedup over {ENGINE_LABELS[baseline]} (×)")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_memory(frame, engines: Sequence[str] = MODEL_ENGINES):
    """Peak resident memory (MiB) of each engine's process against input size, per model."""
    import matplotlib.pyplot as plt

    table = memory_table(frame)
    groups = list(dict.fromkeys((m, b) for m, b, _ in table.index))
    fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 3.6), squeeze=False,
                             sharey=True)
    for ax, (model, batch) in zip(axes[0], groups, strict=True):
        part = table.xs((model, batch), level=("model", "batch")).sort_index()
        for engine in [e for e in engines if e in part.columns]:
            ax.plot(part.index, part[engine], marker="o", label=ENGINE_LABELS[engine])
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(part.index), [str(s) for s in part.index], rotation=45)
        ax.set_xlabel("input size (pixels per side)")
        ax.set_title(f"{model}, batch {batch}", fontsize=10)
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel("peak resident memory (MiB)")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- report


def format_table(records: Sequence[dict[str, Any]]) -> str:
    """A readable table of records for people (``--format table``)."""
    frame = results_frame(records)
    if frame.empty:
        return "(no measurements)"
    columns = [c for c in ("model", "batch", "size", "engine", "threads", "median_ms", "p10_ms",
                           "p90_ms", "runs", "cold_start_ms", "peak_rss_mb", "status", "note")
               if c in frame.columns]
    return frame[columns].round(2).astype(object).fillna("").to_string(index=False)


def summary_markdown(result: GridResult) -> str:
    """The report's text: machine, settings, wall time, findings and the headline shape."""
    from helpers.sysinfo import format_machine

    frame = result.frame()
    lines = ["# Benchmark report", "",
             f"Machine: {format_machine(result.machine)}.", "",
             f"Grid: {result.settings['grid']}; {len(result.records)} measurements "
             f"({result.reused} reused); wall time {result.wall_s / 60:.1f} min; "
             f"{result.settings['threads']} threads for every engine (torch.set_num_threads, "
             f"ORT intra_op_num_threads; inter-op 1); exporter {result.settings['exporter']}; "
             f"run policy {result.settings['policy']}; load average at the end "
             f"{result.machine.get('load_average_end')} (other programs using the CPU make "
             "timings noisy).", ""]
    weights = sorted({r.get("weights") for r in result.records if r.get("weights")})
    if weights:
        lines += [f"Weights: {', '.join(weights)} (speed does not depend on the weights' values).",
                  ""]
    try:
        top = headline(frame)
        lines += [f"resnet18, batch 1, 224×224: PyTorch {top['torch_ms']:.1f} ms, ORT "
                  f"{top['ort_ms']:.1f} ms (medians); PyTorch / ORT = {top['ratio']:.2f}×.", ""]
    except BenchError:
        pass
    if {"torch", "ort"} <= set(frame.get("engine", [])):
        lines += ["## The reference tutorial's conclusions, checked here", "",
                  markdown_table(findings_frame(findings(frame))), ""]
    errors = [r for r in result.records if r.get("status") == "error"]
    if errors:
        lines += [f"{len(errors)} cell(s) failed; see results.csv (status, note).", ""]
    return "\n".join(lines)


def markdown_table(frame) -> str:
    """A DataFrame as a Markdown table (no extra dependency)."""
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def write_report(result: GridResult, folder: str | Path) -> dict[str, Path]:
    """results.csv, results.json (with machine and settings) and summary.md in ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"csv": folder / "results.csv", "json": folder / "results.json",
             "summary": folder / "summary.md"}
    result.frame().to_csv(paths["csv"], index=False)
    paths["json"].write_text(json.dumps({"machine": result.machine, "settings": result.settings,
                                         "wall_s": result.wall_s, "reused": result.reused,
                                         "records": result.records}, indent=1, default=str),
                             encoding="utf-8")
    paths["summary"].write_text(summary_markdown(result), encoding="utf-8")
    return paths


# --------------------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m helpers.bench",
        description="Time PyTorch and ONNX Runtime on torchvision classifiers, each engine in "
                    "a fresh process, with warm-up, fixed threads and median/p10/p90.")
    parser.add_argument("--model", default="resnet18",
                        help=f"model(s), comma-separated: {', '.join(MODELS)}")
    parser.add_argument("--batch", default="1", help="batch size(s), comma-separated")
    parser.add_argument("--size", default="224", help="input size(s) in pixels per side")
    parser.add_argument("--engines", default="torch,ort",
                        help=f"comma-separated: {', '.join(ENGINES)}")
    parser.add_argument("--repeats", type=int, default=50, help="most timed runs per cell")
    parser.add_argument("--min-runs", type=int, default=None,
                        help="fewest timed runs per cell (default: min(5, repeats))")
    parser.add_argument("--max-seconds", type=float, default=10.0,
                        help="stop timing a cell after this long once --min-runs are done")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up runs (untimed)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for every engine (default: one per physical core)")
    parser.add_argument("--exporter", choices=EXPORTERS, default="legacy",
                        help="ONNX exporter for the ORT files (default legacy, as the "
                             "reference tutorial used)")
    parser.add_argument("--grid", choices=sorted(GRIDS), default=None,
                        help="run a predefined grid instead of --model/--batch/--size/--engines")
    parser.add_argument("--report", type=Path, default=None,
                        help="folder for results.csv, results.json and summary.md")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse cells already in --report measured with the same settings")
    parser.add_argument("--format", choices=("json", "table"), default="table",
                        help="json: one object per line; table: for people")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    return parser


def spec_from_args(args: argparse.Namespace) -> GridSpec:
    """The grid asked for on the command line (validated)."""
    if args.grid:
        base = GRIDS[args.grid]
        return replace(base, threads=args.threads or base.threads, exporter=args.exporter)
    models = tuple(m.strip() for m in args.model.split(","))
    for model in models:
        validate_model(model)
    min_runs = args.min_runs if args.min_runs is not None else min(5, max(args.repeats, 1))
    policy = RunPolicy(warmup=args.warmup, warmup_s=1.0, repeats=args.repeats,
                       min_runs=min_runs, max_seconds=args.max_seconds)
    return GridSpec(models=models, sizes=_positive_ints(args.size, "sizes", MIN_SIZE, MAX_SIZE),
                    batches=_positive_ints(args.batch, "batch sizes", 1, MAX_BATCH),
                    engines=tuple(parse_engines(args.engines)), policy=policy,
                    threads=args.threads, exporter=args.exporter)


def _json_line(record: dict[str, Any]) -> str:
    ordered = {k: record.get(k) for k in JSON_FIELDS}
    ordered.update({k: v for k, v in record.items() if k not in ordered})
    return json.dumps(ordered, default=str)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.worker is not None:
        record = worker(json.loads(args.worker))
        print(json.dumps(record, default=str), flush=True)
        return 0
    try:
        spec = spec_from_args(args)
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    result = run_grid(spec, args.report, progress=not args.no_progress, reuse=args.reuse)
    if args.format == "json":
        for record in result.records:
            print(_json_line(record))
    else:
        print(format_table(result.records))
        if args.report is not None:
            print(f"\nwall time {result.wall_s / 60:.1f} min; report in {relative(args.report)}/ "
                  "(results.csv, results.json, summary.md)")
    failed = [r for r in result.records if r.get("status") == "error"]
    for record in failed:
        print(f"error: {record['engine']} {record.get('model')} b{record.get('batch')} "
              f"{record.get('size')}: {record.get('note')}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
