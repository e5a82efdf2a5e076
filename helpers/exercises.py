"""Checking a learner's exercise answer in a cell (the solution lives in ``solutions/``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def check_exercise(answer: Any, solution: Callable[[], Any],
                   is_correct: Callable[[Any, Any], bool] | None = None) -> Any:
    """Compare ``answer`` with ``solution()``; ``None`` means "not attempted yet".

    When the learner has not answered, the reference solution is run and checked instead,
    so the notebook still runs top to bottom and the solution itself stays tested.
    Returns the accepted value.
    """
    expected = solution()
    compare = is_correct or (lambda got, want: got == want)
    if answer is None:
        print("No answer yet: showing the reference solution's result instead.")
        print(f"  solution → {expected!r}")
        assert compare(expected, expected), "the reference solution does not pass its own check"
        return expected
    if not compare(answer, expected):
        raise AssertionError(f"Not quite: your answer is {answer!r}. Have another look at the hint.")
    print(f"Correct: {answer!r}")
    return answer
