"""``python -m helpers.doctor [--json]``: is this machine ready for the course, and what fixes it.

Checks Python and the pinned packages (``requirements.txt``), describes the machine and what
to expect on it (:mod:`helpers.machine`, :mod:`helpers.expectations`), free disk and memory,
the optional tools (a Chromium-type browser and its driver, ``hey``, graphviz's ``dot``,
Node/npm and the web page's npm packages), which notebook sections they decide, and whether
real ImageNet weights are cached. Every problem comes with the one command that fixes it on
this kind of system. Exit status 1 only for what stops the course: a Python older than 3.10,
or a pinned package (or the course's own ``helpers`` package) missing. Imports torch only
when it is installed, and only for the weights check.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import re
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

from helpers.expectations import expectations
from helpers.machine import FEATURE_LABELS, MachineDescription, describe_machine
from helpers.paths import REPO_ROOT, relative

REQUIREMENTS = REPO_ROOT / "requirements.txt"
WEB_DIR = REPO_ROOT / "web"
COURSE_PACKAGE = "onnx-deploy-course-helpers"  # pyproject.toml's project name
TESTED_PYTHON = (3, 11)
OLDEST_PYTHON = (3, 10)
MIN_FREE_DISK_GB = 5.0
MIN_MEMORY_GB = 8.0
Which = Callable[[str], "str | None"]


@dataclass(frozen=True)
class Tool:
    """An optional program: the names it goes by, what the course uses it for, how to get it."""

    names: tuple[str, ...]
    purpose: str
    install: Mapping[str, str]  # install_system() key -> command


TOOLS: dict[str, Tool] = {
    "chromium": Tool(
        ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"),
        "headless browser: Netron graph pictures (12) and the browser chapter (16)",
        {"apt": "sudo apt-get install chromium", "brew": "brew install --cask google-chrome",
         "windows": "winget install Google.Chrome",
         "linux": "install Chromium or Google Chrome with your distribution's package manager"}),
    "chromedriver": Tool(
        ("chromedriver",),
        "drives the browser from Python (Selenium); same major version as the browser",
        {"apt": "sudo apt-get install chromium-driver", "brew": "brew install --cask chromedriver",
         "windows": "choco install chromedriver",
         "linux": "install chromedriver (the package next to your Chromium)"}),
    "hey": Tool(
        ("hey",), "HTTP load generator: notebook 15's load test",
        {"apt": "sudo apt-get install hey", "brew": "brew install hey",
         "windows": "go install github.com/rakyll/hey@latest (Go: winget install GoLang.Go), or WSL",
         "linux": "go install github.com/rakyll/hey@latest (Go from conda-forge: conda install go)"}),
    "dot": Tool(
        ("dot",), "graphviz: the light graph pictures of notebook 12 (without a browser)",
        {"apt": "sudo apt-get install graphviz", "brew": "brew install graphviz",
         "windows": "winget install Graphviz.Graphviz", "linux": "conda install -c conda-forge graphviz"}),
    "npm": Tool(
        ("npm",), "installs the web page's packages (onnxruntime-web, swagger-ui-dist; 15, 16)",
        {"apt": "sudo apt-get install nodejs npm", "brew": "brew install node",
         "windows": "winget install OpenJS.NodeJS.LTS", "linux": "conda install -c conda-forge nodejs"}),
}
MAC_APP_DIRS = ("/Applications/Google Chrome.app/Contents/MacOS",
                "/Applications/Chromium.app/Contents/MacOS")


@dataclass(frozen=True)
class Check:
    """One line of the report: ``status`` is ok, warn, missing, skip or error (stops the course)."""

    group: str
    name: str
    status: str
    detail: str
    fix: str | None = None


@dataclass
class Report:
    """Every check, the machine description and what to expect on it."""

    checks: list[Check]
    machine: dict[str, object]
    expectations: list[dict[str, object]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """1 when something stops the course (a check with status ``error``), else 0."""
        return int(any(c.status == "error" for c in self.checks))

    def to_dict(self) -> dict[str, object]:
        return {"exit_code": self.exit_code, "checks": [asdict(c) for c in self.checks],
                "machine": self.machine, "expectations": self.expectations}


def install_system() -> str:
    """Which install commands to show: ``apt``, ``brew``, ``windows`` or ``linux`` (no apt)."""
    system = platform.system()
    if system == "Darwin":
        return "brew"
    if system == "Windows":
        return "windows"
    return "apt" if shutil.which("apt-get") else "linux"


# ------------------------------------------------------------------ tools --------------------
def find_tool(tool: str, which: Which = shutil.which) -> str | None:
    """Path of an optional tool (``"chromium"``, ``"chromedriver"``, ``"hey"``, ``"dot"``,
    ``"npm"``) under any of its names on PATH; macOS's Chrome/Chromium app too. None if absent."""
    for name in TOOLS[tool].names:
        found = which(name)
        if found:
            return found
    if tool == "chromium" and which is shutil.which and platform.system() == "Darwin":
        for folder in MAC_APP_DIRS:
            found = shutil.which(Path(folder).parent.parent.stem, path=folder)
            if found:
                return found
    return None


def find_browser(which: Which = shutil.which) -> str | None:
    """A Chromium-type browser (chromium, google-chrome, ...) or None."""
    return find_tool("chromium", which)


def find_chromedriver(which: Which = shutil.which) -> str | None:
    """chromedriver on PATH, or None."""
    return find_tool("chromedriver", which)


def missing_npm_packages(web_dir: Path = WEB_DIR) -> list[str]:
    """The web page's npm dependencies (``web/package.json``) not in ``web/node_modules``."""
    package = web_dir / "package.json"
    if not package.exists():
        return []
    wanted = json.loads(package.read_text()).get("dependencies", {})
    return [name for name in wanted if not (web_dir / "node_modules" / name / "package.json").exists()]


def check_tools(which: Which = shutil.which, system: str | None = None
                ) -> tuple[list[Check], dict[str, str | None]]:
    """One check per optional tool (plus the npm packages), and the paths found."""
    system = system or install_system()
    found = {name: find_tool(name, which) for name in TOOLS}
    checks = [Check("tool", name, "ok" if path else "missing",
                    f"{path}: {tool.purpose}" if path else tool.purpose,
                    None if path else tool.install[system])
              for (name, tool), path in zip(TOOLS.items(), found.values(), strict=True)]
    missing = missing_npm_packages()
    npm_fix = "npm ci --prefix web" if found["npm"] else f"{TOOLS['npm'].install[system]}, then npm ci --prefix web"
    checks.append(Check("tool", "web/node_modules", "missing" if missing else "ok",
                        f"not installed: {', '.join(missing)}" if missing
                        else "onnxruntime-web and swagger-ui-dist installed", npm_fix if missing else None))
    found["web/node_modules"] = None if missing else str(WEB_DIR / "node_modules")
    return checks, found


def check_sections(found: Mapping[str, str | None]) -> list[Check]:
    """Which notebook sections the optional tools decide, and whether they will run here."""
    browser = bool(found.get("chromium") and found.get("chromedriver"))
    pictures = ("ok", "Netron pictures in headless Chromium") if browser else (
        ("ok", "graphviz pictures (no browser for Netron's)") if found.get("dot") else
        ("skip", "no graph pictures: needs a browser + chromedriver, or graphviz's dot"))
    load = ("ok", "hey drives the load test") if found.get("hey") else (
        "ok", "the course's Python client drives the load test (hey is lighter on the CPU)")
    page = [what for what, ok in (("a browser", found.get("chromium")),
                                  ("chromedriver", found.get("chromedriver")),
                                  ("the npm packages", found.get("web/node_modules"))) if not ok]
    web = ("ok", "browser, driver and npm packages present") if not page else (
        "skip", f"the browser chapter needs {', '.join(page)}")
    return [Check("section", "12 graph pictures", *pictures),
            Check("section", "15 load test", *load),
            Check("section", "16 the browser chapter", *web)]


# ------------------------------------------------------------------ python, packages ---------
def read_pins(path: Path = REQUIREMENTS) -> dict[str, str]:
    """``name -> version`` of every ``name==version`` line of a requirements file."""
    pins = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;#]+)", line)
        if match:
            pins[match.group(1)] = match.group(2)
    return pins


def installed_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def python_command() -> str:
    """This interpreter as a learner would type it: relative inside the repository."""
    executable = Path(sys.executable)
    try:
        return str(executable.relative_to(REPO_ROOT))
    except ValueError:
        return executable.name


def check_python(version: tuple[int, int, int] | None = None, system: str | None = None) -> Check:
    """Python 3.10 or newer is needed (error otherwise); 3.11 is what the pins are tested on."""
    major, minor, micro = version or tuple(sys.version_info[:3])
    system = system or install_system()
    where = "a virtual environment" if sys.prefix != sys.base_prefix else "no virtual environment"
    text = f"Python {major}.{minor}.{micro} ({where}: {relative(sys.executable)})"
    fix = {"apt": "sudo apt-get install python3.11 python3.11-venv",
           "brew": "brew install python@3.11", "windows": "winget install Python.Python.3.11",
           "linux": "conda create -n onnx-course python=3.11"}[system]
    if (major, minor) < OLDEST_PYTHON:
        return Check("python", "python", "error", f"{text}: the course needs 3.10 or newer", fix)
    if (major, minor) != TESTED_PYTHON:
        return Check("python", "python", "warn", f"{text}: the pins are tested on 3.11", fix)
    return Check("python", "python", "ok", text)


def check_packages(pins: Mapping[str, str], installed: Callable[[str], str | None] = installed_version
                   ) -> list[Check]:
    """Error for a missing pinned package, warning for another version, one ok line otherwise."""
    pip = f"{python_command()} -m pip install"
    checks, same = [], 0
    for name, pinned in pins.items():
        version = installed(name)
        if version is None:
            checks.append(Check("package", name, "error", f"not installed (pinned {pinned})",
                                f"{pip} -r requirements.txt"))
        elif version != pinned:
            checks.append(Check("package", name, "warn", f"{version} installed, {pinned} pinned",
                                f"{pip} {name}=={pinned}"))
        else:
            same += 1
    if installed(COURSE_PACKAGE) is None:
        checks.append(Check("package", "helpers", "error", "the course's helpers package is not "
                            "installed (notebooks cannot import it)", f"{pip} -e . --no-deps"))
    checks.insert(0, Check("package", "pins", "ok" if same == len(pins) else "warn",
                           f"{same} of {len(pins)} pinned packages at their pinned version"))
    return checks


# ------------------------------------------------------------------ resources, weights --------
def check_resources(folder: Path = REPO_ROOT) -> list[Check]:
    """Free disk where the course writes, and the machine's memory."""
    free = shutil.disk_usage(folder).free / 2**30
    disk = Check("resources", "disk", "ok" if free >= MIN_FREE_DISK_GB else "warn",
                 f"{free:.1f} GiB free (models, reports and caches need about {MIN_FREE_DISK_GB:.0f})",
                 None if free >= MIN_FREE_DISK_GB else "free some disk space, or clean: make clean")
    try:
        import psutil

        memory = psutil.virtual_memory()
        total, available = memory.total / 2**30, memory.available / 2**30
    except ImportError:
        return [disk, Check("resources", "memory", "warn", "psutil missing: memory unknown")]
    ok = total >= MIN_MEMORY_GB
    return [disk, Check("resources", "memory", "ok" if ok else "warn",
                        f"{total:.1f} GiB, {available:.1f} GiB available"
                        + ("" if ok else f"; the big-batch cells need about {MIN_MEMORY_GB:.0f}"),
                        None if ok else "close other programs; quick mode (COURSE_QUICK=1) needs less")]


def check_weights() -> list[Check]:
    """Whether torchvision's real ImageNet weights are in the torch hub cache (else random ones)."""
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("torchvision") is None:
        return [Check("weights", "imagenet", "skip", "torch/torchvision not installed")]
    from helpers.models.imagenet import SUPPORTED_MODELS, cached_weights_path

    checks = []
    for name in SUPPORTED_MODELS:
        path = cached_weights_path(name)
        checks.append(Check("weights", name, "ok" if path.exists() else "missing",
                            f"cached: {path.name}" if path.exists() else
                            "not cached: notebooks use seeded RANDOM weights (labels meaningless)",
                            None if path.exists() else "python -m helpers.models (make weights)"))
    return checks


# ------------------------------------------------------------------ the report ---------------
def run_checks(pins: Mapping[str, str] | None = None, which: Which = shutil.which,
               machine: MachineDescription | None = None, weights: bool = True) -> Report:
    """Every check; ``pins``, ``which`` and ``machine`` can be replaced (tests)."""
    machine = machine or describe_machine()
    checks = [check_python(), *check_packages(read_pins() if pins is None else pins)]
    tool_checks, found = check_tools(which)
    checks += [*check_resources(), *tool_checks, *check_sections(found)]
    if weights:
        checks += check_weights()
    return Report(checks, machine.to_dict(), [e.to_dict() for e in expectations(machine)])


def machine_lines(machine: Mapping[str, object]) -> list[tuple[str, str]]:
    """(label, value) rows describing a machine dict (:meth:`MachineDescription.to_dict`)."""
    features = set(machine["features"])  # type: ignore[arg-type]
    labels = [label for name, label in FEATURE_LABELS.items() if name in features]
    perf = machine.get("performance_cores")
    cores = f"{machine['physical_cores']} physical / {machine['logical_cpus']} logical"
    vendor, model = str(machine["cpu_vendor"]), str(machine["cpu_model"])
    name = model if model.lower().startswith(vendor.lower()) else f"{vendor} {model}".strip()
    rows = [("CPU", name
             + (f" ({machine['microarchitecture']})" if machine.get("microarchitecture") else "")),
            ("class", str(machine["cpu_class"])), ("ISA", " ".join(labels) or "none detected"),
            ("cores", cores + (f" ({perf} performance)" if perf else "")),
            ("memory", f"{machine['memory_gb']} GiB" if machine.get("memory_gb") else "unknown"), ("OS", f"{machine['os_version']} ({machine['arch']})"),
            ("read from", ", ".join(machine["sources"]))]  # type: ignore[arg-type]
    if machine.get("unknown"):
        rows.append(("not checked", ", ".join(machine["unknown"])))  # type: ignore[arg-type]
    rows += [("note", str(note)) for note in machine.get("notes", ())]  # type: ignore[union-attr]
    return rows


def format_report(report: Report) -> str:
    """The report as readable lines: machine, expectations, then one line per check."""
    lines = ["Course doctor (python -m helpers.doctor; --json for data)", "", "Machine"]
    lines += [f"  {label:<12} {value}" for label, value in machine_lines(report.machine)]
    lines += ["", "What to expect on this CPU"]
    if report.machine.get("unknown"):
        lines.append("  (some features could not be checked here; these lines assume they are absent)")
    for e in report.expectations:
        lines += [f"  {e['topic']}: {e['expect']}", f"      why: {e['reason']}"]
        if e.get("fix"):
            lines.append(f"      if accuracy drops: {e['fix']}")
    titles = {"python": "Python", "package": "Packages", "resources": "Disk and memory",
              "tool": "Optional tools", "section": "Notebook sections", "weights": "ImageNet weights"}
    for group, title in titles.items():
        rows = [c for c in report.checks if c.group == group]
        if rows:
            lines += ["", title]
            for c in rows:
                lines.append(f"  {c.status:<8} {c.name:<24} {c.detail}")
                if c.fix:
                    lines.append(f"  {'':<8} {'':<24} fix: {c.fix}")
    errors = [c for c in report.checks if c.status == "error"]
    optional = [c for c in report.checks if c.status in ("missing", "skip", "warn")]
    lines += ["", f"{len(errors)} problem(s) stop the course; {len(optional)} optional item(s) "
              "missing or different (their sections skip or say so)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.doctor", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--no-weights", action="store_true", help="skip the weights check (no torch import)")
    args = parser.parse_args(argv)
    report = run_checks(weights=not args.no_weights)
    print(json.dumps(report.to_dict(), indent=1) if args.json else format_report(report))
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["Check", "Report", "TOOLS", "check_packages", "check_python", "check_sections",
           "check_tools", "find_browser", "find_chromedriver", "find_tool", "format_report",
           "install_system", "main", "read_pins", "run_checks"]

