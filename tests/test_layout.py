"""The package's layout rules: torch-free client packages, no import circles, and notebooks
that show the lesson's code instead of printing helpers (see the README's layout section)."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys

import pytest

from helpers.paths import REPO_ROOT

HELPERS = REPO_ROOT / "helpers"
NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
TORCH_FREE = ("helpers.data.images", "helpers.data.labels", "helpers.runtime", "helpers.serve",
              "helpers.classify")


def module_name(path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(HELPERS.rglob("*.py"))}


def torch_free_modules() -> list[str]:
    return sorted(name for name in MODULES
                  if any(name == root or name.startswith(root + ".") for root in TORCH_FREE)
                  and not name.endswith("__main__"))


BLOCK_TORCH = """
import importlib.abc, sys
class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision"):
            raise ImportError(f"{name} is not importable in this test (a deployed client)")
sys.meta_path.insert(0, NoTorch())
import importlib
for name in sys.argv[1:]:
    importlib.import_module(name)
assert "torch" not in sys.modules
print("imported", len(sys.argv) - 1, "modules without torch")
"""


def test_client_packages_import_without_torch():
    names = torch_free_modules()
    assert "helpers.runtime.sessions" in names and "helpers.serve.app" in names
    done = subprocess.run([sys.executable, "-c", BLOCK_TORCH, *names], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def module_level_imports(path) -> set[str]:
    """Modules of ``helpers`` imported at module level (not inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name in MODULES}


def test_helpers_have_no_import_circle():
    graph = {name: module_level_imports(path) - {name} for name, path in MODULES.items()}
    # a package's __init__ is imported by its submodules implicitly; don't count that edge
    circles = []

    def visit(node: str, stack: list[str]) -> None:
        for target in sorted(graph.get(node, ())):
            if target in stack:
                circles.append(stack[stack.index(target):] + [target])
            elif len(stack) < 12:
                visit(target, [*stack, target])

    for name in graph:
        if not name.endswith("__init__"):
            visit(name, [name])
    circles = [c for c in circles if not any(
        a.startswith(b + ".") or b.startswith(a + ".") for a, b in zip(c, c[1:], strict=False))]
    assert not circles, "import circles: " + "; ".join(" -> ".join(c) for c in circles[:5])


def test_engine_loaders_register_nothing():
    for path in (HELPERS / "bench").glob("loaders_*.py"):
        text = path.read_text(encoding="utf-8")
        assert "register_engine(" not in text and "register_variant(" not in text, path.name


def code_cells(path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    return [c for c in notebook["cells"] if c["cell_type"] == "code"], notebook["cells"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_notebook_shows_the_lesson_not_the_harness(path):
    code, cells = code_cells(path)
    number = path.name[:2]
    problems = []
    for index, cell in enumerate(code):
        source = "".join(cell["source"])
        where = f"code cell {index + 1} ({cell.get('id')})"
        if "getsource" in source:
            problems.append(f"{where} prints source with inspect; show the code in a cell")
        if "NBVAL_" in source:
            problems.append(f"{where} carries a test marker the test run does not use")
        bound = set()
        for match in re.finditer(r"^\s*from (helpers[\w.]*) import ([^\n(]+|\([^)]*\))", source,
                                 re.M):
            names = [n.strip().split(" as ")[-1] for n in match.group(2).strip("()").split(",")]
            bound |= {n for n in names if n}
            private = [n for n in names if n.startswith("_")]
            if private:
                problems.append(f"{where} imports private helpers {private}")
        for match in re.finditer(r"^\s*import (helpers[\w.]*)(?: as (\w+))?", source, re.M):
            bound.add(match.group(2) or "helpers")
        for name in bound:
            if re.search(rf"(?<![\w.]){re.escape(name)}(\.\w+)*\._[a-zA-Z]\w*", source):
                problems.append(f"{where} calls a private helper through {name}")
        if index > 0 and re.search(r"\bQUICK\b|\.quick\b|quick_mode\(", source):
            problems.append(f"{where} tests quick mode; choose sizes once in the set-up cell")
    if not "".join(code[-1]["source"]).startswith("print(setup.summary())"):
        problems.append("the last code cell should print setup.summary() (skips, expectations)")
    setup = "".join(code[0]["source"])
    if f'setup = helpers.start("nb{number}")' not in setup:
        problems.append(f'the first code cell should say setup = helpers.start("nb{number}")')
    ids = [cell.get("id") for cell in cells]
    bad = [i for i in ids if not re.fullmatch(rf"nb{number}-[a-z0-9]+(-[a-z0-9]+)*", i or "")]
    if bad:
        problems.append(f"cell ids not of the form nb{number}-<words>: {bad[:5]}")
    if len(set(ids)) != len(ids):
        problems.append("two cells share an id")
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)


def sizes_keys(source: str) -> dict[str, set[str]] | None:
    """The keys of ``quick=dict(...)`` and ``full=dict(...)`` in ``setup.sizes(...)``, if any."""
    tree = ast.parse("\n".join(line for line in source.splitlines()
                               if not line.lstrip().startswith(("%", "!"))))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "sizes"):
            keys = {}
            for keyword in node.keywords:
                if isinstance(keyword.value, ast.Call) and getattr(keyword.value.func, "id", "") == "dict":
                    keys[keyword.arg] = {k.arg for k in keyword.value.keywords}
                elif isinstance(keyword.value, ast.Dict):
                    keys[keyword.arg] = {k.value for k in keyword.value.keys}
            return keys
    return None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_quick_and_full_sizes_name_the_same_knobs(path):
    """Full mode runs only in make course: a key missing from one of the two dicts would
    fail there first, so both must name the same knobs."""
    code, _ = code_cells(path)
    keys = sizes_keys("".join(code[0]["source"]))
    if keys is None:
        pytest.skip("no SIZES knob in this notebook")
    assert set(keys) == {"quick", "full"}, keys
    assert keys["quick"] == keys["full"], keys["quick"] ^ keys["full"]
    used = set(re.findall(r"SIZES\[[\"'](\w+)[\"']\]", "".join("".join(c["source"]) for c in code)))
    assert used <= keys["full"], f"SIZES keys used but not set: {used - keys['full']}"


def reading_minutes(cells) -> float:
    """The course's rule for reading time: prose at 130 words a minute, code at 10 lines a minute."""
    words = sum(len("".join(c["source"]).split()) for c in cells if c["cell_type"] == "markdown")
    lines = sum(1 for c in cells if c["cell_type"] == "code"
                for line in "".join(c["source"]).splitlines() if line.strip())
    return words / 130 + lines / 10


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_stated_reading_time_follows_the_rule(path):
    _, cells = code_cells(path)
    stated = re.search(r"\*\*Time:\*\*\s+about (\d+) minutes to read", "".join(cells[0]["source"]))
    assert stated, "the first cell says '**Time:** about N minutes to read'"
    rule = reading_minutes(cells)
    assert abs(int(stated.group(1)) - rule) <= max(5, 0.25 * rule), (
        f"states {stated.group(1)} min; the rule (130 words/min of prose, 10 lines/min of "
        f"code) gives {rule:.0f}")
