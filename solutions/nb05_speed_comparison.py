"""Notebook 05 exercise: the median speedup of ORT (fixed axes) over PyTorch, per model."""

from __future__ import annotations

import math

from helpers.bench import speedup_table


def exercise(frame) -> dict[str, float]:
    """Median over the measured shapes of PyTorch's median / ORT's median, for each model."""
    speedup = speedup_table(frame)["ort"].dropna()
    return {str(model): round(float(values.median()), 2)
            for model, values in speedup.groupby(level="model", sort=False)}


def is_correct(answer, expected: dict[str, float]) -> bool:
    """Same models, each speedup within 0.01 of the reference solution's."""
    if not isinstance(answer, dict) or set(answer) != set(expected):
        return False
    try:
        return all(math.isclose(float(answer[m]), expected[m], abs_tol=0.011) for m in expected)
    except (TypeError, ValueError):
        return False
