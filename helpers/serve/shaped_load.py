"""Loads with a shape in time, on 127.0.0.1 only: stages of concurrency (rising and falling),
optional retries of idempotent requests, and a background run while something else happens.

``staged_load(url, body, stages)`` keeps each stage's concurrency of requests in flight for
its seconds (a closed loop, like ``hey``) and returns one row per request; ``retries=N`` sends
a request again after a failed answer (no answer, or 5xx); ``background_load(...)`` runs it in
a thread for a ``with`` block; ``sample_every(...)`` records a value (Serve's replica count)
meanwhile; ``per_second(...)`` bins the rows into a timeline (throughput, p99, failures).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from helpers.serve.load import LOCALHOST, MAX_REQUESTS, MAX_SECONDS

RETRY_STATUSES = (0, 500, 502, 503, 504)  # no answer, or the server side failed: worth a retry


def _check(url: str, stages: Sequence[tuple[int, float]]) -> None:
    if not url.startswith(f"http://{LOCALHOST}:"):
        raise ValueError(f"load only goes to http://{LOCALHOST}:PORT, got {url}")
    total = sum(seconds for _, seconds in stages)
    if not stages or total > MAX_SECONDS or any(not 1 <= c <= 64 for c, _ in stages):
        raise ValueError(f"expected stages of (1..64 requests in flight, seconds) lasting at "
                         f"most {MAX_SECONDS} s in all, got {list(stages)}")


async def _staged(url: str, body: bytes, stages: Sequence[tuple[int, float]], retries: int,
                  content_type: str, stop: threading.Event) -> list[tuple]:
    import httpx

    rows: list[tuple] = []
    start = time.perf_counter()
    top = max(c for c, _ in stages)
    limits = httpx.Limits(max_connections=top, max_keepalive_connections=top)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        async def one(stage: int) -> None:
            began, attempts, status = time.perf_counter(), 0, 0
            while attempts <= retries:
                attempts += 1
                try:
                    status = (await client.post(url, content=body,
                                                headers={"content-type": content_type})).status_code
                except httpx.HTTPError:
                    status = 0
                if status not in RETRY_STATUSES:
                    break
                if attempts <= retries:
                    await asyncio.sleep(0.05 * attempts)  # back off a little, then again
            rows.append((began - start, time.perf_counter() - began, status, attempts, stage))

        async def worker(stage: int, until: float) -> None:
            while time.perf_counter() < until and not stop.is_set() and len(rows) < MAX_REQUESTS:
                await one(stage)

        for index, (concurrency, seconds) in enumerate(stages):
            until = time.perf_counter() + seconds
            await asyncio.gather(*(worker(index, until) for _ in range(concurrency)))
    return rows


COLUMNS = ["offset_s", "latency_s", "status", "attempts", "stage"]


def staged_load(url: str, body: bytes, stages: Sequence[tuple[int, float]], *, retries: int = 0,
                content_type: str = "image/png", stop: threading.Event | None = None) -> pd.DataFrame:
    """POST ``body`` to ``url`` keeping ``concurrency`` requests in flight for ``seconds``, stage
    after stage (``stages``: ``[(concurrency, seconds), ...]``). One row per request: start
    (``offset_s``), ``latency_s`` (retries included), final ``status`` (0: no answer),
    ``attempts`` and ``stage``. A request in flight when a stage ends finishes in its stage."""
    _check(url, stages)
    if not 0 <= retries <= 10:
        raise ValueError(f"expected 0 to 10 retries, got {retries}")
    coroutine = _staged(url, body, stages, retries, content_type, stop or threading.Event())
    with ThreadPoolExecutor(1) as pool:  # its own event loop, also where one runs (Jupyter)
        rows = pool.submit(asyncio.run, coroutine).result()
    return pd.DataFrame(rows, columns=COLUMNS).sort_values("offset_s", ignore_index=True)


@dataclass
class BackgroundLoad:
    """A ``staged_load`` running in a thread: ``elapsed()`` since it began, ``rows()`` at the end."""

    future: Future
    started: float
    stop: threading.Event = field(default_factory=threading.Event)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def rows(self) -> pd.DataFrame:
        return self.future.result()


@contextlib.contextmanager
def background_load(url: str, body: bytes, stages: Sequence[tuple[int, float]], *,
                    retries: int = 0) -> Iterator[BackgroundLoad]:
    """``staged_load`` in a thread for a ``with`` block, which waits for it to finish (and
    stops it early when the block fails)."""
    stop = threading.Event()
    pool = ThreadPoolExecutor(1)
    load = BackgroundLoad(pool.submit(staged_load, url, body, stages, retries=retries, stop=stop),
                          time.perf_counter(), stop)
    try:
        yield load
    except BaseException:
        stop.set()
        raise
    finally:
        load.future.exception()  # wait; a failure is raised by rows()
        pool.shutdown()


@dataclass
class Sampler:
    """Values of a call recorded every ``every_s`` seconds by ``sample_every``."""

    rows: list[tuple[float, object]] = field(default_factory=list)

    def frame(self, name: str = "value") -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["t_s", name])


@contextlib.contextmanager
def sample_every(call: Callable[[], object], every_s: float = 0.5) -> Iterator[Sampler]:
    """Call ``call()`` every ``every_s`` seconds in a thread during a ``with`` block."""
    sampler, stop = Sampler(), threading.Event()
    start = time.perf_counter()

    def loop() -> None:
        while not stop.is_set():
            with contextlib.suppress(Exception):
                sampler.rows.append((time.perf_counter() - start, call()))
            stop.wait(every_s)

    thread = threading.Thread(target=loop, name="sampler", daemon=True)
    thread.start()
    try:
        yield sampler
    finally:
        stop.set()
        thread.join(timeout=10)


def per_second(rows: pd.DataFrame, bin_s: float = 1.0) -> pd.DataFrame:
    """A timeline from ``staged_load``'s rows: per bin of ``bin_s`` (by when a request ended),
    answered requests per second, their p99 (ms) and failed requests."""
    end = rows["offset_s"] + rows["latency_s"]
    bins = (end // bin_s).astype(int)
    out = []
    for b in range(int(bins.max()) + 1 if len(rows) else 0):
        in_bin = rows[bins == b]
        ok = in_bin[in_bin["status"] == 200]
        out.append({"t_s": (b + 0.5) * bin_s, "throughput_rps": len(ok) / bin_s,
                    "p99_ms": float(np.percentile(ok["latency_s"] * 1e3, 99)) if len(ok) else np.nan,
                    "failed": int((in_bin["status"] != 200).sum())})
    return pd.DataFrame(out)
