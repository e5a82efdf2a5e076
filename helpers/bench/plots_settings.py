"""Figures of a settings comparison (notebook 06): a thread sweep and the costliest nodes of a
profile, each with its conditions (model, batch, threads, rounds, machine) stated."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from helpers.show.colors import engine_color


def settings_conditions(records: Sequence[dict[str, Any]]) -> str:
    """'3 rounds (0 on a busy machine); Intel Xeon …, 2 physical cores': a comparison's caption."""
    from helpers.sysinfo import cpu_model, physical_cores

    first = next((r for r in records if r.get("status") == "ok"), records[0] if records else {})
    return (f"{first.get('rounds', '?')} rounds ({first.get('busy_rounds', 0)} on a busy "
            f"machine); {cpu_model()[:50]}, {physical_cores()} physical cores")


def shape_of(records: Sequence[dict[str, Any]]) -> str:
    """'resnet18 b1 224×224': the model and input shape the records measured."""
    r = records[0] if records else {}
    return f"{r.get('model')} b{r.get('batch')} {r.get('size')}×{r.get('size')}"


def plot_thread_sweep(table, records: Sequence[dict[str, Any]], engine: str = "ort"):
    """Latency against ``intra_op_num_threads`` with bars from the fastest to the slowest round.

    ``table``: a :func:`helpers.bench.compare.settings_table` indexed by thread count;
    ``records``: the comparison's records (for the conditions).
    """
    import matplotlib.pyplot as plt

    table = table.sort_index()
    fig, ax = plt.subplots(figsize=(5.8, 3.6))
    ax.errorbar(table.index, table["median_ms"],
                yerr=[table["median_ms"] - table["low_ms"], table["high_ms"] - table["median_ms"]],
                marker="o", capsize=4, color=engine_color(engine))
    ax.set_xticks(list(table.index))  # whole numbers only: there is no 1.5 threads
    ax.set_xlabel("intra_op_num_threads")
    ax.set_ylabel("latency (ms), bars: round range")
    ax.set_title(f"{shape_of(records)} in ORT: does another thread help?", fontsize=10)
    fig.text(0.5, 0.0, settings_conditions(records), ha="center", fontsize=8)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def plot_costliest_nodes(by_node, records: Sequence[dict[str, Any]], top: int = 10,
                         setting: str = "ALL"):
    """The ``top`` nodes by time per run (from ``profile_table(..., by="node")``), largest on top."""
    import matplotlib.pyplot as plt

    rows = by_node.head(top)[::-1]
    fig, ax = plt.subplots(figsize=(8, 0.3 * len(rows) + 1.6))
    ax.barh([f"{n} ({o})" for n, o in zip(rows["node"], rows["op"], strict=True)],
            rows["ms_per_run"], color=engine_color("ort"))
    ax.set_xlabel("time per run (ms)")
    threads = records[0].get("threads") if records else "?"
    ax.set_title(f"Which nodes cost most? {shape_of(records)}, ORT ({setting}), {threads} threads",
                 fontsize=10)
    fig.text(0.5, 0.0, "profiled rounds: " + settings_conditions(records), ha="center", fontsize=8)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig
