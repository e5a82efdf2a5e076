"""The course's built-in engines: PyTorch (eager, channels_last, torch.compile, CUDA), ONNX
Runtime (fixed or dynamic axes, with or without onnxsim), preprocessing, the reference
tutorial's loop, and two matrix-multiply kernels for the machine's ceiling.

Each load function runs inside a worker process and returns a callable that runs one
inference; they register nothing: :mod:`helpers.bench.engines_core` names them as engines.
"""

from __future__ import annotations

import contextlib
import os
import time

import numpy as np

from helpers.bench.common import Job

OPT_LEVELS = ("disable", "basic", "extended", "layout", "all")


def _torch_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):  # allowed once per process, before parallel work
        torch.set_num_interop_threads(1)


def load_torch(job: Job):
    """torchvision model from the store's state dict; eager, or channels_last / compiled."""
    import torch
    from torchvision.models import get_model

    _torch_threads(job.threads)
    device = torch.device(job.options.get("device", "cpu"))
    model = get_model(job.model, weights=None)
    model.load_state_dict(torch.load(job.files["weights"], map_location="cpu", weights_only=True))
    model = model.eval().to(device)
    x = torch.from_numpy(job.input()).to(device)
    if job.options.get("channels_last"):
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if job.options.get("compile"):
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True  # weights folded as constants: the CPU inference setting
        # dynamic=False: a static graph per shape. Left to its default, a worker kept across
        # sizes would switch to one dynamic-shape graph after the second size ("0 s" compiles)
        model = torch.compile(model, mode=job.options.get("compile_mode"), dynamic=False)
        t0 = time.perf_counter()
        with torch.inference_mode():
            model(x)  # compiles for this shape
        job.info["compile_s"] = round(time.perf_counter() - t0, 2)
    job.info["torch_threads"] = torch.get_num_threads()
    if device.type == "cuda":
        job.info["device"] = torch.cuda.get_device_name(0)

    def run() -> object:
        with torch.inference_mode():
            out = model(x)
        sync()
        return out

    return run


def cuda_missing() -> str | None:
    import torch

    return None if torch.cuda.is_available() else "no CUDA device on this machine"


def ort_session_options(job: Job):
    """SessionOptions from the job.

    A notebook's own ``SessionOptions`` arrive as ``job.options["session_options"]`` (see
    :mod:`helpers.bench.session_settings`) and are rebuilt as they were; otherwise the grid's
    keys: threads, optimisation level, spinning, arena, memory pattern, profiling.
    """
    import onnxruntime as ort

    from helpers.runtime.sessions import session_options

    if job.options.get("session_options") is not None:
        from helpers.bench.session_settings import build_options

        return build_options(job.options["session_options"])

    levels = dict(zip(OPT_LEVELS, (ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
                                   ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                                   ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                                   ort.GraphOptimizationLevel.ORT_ENABLE_LAYOUT,
                                   ort.GraphOptimizationLevel.ORT_ENABLE_ALL), strict=True))
    opts = job.options
    options = session_options(threads=job.threads, inter_op_threads=1,
                              optimization=levels[opts.get("optimization", "all")],
                              optimized_model_path=opts.get("optimized_model_path"),
                              profile=bool(opts.get("profile_prefix")))
    if opts.get("profile_prefix"):
        options.profile_file_prefix = opts["profile_prefix"]
    if opts.get("spinning") is not None:
        options.add_session_config_entry("session.intra_op.allow_spinning",
                                         "1" if opts["spinning"] else "0")
    if opts.get("arena") is not None:
        options.enable_cpu_mem_arena = bool(opts["arena"])
    if opts.get("mem_pattern") is not None:
        options.enable_mem_pattern = bool(opts["mem_pattern"])
    return options


def load_ort(job: Job):
    """An ORT session on the CPU provider (or ``providers`` from the options)."""
    import onnxruntime as ort

    from helpers.runtime.sessions import validate_inputs

    options = ort_session_options(job)
    session = ort.InferenceSession(job.files["onnx"], sess_options=options,
                                   providers=list(job.options.get("providers",
                                                                  ["CPUExecutionProvider"])))
    feeds = validate_inputs(session, job.input())  # once, outside the timed region
    job.info["optimization"] = (options.graph_optimization_level.name
                                if job.options.get("session_options") is not None
                                else job.options.get("optimization", "all"))
    job.info["intra_op_threads"] = options.intra_op_num_threads
    if options.enable_profiling:
        job.finishers.append(lambda: {"profile_file": session.end_profiling()})
    return lambda: session.run(None, feeds)


def load_preprocess(job: Job):
    """Decode, resize, centre-crop and normalise a batch of the sample photos; no model."""
    from helpers.data.datasets import sample_image_paths
    from helpers.data.images import load_image, preprocess_imagenet

    paths = sample_image_paths()
    chosen = [paths[i % len(paths)] for i in range(job.batch)]
    return lambda: np.concatenate([preprocess_imagenet(load_image(p), job.size, job.size)
                                   for p in chosen])


def load_reference_loop(job: Job):
    """One iteration of the loop the reference tutorial timed, around an ORT run."""
    import onnxruntime as ort

    from helpers.data.images import load_image, preprocess_imagenet
    from helpers.data.labels import imagenet_categories, softmax, top_k
    from helpers.paths import IMAGES_DIR

    session = ort.InferenceSession(job.files["onnx"], sess_options=ort_session_options(job),
                                   providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name

    def iteration() -> object:
        names = sorted(p for p in os.listdir(IMAGES_DIR)  # list the folder every time
                       if p.lower().endswith((".png", ".jpg", ".jpeg")))
        x = np.concatenate([preprocess_imagenet(load_image(IMAGES_DIR / names[i % len(names)]),
                                                job.size, job.size) for i in range(job.batch)])
        classes = imagenet_categories()  # the class table, read from disk every time
        logits = session.run(None, {input_name: x})[0]
        return [top_k(softmax(row), classes, 3) for row in logits]

    return iteration


def load_torch_matmul(job: Job):
    """torch.mm of two float32 ``size x size`` matrices (2·n³ FLOP per run)."""
    import torch

    _torch_threads(job.threads)
    a, b = torch.randn(job.size, job.size), torch.randn(job.size, job.size)
    job.info["flop"] = 2.0 * job.size**3
    return lambda: torch.mm(a, b)


def load_ort_matmul(job: Job):
    """ORT's own MatMul kernel on two float32 ``size x size`` matrices (an in-memory graph)."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    n = job.size
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])], "matmul",
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [n, n]) for x in ("a", "b")],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    session = ort.InferenceSession(model.SerializeToString(), sess_options=ort_session_options(job),
                                   providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {x: rng.standard_normal((n, n), dtype=np.float32) for x in ("a", "b")}
    job.info["flop"] = 2.0 * n**3
    return lambda: session.run(None, feeds)
