"""Execute every notebook in order into build/ (executed .ipynb and HTML), one line per notebook.

    python scripts/run_course.py [--quick] [--only 03 04] [--timeout 1800]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbconvert import HTMLExporter
from nbconvert.preprocessors import CoalesceStreamsPreprocessor
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_course import check as course_check  # noqa: E402
from check_course import load_facts  # noqa: E402
from timings import write_run  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
BUILD = ROOT / "build"
# Kernels draw with the inline backend, so every plt.show() becomes a PNG in the executed
# notebook and its HTML (Agg, a common default for headless runs, would show nothing).
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


def image_outputs(notebook) -> int:
    """How many figures (PNG or SVG outputs) an executed notebook shows."""
    return sum(any(kind in output.get("data", {}) for kind in ("image/png", "image/svg+xml"))
               for cell in notebook.cells for output in cell.get("outputs", []))


def draws_figures(notebook) -> bool:
    """Whether a notebook's code asks for a figure to be shown."""
    return any("plt.show(" in cell.source or "display(Image" in cell.source
               for cell in notebook.cells if cell.cell_type == "code")


def run_notebook(path: Path, timeout: int) -> tuple[bool, float, str, int]:
    """Execute one notebook; write executed .ipynb and .html; return (ok, s, error, figures)."""
    notebook = nbformat.read(path, as_version=4)
    code_cells = sum(cell.cell_type == "code" for cell in notebook.cells)
    bar = tqdm(total=code_cells, desc=f"  {path.stem}", unit="cell", leave=False)
    start = time.perf_counter()
    error = ""
    # IPC transport: the kernel talks over local sockets in a private folder, not TCP
    # (no "Kernel is running over TCP without encryption" warning on every notebook).
    with tempfile.TemporaryDirectory(prefix="course-kernel-") as sockets:
        manager = KernelManager(kernel_name="python3", transport="ipc",
                                ip=str(Path(sockets) / "kernel"))
        client = NotebookClient(notebook, km=manager, timeout=timeout,
                                resources={"metadata": {"path": str(NOTEBOOKS)}},
                                on_cell_executed=lambda **_: bar.update(1))
        try:
            client.execute()
        except CellExecutionError as failure:
            error = str(failure).strip().splitlines()[-1]
        finally:
            bar.close()
            if manager.has_kernel:  # a kernel manager we made is ours to stop
                manager.shutdown_kernel(now=False)
    seconds = time.perf_counter() - start
    (BUILD / "notebooks").mkdir(parents=True, exist_ok=True)
    (BUILD / "html").mkdir(parents=True, exist_ok=True)
    # progress bars print many \r-separated updates: keep each bar's final state only
    notebook, _ = CoalesceStreamsPreprocessor().preprocess(notebook, {})
    for cell in notebook.cells:  # a bar closed with leave=False leaves only blanks behind
        if "outputs" in cell:
            cell.outputs = [o for o in cell.outputs
                            if o.output_type != "stream" or o.text.strip()]
    nbformat.write(notebook, BUILD / "notebooks" / path.name)
    html, _ = HTMLExporter().from_notebook_node(notebook)
    (BUILD / "html" / f"{path.stem}.html").write_text(html, encoding="utf-8")
    figures = image_outputs(notebook)
    if not error and figures == 0 and draws_figures(notebook):
        error = "draws figures but its executed copy shows none (check MPLBACKEND)"
    return not error, seconds, error, figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="set COURSE_QUICK=1 (small grids)")
    parser.add_argument("--only", nargs="*", default=None, help="notebook numbers, e.g. 03 04")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    args = parser.parse_args()
    if args.quick:
        os.environ["COURSE_QUICK"] = "1"
    os.environ["MPLBACKEND"] = INLINE_BACKEND
    os.environ.setdefault("COURSE_TEXT_PROGRESS", "1")  # executed notebooks keep text bars
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if args.only:
        paths = [p for p in paths if p.name[:2] in args.only]
    if not paths:
        print("no notebooks to run", file=sys.stderr)
        return 1
    mode = "quick" if os.environ.get("COURSE_QUICK") == "1" else "full"
    print(f"Running {len(paths)} notebooks ({mode} mode) into build/ ...")
    failures = []
    seconds_by_notebook = {}
    total = time.perf_counter()
    for i, path in enumerate(paths, 1):
        ok, seconds, error, figures = run_notebook(path, args.timeout)
        status = "ok" if ok else f"FAILED: {error}"
        print(f"[{i:>2}/{len(paths)}] {path.name:<45} {seconds:7.1f} s  {figures:3d} figures  "
              f"{status}", flush=True)
        if not ok:
            failures.append(path.name)
        else:
            seconds_by_notebook[path.name[:2]] = seconds
    if seconds_by_notebook:  # what `python scripts/timings.py update` states in the notebooks
        print(f"timings: {write_run(mode, seconds_by_notebook).relative_to(ROOT)}")
    if len(paths) > 1:  # figures two notebooks both state must agree (scripts/check_course.py)
        print("\nfigures stated by two notebooks:")
        for name, verdict, detail in course_check(load_facts()):
            print(f"  {verdict:>8}  {name}: {detail}")
            if verdict == "DISAGREE":
                failures.append(f"check: {name}")
    minutes = (time.perf_counter() - total) / 60
    print(f"\nDone in {minutes:.1f} min. Executed notebooks: build/notebooks/, "
          f"HTML: build/html/, reports: reports/")
    if failures:
        print(f"{len(failures)} notebook(s) failed: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
