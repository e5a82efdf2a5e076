"""Run the HTTP service (a background process or a thread) and load it, on 127.0.0.1 only.

``running_server(...)`` starts ``python -m helpers.serve`` on a free port and always stops it;
``serve_in_thread(server)`` runs a ``uvicorn.Server`` in a thread of this process and stops it;
``hey_load(...)`` drives the ``hey`` load generator and returns per-request rows;
``python_load(...)`` returns the same rows from the course's own bounded asyncio + httpx client,
and ``post_load(...)`` takes ``hey`` when it is on PATH, else that client (``load_generator()``
says which); ``load_curve``, ``in_process_vs_http`` and ``interleaved_loads`` are the
measurements of notebook 15 (bounded runs); ``time_alternating`` times two calls in turns;
``burst(...)`` is a small asyncio + httpx client for tests where ``hey`` may be missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import io
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.paths import REPO_ROOT

LOCALHOST = "127.0.0.1"
HEY = "hey"
MAX_REQUESTS = 5000  # every load here is bounded in requests ...
MAX_SECONDS = 120  # ... and in seconds


class ServerStartError(RuntimeError):
    """The service exited or did not answer /health in time; carries its last output lines."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    """A service started by ``running_server``: its URL and process."""

    url: str
    process: subprocess.Popen
    log: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _wait_healthy(url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            lines = log.read_text(errors="replace").strip().splitlines()
            raise ServerStartError(f"the service exited with status {process.returncode}: "
                                   + (lines[-1] if lines else "(no output)"))
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise ServerStartError(f"the service did not answer {url}/health within {timeout:.0f} s")


def _stop_with_parent() -> None:
    """Run in the child before exec: Linux sends it SIGTERM when its parent exits (even on a crash)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@contextlib.contextmanager
def running_server(model: str | Path, *, threads: int | None = None, workers: int = 1,
                   port: int | None = None, start_timeout: float = 60) -> Iterator[RunningServer]:
    """Start ``python -m helpers.serve`` on 127.0.0.1 and stop it on exit, even after an error.

    The server also stops if this Python process dies without closing the context.
    """
    port = port or free_port()
    command = [sys.executable, "-m", "helpers.serve.app", "--model", str(model), "--host", LOCALHOST,
               "--port", str(port), "--workers", str(workers)]
    if threads is not None:
        command += ["--threads", str(threads)]
    url = f"http://{LOCALHOST}:{port}"
    with tempfile.NamedTemporaryFile(prefix="serve_", suffix=".log") as log_file:
        log = Path(log_file.name)
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log_file,
                                   stderr=subprocess.STDOUT, start_new_session=True,
                                   preexec_fn=_stop_with_parent)
        try:
            _wait_healthy(url, process, log, start_timeout)
            yield RunningServer(url, process, log)
        finally:
            if process.poll() is None:
                process.terminate()  # uvicorn shuts down gracefully on SIGTERM (workers too)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@dataclass
class ThreadServer:
    """A ``uvicorn.Server`` started by ``serve_in_thread``: its URL and thread."""

    url: str
    thread: threading.Thread

    def alive(self) -> bool:
        return self.thread.is_alive()


@contextlib.contextmanager
def serve_in_thread(server, start_timeout: float = 30) -> Iterator[ThreadServer]:
    """Run ``server.run()`` (a ``uvicorn.Server``) in a thread until the block ends.

    Waits for ``server.started``; on leaving, even after an error, sets ``server.should_exit``
    (uvicorn's own way to stop) and joins the thread. Only for 127.0.0.1.
    """
    config = server.config
    if config.host != LOCALHOST:
        raise ValueError(f"serve_in_thread only binds {LOCALHOST}, got host {config.host!r}")
    thread = threading.Thread(target=server.run, name=f"uvicorn:{config.port}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + start_timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise ServerStartError(f"uvicorn did not start on {LOCALHOST}:{config.port} "
                                       f"within {start_timeout:.0f} s (is the port taken?)")
            time.sleep(0.02)
        yield ThreadServer(f"http://{LOCALHOST}:{config.port}", thread)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def hey_available() -> bool:
    return shutil.which(HEY) is not None


def hey_load(url: str, body: Path, *, requests: int, concurrency: int,
             content_type: str = "image/png", timeout_s: float = MAX_SECONDS) -> pd.DataFrame:
    """POST ``body`` ``requests`` times with ``concurrency`` workers using ``hey``.

    Returns one row per request: ``latency_s``, ``status`` (0 when no response), ``offset_s``
    (start time from the beginning of the run).
    """
    _check_load(url, requests, concurrency)
    if not hey_available():
        raise FileNotFoundError("the load generator 'hey' is not installed (apt-get install hey)")
    command = [HEY, "-n", str(requests), "-c", str(concurrency), "-m", "POST", "-T", content_type,
               "-D", str(body), "-t", "30", "-o", "csv", url]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    if result.returncode != 0:
        raise RuntimeError(f"hey failed ({result.returncode}): {result.stderr.strip()[-300:]}")
    rows = pd.read_csv(io.StringIO(result.stdout))
    return pd.DataFrame({"latency_s": rows["response-time"].astype(float),
                         "status": rows["status-code"].fillna(0).astype(int),
                         "offset_s": rows["offset"].astype(float)})


def _check_load(url: str, requests: int, concurrency: int) -> None:
    if not url.startswith(f"http://{LOCALHOST}:"):
        raise ValueError(f"load only goes to http://{LOCALHOST}:PORT, got {url}")
    if not 1 <= concurrency <= requests <= MAX_REQUESTS:
        raise ValueError(f"expected 1 <= concurrency <= requests <= {MAX_REQUESTS}, "
                         f"got concurrency {concurrency}, requests {requests}")


async def _timed_posts(url: str, body: bytes, requests: int, concurrency: int,
                       content_type: str) -> list[tuple[float, int, float]]:
    import httpx

    rows: list[tuple[float, int, float]] = []
    queue = iter(range(requests))
    start = time.perf_counter()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        async def worker() -> None:
            for _ in queue:
                began = time.perf_counter()
                try:
                    response = await client.post(url, content=body,
                                                 headers={"content-type": content_type})
                    status = response.status_code
                except httpx.HTTPError:
                    status = 0
                rows.append((time.perf_counter() - began, status, began - start))

        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(concurrency))),
                               timeout=MAX_SECONDS)
    return rows


def python_load(url: str, body: Path, *, requests: int, concurrency: int,
                content_type: str = "image/png") -> pd.DataFrame:
    """The rows of :func:`hey_load` from the course's own client (asyncio + httpx, keep-alive),
    for machines without ``hey``. It runs in this Python process, so it costs more CPU per
    request than ``hey``: its latencies are not comparable with ``hey``'s."""
    _check_load(url, requests, concurrency)
    coroutine = _timed_posts(url, Path(body).read_bytes(), requests, concurrency, content_type)
    with ThreadPoolExecutor(1) as pool:  # its own event loop, also where one runs (Jupyter)
        rows = pool.submit(asyncio.run, coroutine).result()
    return pd.DataFrame(rows, columns=["latency_s", "status", "offset_s"])


def load_generator() -> str:
    """``"hey"`` when it is on PATH, else ``"python"`` (the course's asyncio client)."""
    return "hey" if hey_available() else "python"


def post_load(url: str, body: Path, *, requests: int, concurrency: int,
              content_type: str = "image/png") -> pd.DataFrame:
    """Per-request rows from ``hey`` when it is installed, else from :func:`python_load`."""
    if hey_available():
        return hey_load(url, body, requests=requests, concurrency=concurrency,
                        content_type=content_type)
    return python_load(url, body, requests=requests, concurrency=concurrency,
                       content_type=content_type)


def summarize_load(rows: pd.DataFrame, concurrency: int) -> dict:
    """Throughput (req/s over the run), latency percentiles (ms) and error count for one run."""
    ok = rows[rows["status"] == 200]
    span = float((rows["offset_s"] + rows["latency_s"]).max() - rows["offset_s"].min())
    latency_ms = ok["latency_s"].to_numpy() * 1e3
    pct = np.percentile(latency_ms, [50, 95, 99]) if len(latency_ms) else [np.nan] * 3
    return {"concurrency": concurrency, "requests": len(rows), "errors": int(len(rows) - len(ok)),
            "throughput_rps": len(ok) / span if span > 0 else np.nan,
            "p50_ms": pct[0], "p95_ms": pct[1], "p99_ms": pct[2]}


def time_alternating(calls: dict[str, Callable[[], object]], pairs: int,
                     warmup: int = 5) -> pd.DataFrame:
    """Milliseconds of each call, the calls taking turns ``pairs`` times after ``warmup`` turns.

    Taking turns puts a busy neighbour on every call alike. One column per call.
    """
    for _ in range(warmup):
        for call in calls.values():
            call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(pairs):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append((time.perf_counter() - start) * 1e3)
    return pd.DataFrame(times)


def try_requests(client, path: str, requests: dict[str, dict], width: int = 90) -> pd.DataFrame:
    """POST each of ``requests`` (name -> ``client.post`` keyword arguments) to ``path``.

    One row per request: the status, the start of the JSON ``error`` and the status of a
    ``GET /health`` sent right after it (does the service keep serving?).
    """
    rows = []
    for name, kwargs in requests.items():
        response = client.post(path, **kwargs)
        error = response.json().get("error", "") if response.content else ""
        rows.append({"request": name, "status": response.status_code,
                     f"error (first {width} characters)": str(error)[:width],
                     "health after": client.get("/health").status_code})
    return pd.DataFrame(rows).set_index("request")


def load_curve(url: str, body: Path, levels: Sequence[int], *, per_worker: int,
               min_requests: int = 30, warmup: int = 20) -> pd.DataFrame:
    """One ``hey`` run per concurrency level (``per_worker`` requests per worker): a summary
    row per level (``summarize_load``) plus the mean latency of the answered requests."""
    from helpers import progress_bar

    post_load(url, body, requests=warmup, concurrency=min(4, warmup))
    rows = []
    for level in progress_bar(list(levels), desc="load levels"):
        runs = post_load(url, body, requests=max(min_requests, per_worker * level),
                        concurrency=level)
        summary = summarize_load(runs, level)
        summary["mean_ms"] = runs.loc[runs["status"] == 200, "latency_s"].mean() * 1e3
        rows.append(summary)
    return pd.DataFrame(rows).set_index("concurrency")


def in_process_vs_http(call: Callable[[], object], url: str, body: Path, *, requests: int,
                       rounds: int, concurrency: int = 8) -> pd.DataFrame:
    """Requests per second of ``call`` run by ``concurrency`` threads in this process, and of
    ``hey`` at the same concurrency against ``url``, in turns: one row per round."""
    post_load(url, body, requests=max(concurrency, 20), concurrency=concurrency)  # warm-up
    rows = []
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(lambda _: call(), range(concurrency)))  # warm-up
        for _ in range(rounds):
            start = time.perf_counter()
            list(pool.map(lambda _: call(), range(requests)))
            local_rps = requests / (time.perf_counter() - start)
            remote = summarize_load(post_load(url, body, requests=requests,
                                             concurrency=concurrency), concurrency)
            rows.append({f"in process, {concurrency} threads (req/s)": local_rps,
                         f"HTTP, concurrency {concurrency} (req/s)": remote["throughput_rps"]})
    return pd.DataFrame(rows)


def interleaved_loads(urls: dict[str, str], body: Path, *, requests: dict[int, int],
                      rounds: int) -> pd.DataFrame:
    """``hey`` on every service at every concurrency (``requests``: level -> requests), round
    after round, so a busy neighbour hits all alike: one summary row per run (after one
    untimed warm-up run per service)."""
    from helpers import progress_bar

    for url in urls.values():  # warm-up: first runs allocate
        post_load(url, body, requests=20, concurrency=4)
    rows = []
    with progress_bar(total=rounds * len(urls) * len(requests), desc="rounds") as bar:
        for round_ in range(rounds):
            for name, url in urls.items():
                for level, count in requests.items():
                    summary = summarize_load(post_load(url, body, requests=count,
                                                      concurrency=level), level)
                    rows.append({"variant": name, "round": round_, **summary})
                    bar.update(1)
    return pd.DataFrame(rows)


def burst(url: str, body: bytes, *, requests: int = 200, concurrency: int = 8,
          content_type: str = "image/png") -> list[int]:
    """Send ``requests`` POSTs to ``url``/classify, ``concurrency`` at a time; their status codes."""
    if not url.startswith(f"http://{LOCALHOST}:") or not 1 <= concurrency <= requests <= MAX_REQUESTS:
        raise ValueError(f"bounded local loads only: got {url}, {requests} requests, "
                         f"concurrency {concurrency}")
    coroutine = _timed_posts(f"{url}/classify", body, requests, concurrency, content_type)
    with ThreadPoolExecutor(1) as pool:  # its own event loop, also where one runs (Jupyter)
        return [status for _, status, _ in pool.submit(asyncio.run, coroutine).result()]
