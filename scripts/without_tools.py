"""Run a command with optional tools hidden from PATH, as on a machine that lacks them.

    python scripts/without_tools.py chromium chromedriver hey dot npm -- make test

PATH becomes one temporary folder of links to every program on the current PATH except the
named tools (under every name the course looks for, see helpers.doctor.TOOLS).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers.doctor import TOOLS  # noqa: E402


def hidden_path(folder: Path, tools: list[str]) -> str:
    """Fill ``folder`` with links to PATH's programs minus ``tools``; return the new PATH."""
    hidden = {name for tool in tools for name in TOOLS[tool].names}
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        if not directory or not Path(directory).is_dir():
            continue
        for entry in Path(directory).iterdir():
            link = folder / entry.name
            if entry.name in hidden or link.exists() or not os.access(entry, os.X_OK):
                continue
            link.symlink_to(entry)
    return str(folder)


def main(argv: list[str]) -> int:
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        print("usage: python scripts/without_tools.py TOOL [TOOL ...] -- COMMAND [ARG ...]; "
              f"tools: {', '.join(TOOLS)}", file=sys.stderr)
        return 2
    split = argv.index("--")
    tools, command = argv[:split], argv[split + 1:]
    unknown = [tool for tool in tools if tool not in TOOLS]
    if unknown:
        print(f"unknown tool(s) {unknown}; expected some of: {', '.join(TOOLS)}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="path-without-") as folder:
        env = {**os.environ, "PATH": hidden_path(Path(folder), tools)}
        print(f"hidden from PATH: {', '.join(tools)}", flush=True)
        return subprocess.call(command, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
