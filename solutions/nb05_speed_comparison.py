"""Notebook 05 exercise: does ORT's graph optimiser pay off for mobilenet_v3_small, timed by hand?"""

from __future__ import annotations

import math
import random
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from helpers.show.exercises import report_problems, spread_verdict

SETTINGS = {"disable_all": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "enable_all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
MIN_ROUNDS = 3
PLAUSIBLE = 10.0  # a learner's median may differ this much from the reference's (units, model)


def exercise(path: str | Path, threads: int, runs_per_round: int, rounds: int = MIN_ROUNDS,
             seed: int = 0) -> dict:
    """Round medians (ms) of both levels in interleaved rounds, and the decision they allow."""
    sessions = {}
    for name, level in SETTINGS.items():
        so = ort.SessionOptions()
        so.graph_optimization_level = level
        so.intra_op_num_threads = threads
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        sessions[name] = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(seed).standard_normal((1, 3, 224, 224), dtype=np.float32)
    feeds = {name: {s.get_inputs()[0].name: x} for name, s in sessions.items()}
    rng = random.Random(seed)
    medians: dict[str, list[float]] = {name: [] for name in sessions}
    for _ in range(rounds):
        order = list(sessions)
        rng.shuffle(order)  # a fresh order every round
        for name in order:
            for _ in range(2):
                sessions[name].run(None, feeds[name])  # untimed: the cold run and the next
            laps = []
            for _ in range(runs_per_round):
                t0 = time.perf_counter()
                sessions[name].run(None, feeds[name])
                laps.append((time.perf_counter() - t0) * 1000)
            medians[name].append(float(np.median(laps)))
    return {"rounds": medians, "faster": spread_verdict(medians)}


def problems(answer, reference: dict) -> list[str]:
    """What is wrong with an answer; ``reference`` is a measurement of the same two sessions."""
    if not isinstance(answer, dict) or set(answer) != {"rounds", "faster"}:
        return ['the answer is a dict with the keys "rounds" and "faster"']
    rounds = answer["rounds"]
    if not isinstance(rounds, dict) or set(rounds) != set(SETTINGS):
        return [f'"rounds" is a dict with the keys {sorted(SETTINGS)}']
    try:
        rounds = {name: [float(t) for t in rounds[name]] for name in SETTINGS}
    except (TypeError, ValueError):
        return ['each entry of "rounds" is a list of round medians in milliseconds']
    found = []
    lengths = {len(times) for times in rounds.values()}
    if min(lengths) < MIN_ROUNDS or len(lengths) != 1:
        found.append(f"each setting needs the same number of rounds, at least {MIN_ROUNDS}")
    if not all(math.isfinite(t) and t > 0 for times in rounds.values() for t in times):
        found.append("round medians are positive numbers of milliseconds")
    if found:
        return found
    for name in SETTINGS:
        ratio = float(np.median(rounds[name]) / np.median(reference["rounds"][name]))
        if not 1 / PLAUSIBLE < ratio < PLAUSIBLE:
            found.append(f"your round medians of {name!r} are far from a measurement of that "
                         "session taken just now: milliseconds of mobilenet_v3_small at batch 1?")
    if answer["faster"] not in (*SETTINGS, "same"):
        found.append(f'"faster" is one of {[*SETTINGS, "same"]}')
    elif answer["faster"] != spread_verdict(rounds):
        found.append('"faster" does not follow from your own rounds: compare the slowest round '
                     "of one setting with the fastest round of the other")
    return found


def is_correct(answer, reference: dict) -> bool:
    """The check for the notebook: prints what is wrong, if anything."""
    return report_problems(problems(answer, reference))
