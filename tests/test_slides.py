"""The instructor's slide decks (scripts/slides.py): every notebook carries slide types, and two
decks built from freshly executed notebooks open offline in headless Chromium with their
figures showing."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import time
from pathlib import Path

import nbformat
import pytest

from helpers.paths import REPO_ROOT

spec = importlib.util.spec_from_file_location("slides", REPO_ROOT / "scripts" / "slides.py")
slides = importlib.util.module_from_spec(spec)
spec.loader.exec_module(slides)

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SHOTS = REPO_ROOT / "build" / "slides-test"  # screenshots, to look at


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_slide_types_start_sections_and_skip_the_plumbing(path):
    """A cell's "Slide Type" metadata overrides the rule; a cell without one gets the rule's
    (``scripts/slides.py mark`` writes it, the build applies it): either way the title and
    every section start a slide, and the set-up and summary cells are skipped."""
    notebook = nbformat.read(path, as_version=4)
    codes = [i for i, c in enumerate(notebook.cells) if c.cell_type == "code"]
    cells = json.loads(path.read_text())["cells"]
    kinds = [c["metadata"].get("slideshow", {}).get("slide_type")
             or slides.rule_slide_type(cell, i, codes[0], len(cells) - 1)
             for i, (c, cell) in enumerate(zip(cells, notebook.cells, strict=True))]
    assert kinds[0] == "slide", "the title cell starts the deck"
    headings = [k for c, k in zip(cells, kinds, strict=True)
                if c["cell_type"] == "markdown" and "".join(c["source"]).startswith("## ")]
    assert set(headings) == {"slide"}, "every '## ' section starts a slide"
    codes = [k for c, k in zip(cells, kinds, strict=True) if c["cell_type"] == "code"]
    assert codes[0] == "skip" and codes[-1] == "skip", "set-up and summary cells are skipped"


def test_a_section_slide_keeps_its_heading_and_first_paragraph():
    shown, notes = slides.split_heading("## 2 · Title\n\nFirst point.\n\nMore.\n\n- a\n- b", False)
    assert shown == "## 2 · Title\n\nFirst point." and notes == "More.\n\n- a\n- b"
    shown, notes = slides.split_heading("# 05 · X\n\n**You will learn**\n- a\n\n**Time:** 5", True)
    assert "**Time:**" not in shown and notes.startswith("**Time:**")


def test_long_outputs_are_trimmed_and_say_so():
    cell = nbformat.v4.new_code_cell("x", outputs=[
        nbformat.v4.new_output("stream", name="stdout", text="\n".join(map(str, range(40))))])
    slides.trim_outputs(cell, max_lines=5)
    assert cell.outputs[0]["text"].splitlines() == ["0", "1", "2", "3", "4",
                                                    "… 35 more lines in the notebook"]


def executed(name: str, folder: Path) -> Path:
    """``name`` executed in quick mode into ``folder`` (as ``make course --quick`` would)."""
    from nbclient import NotebookClient

    notebook = nbformat.read(REPO_ROOT / "notebooks" / name, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(REPO_ROOT / "notebooks")}}).execute()
    out = folder / name
    nbformat.write(notebook, out)
    return out


@pytest.fixture(scope="module")
def decks(tmp_path_factory):
    if not (slides.NODE_MODULES / "reveal.js").is_dir():
        pytest.skip("reveal.js missing: npm ci --prefix slides")
    folder = tmp_path_factory.mktemp("executed")
    paths = [executed(name, folder) for name in ("00_deployment_concepts.ipynb",
                                                 "14_detection_with_nms.ipynb")]
    target = tmp_path_factory.mktemp("slides")
    return target, slides.build(paths, target)


def test_decks_have_slides_and_link_nothing_outside(decks):
    target, rows = decks
    for row in rows:
        html = (target / row["deck"]).read_text()
        loaded = re.findall(r"<(?:script|link|img|iframe)[^>]+(?:src|href)=\"([^\"]+)\"", html)
        outside = [url for url in loaded if re.match(r"(https?:)?//", url)]
        assert not outside, f"{row['deck']} loads from outside: {outside[:3]}"
        assert row["slides"] >= 5 and row["sub-slides"] >= 5, row
    assert [row["figures"] > 0 for row in rows] == [False, True], rows


def test_decks_open_offline_in_chromium_and_figure_slides_show_an_image(decks):
    from helpers.serve.browser import headless_chromium, missing_pieces

    if {"chromium", "chromedriver", "selenium"} & set(missing_pieces()):
        pytest.skip("needs Chromium, chromedriver and selenium")
    target, rows = decks
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    with headless_chromium(1280, 800) as driver:
        for row in rows:
            driver.get((target / row["deck"]).as_uri())
            for _ in range(100):
                if driver.execute_script("return window.deckReady === true"):
                    break
                time.sleep(0.1)
            assert driver.execute_script("return window.deckReady === true"), "reveal.js not ready"
            loaded = driver.execute_script("""return [...document.querySelectorAll(
                'script[src], link[href], img[src], iframe[src]')].map(e => e.src || e.href)""")
            assert loaded and all(url.startswith(("file:", "data:")) for url in loaded), loaded
            total = driver.execute_script("return Reveal.getTotalSlides()")
            assert total == row["slides"] + row["sub-slides"], (total, row)
            driver.save_screenshot(str(SHOTS / f"{row['deck'][:2]}_title.png"))
            figures = driver.execute_script("""
                const found = [];
                document.querySelectorAll('.slides section section').forEach(s => {
                  if (s.querySelector('img')) found.push(Reveal.getIndices(s)); });
                return found;""")
            assert bool(figures) == (row["figures"] > 0), row
            for n, where in enumerate(figures[:2]):
                driver.execute_script("Reveal.slide(arguments[0], arguments[1])",
                                      where["h"], where["v"] or 0)
                time.sleep(1.0)  # the slide transition
                shown = driver.execute_script("""
                    const img = Reveal.getCurrentSlide().querySelector('img');
                    const box = img.getBoundingClientRect();
                    return img.complete && img.naturalWidth > 0 && box.width > 100;""")
                driver.save_screenshot(str(SHOTS / f"{row['deck'][:2]}_figure{n}.png"))
                assert shown, f"{row['deck']}: slide {where} shows no image"
