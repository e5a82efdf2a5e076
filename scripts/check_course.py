"""One course, one truth: figures that two notebooks both state must agree.

    python scripts/check_course.py     # after `make course` (which runs it); exit 1 on a disagreement

Notebooks record such figures with ``setup.share(key, value)`` into ``artifacts/facts/``;
each rule below names the figures it compares and its tolerance. A figure from a quick-mode
run is compared only with another from the same mode.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FACTS = ROOT / "artifacts" / "facts"


@dataclass(frozen=True)
class Rule:
    """Figures (``"nb03.key"``) that must satisfy ``holds``; ``tolerance`` says how, in words."""

    name: str
    figures: tuple[str, ...]
    holds: Callable[..., bool]
    tolerance: str


RULES = (
    Rule("a named Dim on a loop over the batch: 03 §5 and 09 §1a",
         ("nb03.named_dim_loop_batch3", "nb09.named_dim_loop_batch3"),
         lambda a, b: a == b, "the same verdict for batch 3"),
    Rule("resnet18 in ORT, batch 1, 224 px: 05's grid and 13's model alone",
         ("nb05.resnet18_ort_b1_224_ms", "nb13.resnet18_ort_b1_224_ms"),
         lambda a, b: max(a, b) <= 1.5 * min(a, b),
         "within 1.5× (13 times in the notebook's process with spinning off, 05 in workers)"),
    Rule("15: the load test at concurrency 1 against the per-request HTTP cost of §4",
         ("nb15.load_c1_p50_ms", "nb15.server_work_ms", "nb15.http_cost_ms"),
         lambda p50, work, http: 0.9 * work <= p50 <= 1.5 * (work + http) + 1.0,
         "p50 at c=1 between 0.9× the server's own work and 1.5× (work + HTTP cost) + 1 ms"),
)


def load_facts(folder: Path = FACTS) -> dict[str, dict]:
    """``{"nb05.key": {"value": ..., "quick": bool}}`` from every notebook's facts file."""
    facts = {}
    for path in sorted(folder.glob("*.json")):
        for key, entry in json.loads(path.read_text()).items():
            facts[f"{path.stem}.{key}"] = entry
    return facts


def check(facts: dict[str, dict]) -> list[tuple[str, str, str]]:
    """``(rule, "agree" | "DISAGREE" | "not run", detail)`` for each rule."""
    results = []
    for rule in RULES:
        entries = [facts.get(name) for name in rule.figures]
        if any(e is None for e in entries):
            missing = [n for n, e in zip(rule.figures, entries, strict=True) if e is None]
            results.append((rule.name, "not run", f"missing {', '.join(missing)}"))
            continue
        if len({e["quick"] for e in entries}) > 1:
            results.append((rule.name, "not run", "figures from quick and full runs mixed"))
            continue
        values = [e["value"] for e in entries]
        shown = ", ".join(f"{n.split('.', 1)[1]}={v:.2f}" if isinstance(v, float) else f"{n}={v}"
                          for n, v in zip(rule.figures, values, strict=True))
        verdict = "agree" if rule.holds(*values) else "DISAGREE"
        results.append((rule.name, verdict, f"{shown} ({rule.tolerance})"))
    return results


def main() -> int:
    results = check(load_facts())
    for name, verdict, detail in results:
        print(f"{verdict:>8}  {name}: {detail}")
    return 1 if any(verdict == "DISAGREE" for _, verdict, _ in results) else 0


if __name__ == "__main__":
    sys.exit(main())
