"""Notebook 17's exercise: replicas x threads and a batch size for a latency budget, by measuring."""

from __future__ import annotations

import os
import statistics
import time

import numpy as np

BUDGET_MS = 30.0  # what one batched request may take: waiting for its batch, then running with it
WAIT_MS = 5.0  # batch_wait_timeout_s of the deployment, in ms
BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64)


def batch_ms(session, size: int, repeats: int = 5) -> float:
    """Median milliseconds of one ``session.run`` on a batch of ``size`` course-model inputs."""
    feed = {session.get_inputs()[0].name: np.zeros((size, 3, 64, 64), np.float32)}
    session.run(None, feed)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        session.run(None, feed)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def measure(model) -> dict[int, dict[int, float]]:
    """ms per batch for every thread count that divides the cores, and every batch size up to
    the first past the budget."""
    from helpers.runtime.sessions import create_session

    cores = os.cpu_count() or 1
    out = {}
    for threads in (t for t in range(1, cores + 1) if cores % t == 0):
        session = create_session(model, threads=threads)
        out[threads] = {}
        for size in BATCH_SIZES:  # a larger batch only takes longer: stop past the budget
            out[threads][size] = batch_ms(session, size)
            if WAIT_MS + out[threads][size] > BUDGET_MS * 1.2:
                break
    return out


def exercise() -> dict:
    """Every core used (replicas x threads = cores), one thread per replica, and the largest
    batch whose wait plus run fits the budget."""
    from helpers.serve.app import course_model_onnx

    times = measure(course_model_onnx())  # the course model, exported once under artifacts/
    cores, threads = os.cpu_count() or 1, 1
    fits = [size for size, ms in times[threads].items() if WAIT_MS + ms <= BUDGET_MS]
    return {"replicas": cores // threads, "threads": threads,
            "max_batch_size": max(fits, default=1), "measured": times}


def is_correct(answer: dict, expected: dict) -> bool:
    """Right when replicas x threads = cores and the batch size is the largest that fits the
    budget at that thread count (15 % either side of the budget counts as a tie)."""
    times, cores = expected["measured"], os.cpu_count() or 1
    replicas, threads, size = answer["replicas"], answer["threads"], answer["max_batch_size"]
    if replicas * threads != cores or threads not in times or size not in times[threads]:
        return False  # a size not measured is past the budget
    fits = WAIT_MS + times[threads][size] <= BUDGET_MS * 1.15
    bigger = [s for s in BATCH_SIZES if s > size]
    next_too_slow = (not bigger or bigger[0] not in times[threads]
                     or WAIT_MS + times[threads][bigger[0]] > BUDGET_MS * 0.85)
    return fits and next_too_slow
