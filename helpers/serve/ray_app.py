"""The course model on Ray Serve (the uvicorn app of ``helpers.serve.app``, batched), and Ray's
processes started and always stopped: a local Ray, or a head and a second node on one machine.

    python -m helpers.serve --engine ray --course-model --replicas 2 --max-batch-size 8

``CourseClassifier`` is the deployment: each replica opens one ORT session with
``intra_op_num_threads`` set and serves ``create_app(...)``, the very app of notebook 15 (same
routes, same 4xx JSON), whose inference step goes through ``@serve.batch`` when
``max_batch_size > 1``: one ``session.run`` per batch. ``check_capacity`` is the rule
replicas × ORT threads ≤ cores. ``start_local_ray`` / ``stop_local_ray`` and ``ray_nodes(...)``
start Ray on 127.0.0.1 with no dashboard and nothing from the internet, and stop every process
they started, by PID; ``python -m helpers.serve --engine ray`` runs ``main``.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # Ray sends nothing anywhere
# A raylet waits 30 s for its agents by default, which a busy 2-core machine can miss
os.environ.setdefault("RAY_agent_register_timeout_ms", "120000")

import psutil  # noqa: E402
import ray  # noqa: E402
from fastapi.concurrency import run_in_threadpool  # noqa: E402
from ray import serve  # noqa: E402
from ray._private.authentication.authentication_token_setup import (  # noqa: E402
    maybe_enable_token_auth_if_token_available,  # what `ray start --head` and ray.init() do
)

from helpers.serve.app import Prepared, create_app, load_classifier, return_freed_memory  # noqa: E402
from helpers.serve.load import LOCALHOST, free_port  # noqa: E402
from helpers.serve.ray_settings import (  # noqa: E402,F401  (checked before Ray is imported)
    ServeSettingsError,
    check_batching,
    check_capacity,
)

for _name in ("ray.serve", "ray.data"):  # no INFO line per deployment or dataset
    logging.getLogger(_name).setLevel(logging.WARNING)

APP_NAME = "course"
RAY_MARKERS = ("ray::", "raylet", "gcs_server", "/ray/", "ray start")  # Ray's own processes


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


_STATE: dict = {}


@dataclass
class RayStarted:
    """A Ray instance this process started: how long it took, its processes and memory."""

    seconds: float
    pids: list[int]
    memory_mib: float
    port: int

    @property
    def url(self) -> str:
        return f"http://{LOCALHOST}:{self.port}"


def _descendants() -> list[psutil.Process]:
    return psutil.Process().children(recursive=True)


def ray_processes(procs: list[psutil.Process] | None = None) -> list[psutil.Process]:
    """This process's descendants that belong to Ray (raylet, GCS, workers, agents)."""
    found = []
    for proc in _descendants() if procs is None else procs:
        with contextlib.suppress(psutil.Error):
            line = " ".join(proc.cmdline()) or proc.name()
            if proc.status() != psutil.STATUS_ZOMBIE and any(m in line for m in RAY_MARKERS):
                found.append(proc)
    return found


def memory_mib(procs: list[psutil.Process]) -> float:
    """Resident memory of ``procs`` together (MiB)."""
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total / 2**20


def start_local_ray(num_cpus: int, port: int | None = None) -> RayStarted:
    """``ray.init`` (a new local instance, no dashboard) and Serve's HTTP proxy on 127.0.0.1.

    Stopped by ``stop_local_ray()``, which also runs when this Python process exits.
    """
    port = port or free_port()
    start = time.perf_counter()
    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
             object_store_memory=256 * 2**20, configure_logging=False)
    serve.start(http_options={"host": LOCALHOST, "port": port})
    seconds = time.perf_counter() - start
    procs = ray_processes()
    _STATE.update(procs=procs)
    atexit.register(stop_local_ray)
    return RayStarted(seconds, [p.pid for p in procs], memory_mib(procs), port)


def stop_local_ray() -> list[int]:
    """Shut Serve and Ray down, then end any process of theirs still alive (by PID).

    Returns the PIDs that were still running afterwards (expected: none).
    """
    procs = ray_processes() + _STATE.pop("procs", [])
    with contextlib.suppress(Exception):
        if ray.is_initialized():
            serve.shutdown()
    ray.shutdown()
    return _end(procs)


def _end(procs: list[psutil.Process], grace_s: float = 10) -> list[int]:
    unique = {p.pid: p for p in procs}.values()
    _, alive = psutil.wait_procs(list(unique), timeout=grace_s)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    _, alive = psutil.wait_procs(alive, timeout=5)
    return [p.pid for p in alive]


@dataclass
class RayNodes:
    """A head node and worker nodes started by ``ray_nodes`` on this machine."""

    address: str
    processes: list[subprocess.Popen]
    cpus: list[int]
    seconds: float
    logs: list[Path] = field(default_factory=list)  # each `ray start`'s output, for the block
    restarts: int = 0  # worker nodes started a second time because the first did not come up


def _ray_command() -> str:
    return shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray"


def _tail(log: Path, lines: int = 12) -> str:
    """The last ``lines`` lines of a `ray start`'s output, indented, for an error message."""
    with contextlib.suppress(OSError):
        text = log.read_text(errors="replace").strip().splitlines()[-lines:]
        return "\n".join(f"    {line}" for line in text) or "    (no output)"
    return "    (no output)"


def _wait_for_port(port: int, head: subprocess.Popen, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if head.poll() is not None:
            raise RuntimeError(f"ray start --head exited with status {head.returncode}; its "
                               f"output ends:\n{_tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection((LOCALHOST, port), timeout=1):
            return
        time.sleep(0.1)
    raise TimeoutError(f"Ray's head node did not listen on {LOCALHOST}:{port} within "
                       f"{timeout_s:.0f} s; its output ends:\n{_tail(log)}")


def _has_raylet(proc: subprocess.Popen) -> bool:
    with contextlib.suppress(psutil.Error):
        return any("raylet" in child.name()
                   for child in psutil.Process(proc.pid).children(recursive=True))
    return False


def _nodes_without_raylet(procs: list[subprocess.Popen], timeout_s: float) -> list[int]:
    """Indices of the `ray start` processes that exited, or had no raylet within ``timeout_s``
    (``ray.init()`` looks for a local raylet); empty when every node is up."""
    deadline = time.monotonic() + timeout_s
    while True:
        exited = [i for i, proc in enumerate(procs) if proc.poll() is not None]
        if exited:
            return exited
        waiting = [i for i, proc in enumerate(procs) if not _has_raylet(proc)]
        if not waiting or time.monotonic() > deadline:
            return waiting
        time.sleep(0.1)


def _node_failure(index: int, proc: subprocess.Popen, log: Path, timeout_s: float) -> str:
    """One line on why a node did not come up, and the end of its `ray start` output."""
    node = "head node" if index == 0 else f"worker node {index}"
    why = (f"`ray start` exited with status {proc.returncode}" if proc.poll() is not None
           else f"no raylet within {timeout_s:.0f} s")
    return f"{node}: {why}; its output ends:\n{_tail(log)}"


def _stop_nodes(procs: list[subprocess.Popen]) -> None:
    """SIGTERM each `ray start --block` still running (last first: it stops its own node's
    processes), then end whatever of theirs is left, by PID."""
    procs = [proc for proc in procs if proc.poll() is None]  # an ended one's PID may be reused
    watched = []
    for proc in procs:  # every descendant of each `ray start`, before stopping it
        with contextlib.suppress(psutil.Error):
            watched += [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    for proc in reversed(procs):
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
    for proc in reversed(procs):
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    _end(watched)


def wait_for_nodes(count: int, timeout_s: float = 120) -> float:
    """Seconds until the connected cluster has ``count`` live nodes (after ``ray.init()``)."""
    start = time.monotonic()
    while sum(node["Alive"] for node in ray.nodes()) < count:
        if time.monotonic() - start > timeout_s:
            raise TimeoutError(f"fewer than {count} Ray nodes alive after {timeout_s:.0f} s")
        time.sleep(0.1)
    return time.monotonic() - start


@contextlib.contextmanager
def ray_nodes(cpus: tuple[int, ...] = (1, 1), start_timeout_s: float = 120,
              retries: int = 1) -> Iterator[RayNodes]:
    """``ray start --head`` and one ``ray start --address ...`` per further entry of ``cpus``
    (each its own ``--num-cpus``) on 127.0.0.1, for a ``with`` block; RAY_ADDRESS points at the
    head inside it (``ray.init()`` connects there; ``wait_for_nodes`` until all joined).

    Every node gets the same authentication mode (token when a token exists, the rule of
    ``ray start --head``; a worker node would otherwise be refused by the head). No log
    monitor runs (workers' output stays in the session's log files, as
    ``ray.init(log_to_driver=False)`` asks). A worker node whose raylet is not up within
    ``start_timeout_s`` (a busy machine) is stopped and started again, up to ``retries``
    times; a node that still fails raises with the end of its `ray start` output. Every node
    is stopped on leaving, also after an error: each ``ray start`` runs with ``--block`` and
    stops its own processes on SIGTERM; any left are ended by PID.
    """
    before = {name: os.environ.get(name) for name in ("RAY_ADDRESS", "RAY_AUTH_MODE")}
    # `ray start --head` turns token authentication on when a token exists (~/.ray/auth_token),
    # `ray start --address` only when RAY_AUTH_MODE says so: the same rule here, for every node
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)
    port = free_port()
    address = f"{LOCALHOST}:{port}"
    common = ["--block", "--disable-usage-stats", "--node-ip-address", LOCALHOST,
              "--object-store-memory", str(128 * 2**20), "--include-log-monitor", "false"]
    env = {**os.environ, "RAY_agent_register_timeout_ms": str(int(start_timeout_s * 1e3))}
    folder = Path(tempfile.mkdtemp(prefix="ray-nodes-"))
    started: list[subprocess.Popen] = []
    launched: list[subprocess.Popen] = []  # also the attempts that were replaced
    logs: list[Path] = []

    def launch(index: int) -> subprocess.Popen:
        role = (["--head", "--port", str(port), "--include-dashboard", "false",
                 "--ray-client-server-port", str(free_port())] if index == 0
                else ["--address", address])
        command = [_ray_command(), "start", *role, *common, "--num-cpus", str(cpus[index]),
                   "--dashboard-agent-listen-port", str(free_port()),
                   "--metrics-export-port", str(free_port())]
        logs.append(folder / f"node{index}-{len(logs)}.log")
        with logs[-1].open("wb") as out:  # `ray start`'s output, quoted when a node fails
            launched.append(subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                             env=env, start_new_session=True))
        return launched[-1]

    start, restarts = time.perf_counter(), 0
    try:
        started.append(launch(0))
        _wait_for_port(port, started[0], logs[0], start_timeout_s)
        started += [launch(index) for index in range(1, len(cpus))]
        node_logs = logs[:]
        for attempt in range(retries + 1):
            failed = _nodes_without_raylet(started, start_timeout_s)
            if not failed or 0 in failed or attempt == retries:
                break
            _stop_nodes([started[i] for i in failed])  # a worker node that did not come up
            for index in failed:
                started[index] = launch(index)
                node_logs[index] = logs[-1]
                restarts += 1
        if failed:
            error = TimeoutError if all(started[i].poll() is None for i in failed) else RuntimeError
            raise error("\n".join(_node_failure(i, started[i], node_logs[i], start_timeout_s)
                                   for i in failed))
        os.environ["RAY_ADDRESS"] = address
        yield RayNodes(address, started, list(cpus), time.perf_counter() - start, logs, restarts)
    finally:
        with contextlib.suppress(Exception):
            if ray.is_initialized():
                serve.shutdown()
        ray.shutdown()
        _stop_nodes(launched)
        shutil.rmtree(folder, ignore_errors=True)
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def connect(port: int | None = None) -> int:
    """``ray.init()`` on the cluster that RAY_ADDRESS names, and Serve's HTTP proxy on the head
    node only (two nodes on one machine cannot both bind the port); returns the port."""
    port = port or free_port()
    ray.init(log_to_driver=False, configure_logging=False)
    serve.start(http_options={"host": LOCALHOST, "port": port, "location": "HeadOnly"})
    return port


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
