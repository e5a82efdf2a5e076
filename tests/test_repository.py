"""House rules a quick look can check: notebooks without outputs, each with a recap and exercise."""

from __future__ import annotations

import json
import re

import pytest

from helpers.paths import REPO_ROOT

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_there_are_numbered_notebooks():
    numbers = [int(p.name[:2]) for p in NOTEBOOKS]
    assert numbers[:5] == [0, 1, 2, 3, 4], numbers
    assert len(set(numbers)) == len(numbers), "two notebooks share a number"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_shape(path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    cells = notebook["cells"]
    for cell in cells:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [] and cell.get("execution_count") is None, \
                f"{path.name}: commit notebooks without outputs"
    text = "\n".join("".join(c["source"]) for c in cells)
    first = "".join(cells[0]["source"])
    assert first.startswith(f"# {path.name[:2]} · "), f"{path.name}: title '# NN · Topic'"
    assert "You will learn" in first
    assert "## Recap" in text and "## Exercise" in text and "check_exercise(" in text
    assert f'helpers.start("nb{path.name[:2]}")' in text, "set-up: one helpers.start call"
    assert not re.search(r"['\"]/(root|home|tmp|work)/", text), f"{path.name}: machine path"
    assert "assert " in text


def test_every_requirement_is_pinned_and_conda_says_the_same():
    lines = [line.strip() for line in (REPO_ROOT / "requirements.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    unpinned = [line for line in lines if "==" not in line]
    assert not unpinned, f"pin these in requirements.txt: {unpinned}"
    env = (REPO_ROOT / "environment.yml").read_text()
    conda_pins = {line.strip()[2:] for line in env.splitlines() if "==" in line}
    assert conda_pins == set(lines), f"differ: {conda_pins ^ set(lines)}"


def test_requirements_pin_torch():
    lines = (REPO_ROOT / "requirements.txt").read_text().splitlines()
    assert "torch==2.14.1" in lines and "torchvision==0.29.1" in lines
    env = (REPO_ROOT / "environment.yml").read_text()
    assert "torch==2.14.1" in env and "torchvision==0.29.1" in env
