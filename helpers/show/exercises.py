"""Checking a learner's exercise answer in a cell (the solution lives in ``solutions/``)."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Mapping, Sequence
from typing import Any

NOT_ANSWERED = ("No answer yet: set `answer` above and run this cell again. "
                "(The reference solution ran and passed its own check; its value stays hidden.)")


class WrongAnswer(AssertionError):
    """A learner's answer that does not match; the message never contains the expected value."""


def check_exercise(answer: Any, solution: Callable[[], Any],
                   is_correct: Callable[[Any, Any], bool] | None = None) -> None:
    """Check ``answer`` against ``solution()`` without ever showing the expected value.

    ``None`` means "not attempted yet": the reference solution still runs (silently), so the
    notebook runs top to bottom and the solution itself stays tested, and the cell says only
    that the answer is missing. A wrong answer raises :class:`WrongAnswer` naming the
    learner's own value, never the expected one. Returns nothing, so a notebook cell that
    ends with this call shows no value either.
    """
    with contextlib.redirect_stdout(io.StringIO()):  # the solution's own prints stay hidden
        expected = solution()
    compare = is_correct or (lambda got, want: got == want)
    if answer is None:
        if not compare(expected, expected):
            raise AssertionError("the reference solution does not pass its own check")
        print(NOT_ANSWERED)
        return
    try:
        right = compare(answer, expected)
    except (TypeError, ValueError, AttributeError, KeyError, IndexError):
        raise WrongAnswer(f"Not quite: your answer {answer!r} is a {type(answer).__name__}, "
                          "which cannot be compared with the kind of answer asked for "
                          "(read the comment next to `answer`).") from None
    if not right:
        raise WrongAnswer(f"Not quite: your answer is {answer!r}. Have another look at the hint.")
    print("Correct.")


def report_problems(problems: Sequence[str]) -> bool:
    """Print each problem a check found as a bullet; True when there is none.

    For ``is_correct`` functions that say *what* is wrong with a learner's file, app or
    measurement (never what the right value would be).
    """
    for problem in problems:
        print("  -", problem)
    return not problems


def spread_verdict(rounds: Mapping[str, Sequence[float]]) -> str:
    """Which of two settings is faster beyond the round-to-round spread, else ``"same"``.

    ``rounds`` maps each setting's name to its round medians (ms). A setting is faster only
    when its slowest round is still faster than the other's fastest round (as
    ``helpers.bench.beyond_spread`` decides for tables).
    """
    if len(rounds) != 2:
        raise ValueError(f"expected round medians of exactly two settings, got {list(rounds)}")
    (a, times_a), (b, times_b) = rounds.items()
    if not len(times_a) or not len(times_b):
        raise ValueError("every setting needs at least one round median")
    if max(times_a) < min(times_b):
        return a
    if max(times_b) < min(times_a):
        return b
    return "same"
