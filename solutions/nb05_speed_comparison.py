"""Notebook 05 exercise: PyTorch / ORT at batch 1, 224 px, as the median of per-round ratios."""

from __future__ import annotations

import math

import numpy as np


def exercise(frame) -> dict[str, float]:
    """Per model: median over rounds i of torch round i / ort round i (interleaved rounds)."""
    result = {}
    shape = frame[(frame.batch == 1) & (frame["size"] == 224) & (frame.status == "ok")]
    for model, part in shape.groupby("model", sort=False):
        rounds = part.set_index("engine")["round_medians_ms"]
        if {"torch", "ort"} <= set(rounds.index):
            ratios = [t / o for t, o in zip(rounds["torch"], rounds["ort"], strict=False)]
            result[str(model)] = round(float(np.median(ratios)), 2)
    return result


def is_correct(answer, expected: dict[str, float]) -> bool:
    """Same models, each ratio within 1 % (or 0.01) of the reference solution's."""
    if not isinstance(answer, dict) or set(answer) != set(expected):
        return False
    try:
        return all(math.isclose(float(answer[m]), expected[m], rel_tol=0.01, abs_tol=0.011)
                   for m in expected)
    except (TypeError, ValueError):
        return False
