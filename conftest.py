"""pytest set-up shared by unit tests and notebook runs (nbval).

Notebooks run in their own kernels, which inherit this process's environment: they draw
with the inline backend (every ``plt.show()`` becomes an image output), while the unit
tests in this process draw off-screen with Agg. After the last cell of every notebook
that draws, one more test item checks that its figures really appeared.
"""

from __future__ import annotations

import os
import re

import matplotlib
import pytest

# Tests run the course in quick mode; notebook kernels inherit this environment.
os.environ.setdefault("COURSE_QUICK", "1")
os.environ.setdefault("COURSE_TEXT_PROGRESS", "1")  # text bars in executed notebooks
# Two test workers share the cores (make test): OpenMP threads that wait by spinning would
# steal them from the other worker's process, so they sleep while waiting instead.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
matplotlib.use("Agg")  # this process: off-screen
os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"  # kernels: inline

# A figure is asked for by a plt.show() or display(Image(...)) at the start of a line;
# an indented one may sit in a branch that does not run here, so it is not required.
SHOWS_FIGURE = re.compile(r"^(plt\.show\(|display\(Image)", re.M)
FIGURE_KINDS = ("image/png", "image/svg+xml")
FIGURES_PER_NOTEBOOK: dict[str, int] = {}  # filled as notebooks run, printed at the end
SECONDS_PER_FILE: dict[str, float] = {}  # wall time per test file or notebook, printed at the end


def _figures(outputs) -> int:
    return sum(any(kind in (out.get("data") or {}) for kind in FIGURE_KINDS)
               for out in outputs or [])


def _skipped(outputs) -> bool:
    """A ``%%needs`` cell that skipped itself for a missing tool (it says so in one line)."""
    return any("skipped, needs " in (out.get("text") or "") for out in outputs or [])


class FiguresShown(pytest.Item):
    """Fails when a notebook cell that shows a figure left no image output in the run."""

    def __init__(self, *, cells, **kwargs) -> None:
        super().__init__(**kwargs)
        self.cells = cells

    def runtest(self) -> None:
        FIGURES_PER_NOTEBOOK[self.parent.name] = sum(
            _figures(cell.test_outputs) for cell in self.parent_cells())
        self.user_properties.append(("figures", FIGURES_PER_NOTEBOOK[self.parent.name]))
        missing = [cell.name for cell in self.cells
                   if cell.test_outputs is not None and _figures(cell.test_outputs) == 0
                   and not _skipped(cell.test_outputs)]
        not_run = [cell.name for cell in self.cells if cell.test_outputs is None]
        if not_run:
            pytest.skip(f"cells not run: {', '.join(not_run)}")
        assert not missing, (f"{', '.join(missing)} call plt.show() but no figure appeared "
                             "(is MPLBACKEND set to a non-inline backend?)")

    def parent_cells(self) -> list:
        return [item for item in self.session.items
                if item.parent is self.parent and hasattr(item, "test_outputs")]

    def reportinfo(self):
        return self.path, None, f"{self.parent.name}::figures shown"


def _quick_seconds() -> dict[str, float]:
    """Each notebook's quick-mode seconds from the last measured run (docs/timings.json)."""
    import json
    from pathlib import Path

    path = Path(__file__).parent / "docs" / "timings.json"
    try:
        return {k: float(v) for k, v in json.loads(path.read_text())["quick"]["seconds"].items()}
    except (OSError, ValueError, KeyError):
        return {}


def pytest_collection_modifyitems(session, config, items) -> None:
    """Run the longest notebooks first, then the unit tests; after each notebook's last cell,
    add an item checking that its figures appeared.

    Under pytest-xdist (``--dist loadfile``) each worker takes the next file in this order, so
    the many short unit-test files fill the end and both workers finish together. Every
    worker sorts its own collection (the order must be the same on all of them)."""
    seconds = _quick_seconds()

    def order(item) -> tuple[int, float]:
        name = item.path.name
        if name.endswith(".ipynb"):
            return 0, -seconds.get(name[:2], 60.0)
        return 1, 0.0

    items.sort(key=order)  # stable: cells and tests keep their order inside a file
    by_notebook: dict[object, list] = {}
    for item in items:
        if type(item).__name__ == "IPyNbCell":
            by_notebook.setdefault(item.parent, []).append(item)
    for notebook, cells in by_notebook.items():
        drawing = [cell for cell in cells if SHOWS_FIGURE.search(cell.cell.source)]
        if drawing:
            check = FiguresShown.from_parent(notebook, name="figures shown", cells=drawing)
            items.insert(items.index(cells[-1]) + 1, check)


def pytest_runtest_logreport(report) -> None:
    """Add each test phase's duration to its file's total (set-up, call and tear-down)."""
    path = report.nodeid.split("::")[0]
    SECONDS_PER_FILE[path] = SECONDS_PER_FILE.get(path, 0.0) + report.duration
    for name, value in report.user_properties:  # from a worker process, under pytest-xdist
        if name == "figures":
            FIGURES_PER_NOTEBOOK[path.split("/")[-1]] = value


def pytest_sessionfinish(session, exitstatus) -> None:
    """Quick-mode seconds per notebook into build/timings-quick.json (scripts/timings.py)."""
    notebooks = {p.split("/")[-1][:2]: s for p, s in SECONDS_PER_FILE.items()
                 if p.endswith(".ipynb")}
    # Only a run in one process is a measurement of each notebook's time (under pytest-xdist
    # two notebooks share the cores): `TEST_WORKERS=1 make test`, then `make timings`.
    parallel = bool(getattr(session.config.option, "numprocesses", None))
    worker = hasattr(session.config, "workerinput")
    if notebooks and not (parallel or worker) and os.environ.get("COURSE_QUICK") == "1" \
            and exitstatus == 0:
        import sys
        from pathlib import Path

        sys.path.insert(0, str(Path(__file__).parent / "scripts"))
        from timings import write_run

        write_run("quick", notebooks)


def pytest_terminal_summary(terminalreporter) -> None:
    """How many figures each drawing notebook showed, and where the run's time went."""
    if FIGURES_PER_NOTEBOOK:
        counts = ", ".join(f"{name.split('_')[0]} {count}"
                           for name, count in sorted(FIGURES_PER_NOTEBOOK.items()))
        terminalreporter.write_line(f"figures shown per notebook: {counts}")
    notebooks = {p: s for p, s in SECONDS_PER_FILE.items() if p.endswith(".ipynb")}
    if notebooks:
        per = ", ".join(f"{p.split('/')[-1][:2]} {s:.0f}" for p, s in sorted(notebooks.items()))
        terminalreporter.write_line(f"seconds per notebook: {per}")
    units = sum(s for p, s in SECONDS_PER_FILE.items() if not p.endswith(".ipynb"))
    if units:
        slowest = sorted(((s, p) for p, s in SECONDS_PER_FILE.items()
                          if not p.endswith(".ipynb")), reverse=True)[:5]
        terminalreporter.write_line(
            f"seconds in unit tests: {units:.0f} (slowest files: "
            + ", ".join(f"{p.split('/')[-1]} {s:.0f}" for s, p in slowest) + ")")
