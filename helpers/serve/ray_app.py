"""The course model on Ray Serve: the deployment (the uvicorn app of ``helpers.serve.app``,
batched) and what Serve reports about its replicas.

    python -m helpers.serve --engine ray --course-model --replicas 2 --max-batch-size 8

``CourseClassifier`` is the deployment: each replica opens one ORT session with
``intra_op_num_threads`` set and serves ``create_app(...)``, the very app of notebook 15 (same
routes, same 4xx JSON), whose inference step goes through ``@serve.batch`` when
``max_batch_size > 1``: one ``session.run`` per batch. ``check_capacity`` is the rule
replicas × ORT threads ≤ cores. Ray itself is started and stopped by
``helpers.serve.ray_cluster``; ``python -m helpers.serve --engine ray`` runs ``main``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import ray
from fastapi.concurrency import run_in_threadpool
from ray import serve

from helpers.serve.app import Prepared, create_app, load_classifier, return_freed_memory
from helpers.serve.ray_cluster import start_local_ray, stop_local_ray  # also Ray's env defaults
from helpers.serve.ray_settings import (  # noqa: F401  (checked before Ray is imported)
    ServeSettingsError,
    check_batching,
    check_capacity,
)

for _name in ("ray.serve", "ray.data"):  # no INFO line per deployment or dataset
    logging.getLogger(_name).setLevel(logging.WARNING)

APP_NAME = "course"

@serve.deployment(ray_actor_options={"num_cpus": 1}, max_ongoing_requests=64,
                  health_check_period_s=1, health_check_timeout_s=10,
                  graceful_shutdown_timeout_s=2, graceful_shutdown_wait_loop_s=0.5)
@serve.ingress()
class CourseClassifier:
    """One replica: one ORT session behind notebook 15's FastAPI app, batched when asked."""

    def __init__(self, model: str, threads: int = 1, max_batch_size: int = 1,
                 batch_wait_timeout_s: float = 0.005) -> None:
        check_batching(max_batch_size, batch_wait_timeout_s)
        return_freed_memory()
        self.classifier = load_classifier(model, threads=threads)  # intra_op_num_threads set
        self.max_batch_size = max_batch_size
        self.batch_sizes: Counter[int] = Counter()
        self.classify_batch.set_max_batch_size(max_batch_size)
        self.classify_batch.set_batch_wait_timeout_s(batch_wait_timeout_s)

    def __serve_build_asgi_app__(self):
        """The app of ``helpers.serve.app``; with batching, inference goes through the batcher."""
        return create_app(self.classifier, infer=self.infer if self.max_batch_size > 1 else None)

    async def infer(self, prepared: Prepared, k: int) -> dict:
        return await self.classify_batch((prepared, k))

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.005)
    async def classify_batch(self, items: list[tuple[Prepared, int]]) -> list[dict]:
        self.batch_sizes[len(items)] += 1
        return await run_in_threadpool(self.classifier.classify_batch, items)  # one session.run

    async def replica_info(self, pause_s: float = 0.05) -> dict:
        """Who answers: replica id, PID and Ray node id, ORT threads, batch sizes so far."""
        await asyncio.sleep(pause_s)  # held a moment, so concurrent calls spread over replicas
        return {"replica": serve.get_replica_context().replica_id.unique_id, "pid": os.getpid(),
                "node_id": ray.get_runtime_context().get_node_id(),
                "intra_op_threads": self.classifier.session.get_session_options().intra_op_num_threads,
                "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                "batch_sizes": dict(sorted(self.batch_sizes.items()))}


def _off_the_loop(function, *args):
    """Run ``function`` in a worker thread: a handle's ``.result()`` refuses to block a thread
    where an asyncio loop runs (Jupyter's)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(function, *args).result()


def replica_info(app_name: str = APP_NAME, timeout_s: float = 30) -> dict:
    """``replica_info`` of one replica of ``app_name`` (through a deployment handle)."""
    handle = serve.get_app_handle(app_name)
    return _off_the_loop(lambda: handle.replica_info.remote().result(timeout_s=timeout_s))


def replicas(app_name: str = APP_NAME, expected: int | None = None,
             timeout_s: float = 30) -> list[dict]:
    """Every running replica of ``app_name``'s deployment (``replica_info``), asked through a
    deployment handle with concurrent calls until ``expected`` distinct replicas answered."""
    handle = serve.get_app_handle(app_name)
    expected = expected or running_replicas(app_name)
    found: dict[str, dict] = {}
    deadline = time.monotonic() + timeout_s

    def ask() -> None:
        calls = [handle.replica_info.remote() for _ in range(4 * expected)]
        for call in calls:
            with contextlib.suppress(Exception):  # a replica that just died
                info = call.result(timeout_s=timeout_s)
                found[info["replica"]] = info

    while len(found) < expected and time.monotonic() < deadline:
        _off_the_loop(ask)
    return sorted(found.values(), key=lambda info: info["replica"])


def running_replicas(app_name: str = APP_NAME) -> int:
    """How many replicas of ``app_name`` Serve reports RUNNING right now."""
    status = serve.status().applications.get(app_name)
    if status is None:
        return 0
    return sum(d.replica_states.get("RUNNING", 0) for d in status.deployments.values())


def wait_for_replicas(count: int, app_name: str = APP_NAME, timeout_s: float = 60) -> float:
    """Seconds until ``count`` replicas are RUNNING (TimeoutError past ``timeout_s``)."""
    start = time.monotonic()
    while running_replicas(app_name) != count:
        if time.monotonic() - start > timeout_s:
            raise TimeoutError(f"{app_name}: {running_replicas(app_name)} replicas running, "
                               f"expected {count} within {timeout_s:.0f} s")
        time.sleep(0.1)
    return time.monotonic() - start


def replica_recovery(count: int, app_name: str = APP_NAME, timeout_s: float = 60) -> float:
    """Call right after a replica died: seconds until Serve has noticed (fewer than ``count``
    RUNNING, looked for during 10 s) and then runs ``count`` replicas again."""
    start = time.monotonic()
    while running_replicas(app_name) >= count and time.monotonic() - start < 10:
        time.sleep(0.05)
    while running_replicas(app_name) < count:
        if time.monotonic() - start > timeout_s:
            raise TimeoutError(f"{app_name}: not back to {count} replicas within {timeout_s:.0f} s")
        time.sleep(0.05)
    return time.monotonic() - start


def delete(app_name: str, timeout_s: float = 60) -> float:
    """``serve.delete(app_name)``, then wait until its replica processes have ended and Ray
    counts their CPUs free again (a stopping replica holds its CPU until its process ends);
    other applications keep theirs. Returns the seconds it took."""
    start = time.monotonic()
    count = running_replicas(app_name)
    pids = [info["pid"] for info in replicas(app_name, expected=count)] if count else []
    free_before = ray.available_resources().get("CPU", 0)
    serve.delete(app_name)
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.TimeoutExpired):
            psutil.Process(pid).wait(timeout=max(0.1, timeout_s - (time.monotonic() - start)))
    while pids and ray.available_resources().get("CPU", 0) <= free_before:
        if time.monotonic() - start > timeout_s:
            break  # Ray's view of free CPUs lags; nothing more to wait for
        time.sleep(0.05)
    return time.monotonic() - start


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """``python -m helpers.serve --engine ray``: serve until Ctrl-C, then stop Ray (the
    settings were already checked by ``helpers.serve.app.main``, before Ray was imported)."""
    from helpers.serve.app import build_parser, course_model_onnx

    args = build_parser().parse_args(argv)
    threads = args.threads or 1
    model = course_model_onnx() if args.course_model else args.model
    started = start_local_ray(num_cpus=args.replicas * threads, port=args.port)
    try:
        app = CourseClassifier.options(num_replicas=args.replicas,
                                       ray_actor_options={"num_cpus": threads}).bind(
            str(Path(model).resolve()), threads=threads, max_batch_size=args.max_batch_size,
            batch_wait_timeout_s=args.batch_wait_ms / 1e3)
        serve.run(app, name=APP_NAME, route_prefix="/")
        print(f"Ray Serve: {Path(model).name}, {args.replicas} replica(s) x {threads} ORT "
              f"thread(s), max_batch_size={args.max_batch_size}, on {started.url}/ "
              f"(Ray started in {started.seconds:.0f} s); Ctrl-C stops it", flush=True)
        signal.signal(signal.SIGTERM, _interrupt)  # `kill PID` stops it like Ctrl-C
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(1)
    finally:
        stop_local_ray()
    return 0
