"""Ray's processes, started and always stopped: a local Ray (``start_local_ray`` /
``stop_local_ray``), or a head and further nodes on one machine (``ray_nodes``), all on
127.0.0.1 with no dashboard and nothing from the internet; every process started is stopped,
by PID, also after an error.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # Ray sends nothing anywhere
# A raylet waits 30 s for its agents by default, which a busy 2-core machine can miss
os.environ.setdefault("RAY_agent_register_timeout_ms", "120000")

import psutil  # noqa: E402
import ray  # noqa: E402
from ray import serve  # noqa: E402
from ray._private.authentication.authentication_token_setup import (  # noqa: E402
    maybe_enable_token_auth_if_token_available,  # what `ray start --head` and ray.init() do
)

from helpers.serve.load import LOCALHOST, free_port  # noqa: E402

RAY_MARKERS = ("ray::", "raylet", "gcs_server", "/ray/", "ray start")  # Ray's own processes


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

