"""The settings a Ray Serve deployment of the course model must satisfy, checked without Ray
(so ``python -m helpers.serve --engine ray`` refuses bad ones before the slow import)."""

from __future__ import annotations

import os
import sys


class ServeSettingsError(ValueError):
    """Replicas, threads or batching settings that cannot work; the message is one line."""


def check_capacity(replicas: int, threads: int, cores: int | None = None) -> int:
    """replicas × ORT intra-op threads, checked against ``cores`` (default: this machine's).

    Ray reserves ``num_cpus`` per replica and sets OMP_NUM_THREADS, but ORT's own thread pool
    ignores both: only ``intra_op_num_threads`` on the session bounds it.
    """
    cores = cores or os.cpu_count() or 1
    if replicas < 1 or threads < 1:
        raise ServeSettingsError(f"expected replicas >= 1 and threads >= 1, got replicas="
                                 f"{replicas}, threads={threads}")
    if replicas * threads > cores:
        raise ServeSettingsError(f"{replicas} replicas x {threads} ORT threads = "
                                 f"{replicas * threads} threads on {cores} cores; expected "
                                 "replicas x threads <= cores (use fewer replicas or threads)")
    return replicas * threads


def check_batching(max_batch_size: int, batch_wait_timeout_s: float) -> None:
    """``max_batch_size`` an integer >= 1 (1: no batching) and a wait of 0 to 1 s."""
    if isinstance(max_batch_size, bool) or not isinstance(max_batch_size, int) or max_batch_size < 1:
        raise ServeSettingsError(f"max_batch_size must be an integer >= 1 (1 turns batching off), "
                                 f"got {max_batch_size!r}")
    if not 0 <= batch_wait_timeout_s <= 1:
        raise ServeSettingsError(f"batch_wait_timeout_s must be between 0 and 1 s, got "
                                 f"{batch_wait_timeout_s!r}")


def refuse_settings(replicas: int, threads: int, max_batch_size: int, batch_wait_ms: float) -> bool:
    """Print ``error: ...`` (one line) and return True when the settings cannot work."""
    try:
        check_capacity(replicas, threads)
        check_batching(max_batch_size, batch_wait_ms / 1e3)
    except ServeSettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return True
    return False
