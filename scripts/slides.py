"""Slide decks from the notebooks: one reveal.js deck per notebook, readable offline.

    python scripts/slides.py mark                 # give unmarked cells a slide type (the rule below)
    python scripts/slides.py build [--only 05 11] # executed notebooks in build/notebooks -> build/slides

The slide types live in each cell's ``slideshow`` metadata (Jupyter's own "Slide Type"), so an
instructor can change any of them in JupyterLab; ``mark`` only fills cells that have none:

- the title cell and every ``## `` section heading start a slide; ``### `` starts a sub-slide;
- other prose becomes speaker notes (press ``s`` in the deck);
- each code cell is a sub-slide under its section, with its output (figure, table, text);
- the set-up cell and the closing summary cell are skipped.

``build`` works on a copy: section cells keep their heading and first paragraph on the slide
(the rest goes to the notes), long text outputs are cut to ``MAX_OUTPUT_LINES`` with a line
saying so, and reveal.js, RequireJS and jQuery come from ``slides/node_modules`` (``npm ci
--prefix slides``), copied next to the decks: nothing is fetched from the internet.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import shutil
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
EXECUTED = ROOT / "build" / "notebooks"
DECKS = ROOT / "build" / "slides"
NODE_MODULES = ROOT / "slides" / "node_modules"
TEMPLATES = ROOT / "slides" / "template"
MAX_OUTPUT_LINES = 14
# What the decks load, copied from the npm packages (package, files or folders inside it).
LIBRARIES = {"reveal.js": ("dist", "plugin"), "requirejs": ("require.js",),
             "jquery": ("dist/jquery.min.js",)}


def rule_slide_type(cell, index: int, first_code: int, last: int) -> str:
    """The slide type the course's rule gives a cell (see the module docstring)."""
    if index == 0:
        return "slide"
    if cell.cell_type == "code":
        return "skip" if index in (first_code, last) else "subslide"
    source = cell.source.lstrip()
    if source.startswith("## ") or source.startswith("# "):
        return "slide"
    if source.startswith("### "):
        return "subslide"
    return "notes"


def mark(path: Path) -> int:
    """Give every cell of ``path`` without a slide type the rule's; return how many changed."""
    raw = json.loads(path.read_text(encoding="utf-8"))  # edited as stored, lines kept as lists
    notebook = nbformat.from_dict(raw)
    codes = [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
    changed = 0
    for index, (cell, stored) in enumerate(zip(notebook.cells, raw["cells"], strict=True)):
        if "slide_type" in stored["metadata"].get("slideshow", {}):
            continue
        cell.source = "".join(cell.source)
        kind = rule_slide_type(cell, index, codes[0] if codes else -1, len(notebook.cells) - 1)
        stored["metadata"]["slideshow"] = {"slide_type": kind}
        changed += 1
    if changed:
        path.write_text(json.dumps(raw, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return changed


def split_heading(source: str, title: bool) -> tuple[str, str]:
    """(what the slide shows, what goes to the notes) for a slide's markdown cell."""
    if title:  # the title cell: everything before the "**Time:**" paragraph
        cut = source.find("**Time:**")
        return (source, "") if cut < 0 else (source[:cut].rstrip(), source[cut:])
    blocks = re.split(r"\n\s*\n", source.strip())
    shown = [blocks[0]]
    if blocks[0].lstrip().startswith("#") and len(blocks) > 1:
        shown.append(blocks[1])  # the heading and its first paragraph
    return "\n\n".join(shown), "\n\n".join(blocks[len(shown):])


def trim_outputs(cell, max_lines: int = MAX_OUTPUT_LINES) -> None:
    """Cut long text outputs of a code cell, saying how much was left out."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            lines = output["text"].splitlines()
            if len(lines) > max_lines:
                output["text"] = "\n".join(lines[:max_lines]) + (
                    f"\n… {len(lines) - max_lines} more lines in the notebook\n")
        elif output.get("output_type") == "error":
            output["traceback"] = output.get("traceback", [])[-3:]


def deck_notebook(executed: Path, source: Path | None) -> nbformat.NotebookNode:
    """The executed notebook made ready for slides (slide types from the source notebook)."""
    notebook = nbformat.read(executed, as_version=4)
    notebook.metadata.pop("widgets", None)
    types = {}
    if source is not None and source.exists():
        for cell in nbformat.read(source, as_version=4).cells:
            types[cell.get("id")] = cell.metadata.get("slideshow", {}).get("slide_type")
    codes = [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
    cells = []
    for index, cell in enumerate(notebook.cells):
        kind = types.get(cell.get("id")) or rule_slide_type(
            cell, index, codes[0] if codes else -1, len(notebook.cells) - 1)
        cell = copy.deepcopy(cell)
        cell.metadata["slideshow"] = {"slide_type": kind}
        cells.append(cell)
        if cell.cell_type == "markdown" and kind in ("slide", "subslide"):
            shown, rest = split_heading(cell.source, title=index == 0)
            cell.source = shown
            if rest:
                cells.append(nbformat.v4.new_markdown_cell(
                    rest, metadata={"slideshow": {"slide_type": "notes"}}))
        elif cell.cell_type == "code":
            trim_outputs(cell)
    notebook.cells = cells
    return notebook


def copy_libraries(target: Path) -> None:
    """reveal.js, RequireJS and jQuery from slides/node_modules into ``target``/lib."""
    for package, parts in LIBRARIES.items():
        root = NODE_MODULES / package
        if not root.is_dir():
            raise SystemExit(f"{root.relative_to(ROOT)} is missing: run `npm ci --prefix slides` "
                             "(Node.js and npm; `make setup` does it)")
        for part in parts:
            src, dst = root / part, target / "lib" / package / Path(part).name
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, dst, dirs_exist_ok=True)
            else:
                shutil.copy2(src, dst)


def exporter():
    """nbconvert's slides exporter, pointed at the local libraries and the course template."""
    from nbconvert import SlidesExporter

    return SlidesExporter(template_name="course_reveal", extra_template_basedirs=[str(TEMPLATES)],
                          reveal_url_prefix="lib/reveal.js", reveal_theme="white",
                          require_js_url="lib/requirejs/require.js",
                          jquery_url="lib/jquery/jquery.min.js")


def slide_counts(notebook) -> tuple[int, int]:
    """(slides, sub-slides) in a deck notebook."""
    kinds = [cell.metadata.get("slideshow", {}).get("slide_type") for cell in notebook.cells]
    return kinds.count("slide"), kinds.count("subslide")


def build(executed: list[Path], target: Path = DECKS) -> list[dict]:
    """Write one deck per executed notebook into ``target``; return a row per deck."""
    target.mkdir(parents=True, exist_ok=True)
    copy_libraries(target)
    export = exporter()
    rows = []
    for path in executed:
        notebook = deck_notebook(path, NOTEBOOKS / path.name)
        html, _ = export.from_notebook_node(notebook, resources={"metadata": {"name": path.stem}})
        out = target / f"{path.stem}.slides.html"
        out.write_text(html, encoding="utf-8")
        slides, subslides = slide_counts(notebook)
        rows.append({"deck": out.name, "slides": slides, "sub-slides": subslides,
                     "figures": len(re.findall(r"<img[^>]*src=\"data:image/", html))})
    index = "\n".join(f'<li><a href="{row["deck"]}">{row["deck"].split(".")[0]}</a> '
                      f'({row["slides"]} slides, {row["sub-slides"]} sub-slides)</li>'
                      for row in rows)
    (target / "index.html").write_text(
        f"<!DOCTYPE html><meta charset='utf-8'><title>Course slides</title>"
        f"<h1>Course slides</h1><ul>{index}</ul>\n", encoding="utf-8")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("mark", "build"))
    parser.add_argument("--only", nargs="*", default=[], help="notebook numbers, e.g. 05 11")
    parser.add_argument("--source", type=Path, default=EXECUTED,
                        help="folder of executed notebooks (default: build/notebooks)")
    args = parser.parse_args(argv)
    if args.command == "mark":
        for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
            if not args.only or path.name[:2] in args.only:
                changed = mark(path)
                if changed:
                    print(f"{path.name}: {changed} cells marked")
        return 0
    executed = sorted(p for p in args.source.glob("[0-9][0-9]_*.ipynb")
                      if not args.only or p.name[:2] in args.only)
    if not executed:
        print(f"no executed notebooks in {args.source}: run `make course` first", file=sys.stderr)
        return 1
    for row in build(executed):
        print(f"{row['deck']}: {row['slides']} slides, {row['sub-slides']} sub-slides, "
              f"{row['figures']} figures")
    print(f"decks in {DECKS.relative_to(ROOT)}/ (open index.html; press s for speaker notes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
