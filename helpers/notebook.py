"""What every notebook does first: seeds, quick mode, its working folder and a versions line."""

from __future__ import annotations

import importlib.util
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from helpers.paths import artifacts_dir

T = TypeVar("T")


def quick_mode() -> bool:
    """True when ``COURSE_QUICK=1``: loops, grids and epochs shrink; code paths stay the same."""
    return os.environ.get("COURSE_QUICK") == "1"


@dataclass(frozen=True)
class Course:
    """A notebook's set-up: its name, seed, quick mode and working folder."""

    name: str
    seed: int
    quick: bool
    work: Path
    skipped: list[str] = field(default_factory=list)  # sections skipped for a missing tool
    not_held: list[str] = field(default_factory=list)  # expectations this machine did not meet

    def sizes(self, *, quick: T, full: T) -> T:
        """``quick`` under ``COURSE_QUICK=1`` (tests, live demos), else ``full``."""
        return quick if self.quick else full

    def expect(self, claim: str, held: bool, measured: str) -> bool:
        """Print a finding that depends on the machine (timings, CPU features) instead of asserting it.

        ``claim``: what the text expects and why; ``measured``: the numbers. A claim that did not
        hold is printed with the CPU named and listed again by :meth:`summary`; it never fails
        the notebook (an ``assert`` is kept for what holds on every machine).
        """
        if held:
            print(f"✔ held: {claim} (measured: {measured})")
        else:
            from helpers.machine import short_machine

            print(f"✘ not held on {short_machine()}: {claim} (measured: {measured})")
            self.not_held.append(claim)
        return bool(held)

    def share(self, key: str, value: T) -> T:
        """Record a figure that another notebook also states, for the course-wide check that
        runs after ``make course`` (``scripts/check_course.py``); return ``value`` unchanged."""
        import json

        path = self.work.parent / "facts" / f"{self.name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        facts = json.loads(path.read_text()) if path.exists() else {}
        facts[key] = {"value": value, "quick": self.quick}
        path.write_text(json.dumps(facts, indent=1, sort_keys=True) + "\n")
        return value

    def summary(self) -> str:
        """One line for the end of the notebook: every section ran, or which were skipped, and
        which expectations this machine did not meet."""
        parts = []
        if self.skipped:
            parts.append(f"{len(self.skipped)} cell(s) skipped for missing tools: "
                         + "; ".join(self.skipped))
        if self.not_held:
            parts.append(f"{len(self.not_held)} expectation(s) not held on this machine: "
                         + "; ".join(self.not_held))
        return " | ".join(parts) or "every section ran on this machine and every expectation held"


TOOL_NAMES = ("chromium", "chromedriver", "hey", "dot", "npm", "web")


def missing_tools(tools: list[str]) -> list[tuple[str, str]]:
    """``(tool, how to install it here)`` for each of ``tools`` this machine lacks.

    Tools: ``chromium`` (any Chromium-type browser), ``chromedriver``, ``hey``, ``dot``,
    ``npm``, and ``web`` (the page's npm packages in web/node_modules).
    """
    from helpers.doctor import TOOLS, find_tool, install_system, missing_npm_packages

    unknown = [tool for tool in tools if tool not in TOOL_NAMES]
    if unknown:
        raise ValueError(f"unknown tool(s) {unknown}; expected some of {', '.join(TOOL_NAMES)}")
    missing = []
    for tool in tools:
        if tool == "web":
            if missing_npm_packages():
                missing.append((tool, "npm ci --prefix web"))
        elif not find_tool(tool):
            missing.append((tool, TOOLS[tool].install[install_system()]))
    return missing


def register_needs_magic(course: Course) -> None:
    """``%%needs chromium chromedriver`` as a cell's first line: the cell runs when the tools are
    on this machine; else it prints one line (what is missing, how to install it) and records
    the skip in ``course.skipped``, so the rest of the notebook still runs."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return

    def needs(line: str, cell: str) -> None:
        missing = missing_tools(line.split())
        if missing:
            what = ", ".join(tool for tool, _ in missing)
            first = next((ln for ln in cell.splitlines() if ln.strip()), "").strip()[:60]
            course.skipped.append(f"{first!r} (needs {what})")
            print(f"skipped, needs {what}: " + "; ".join(how for _, how in missing))
            return
        result = shell.run_cell(cell)
        result.raise_error()

    shell.register_magic_function(needs, magic_kind="cell", magic_name="needs")


def seed_everything(seed: int) -> None:
    """Seed Python's and NumPy's generators, and PyTorch's when it is installed."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    if importlib.util.find_spec("torch") is not None:
        import torch

        torch.manual_seed(seed)


def start(name: str, seed: int = 0, show: bool = True) -> Course:
    """Seed everything, read quick mode, create ``artifacts/<name>/`` and print the versions line.

    ``name`` is the notebook's short name (``"nb05"``); generated files go to its folder,
    which git ignores.
    """
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"expected a short folder name such as 'nb05', got {name!r}")
    seed_everything(seed)
    if os.environ.get("COURSE_PROJECTOR") == "1":  # large text and lines for a projector
        from helpers.show.style import use_style

        use_style("projector")
    course = Course(name=name, seed=seed, quick=quick_mode(), work=artifacts_dir(name))
    register_needs_magic(course)
    if show:
        from helpers import versions_line

        mode = "quick mode (COURSE_QUICK=1)" if course.quick else "full mode"
        print(f"{versions_line()} | {mode}")
    return course
