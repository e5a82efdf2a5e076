"""``python -m helpers.bench``: time engines on torchvision classifiers from the command line."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from helpers.bench.common import (
    EXPORTERS,
    MAX_BATCH,
    MAX_SIZE,
    MIN_SIZE,
    MODELS,
    BenchError,
    positive_ints,
    validate_model,
)
from helpers.bench.grid import GRIDS, GridSpec, run_grid
from helpers.bench.registry import describe_engines, parse_engines
from helpers.bench.report import busy_summary, format_table
from helpers.bench.timing import RunPolicy
from helpers.paths import relative

JSON_FIELDS = ("engine", "model", "batch", "size", "threads", "median_ms", "low_ms", "high_ms",
               "spread_pct", "rounds", "round_medians_ms", "round_busy", "quality", "quality_note",
               "status")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m helpers.bench",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Time PyTorch and ONNX Runtime on torchvision classifiers: one worker "
                    "process per engine, rounds interleaved across engines and shapes, the "
                    "machine watched for other programs.",
        epilog="engines:\n" + describe_engines())
    parser.add_argument("--model", default="resnet18",
                        help=f"model(s), comma-separated: {', '.join(MODELS)}")
    parser.add_argument("--batch", default="1", help="batch size(s), comma-separated")
    parser.add_argument("--size", default="224", help="input size(s) in pixels per side")
    parser.add_argument("--engines", default="torch,ort", help="comma-separated (listed below)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per cell (interleaved)")
    parser.add_argument("--repeats", type=int, default=10, help="most timed runs per round")
    parser.add_argument("--min-runs", type=int, default=None,
                        help="fewest timed runs per round (default: min(2, repeats))")
    parser.add_argument("--max-seconds", type=float, default=0.5,
                        help="stop a round after this long once --min-runs are done")
    parser.add_argument("--warmup", type=int, default=2,
                        help="warm-up runs per round, the cold first run included (at least "
                             "two when 2 or more: ORT's second run is still warming up)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for every engine (default: one per physical core)")
    parser.add_argument("--exporter", choices=EXPORTERS, default="legacy",
                        help="ONNX exporter for the ORT files (default legacy)")
    parser.add_argument("--grid", choices=sorted(GRIDS), default=None,
                        help="a predefined grid instead of --model/--batch/--size/--engines")
    parser.add_argument("--report", type=Path, default=None,
                        help="folder for results.csv, results.json and summary.md")
    parser.add_argument("--reuse", action="store_true",
                        help="return the report in --report if made here with the same settings")
    parser.add_argument("--format", choices=("json", "table"), default="table",
                        help="json: one object per cell per line; table: for people")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("FIRST", "SECOND"),
                        help="compare two report folders (findings and headline); exit 1 "
                             "when they disagree")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    return parser


def spec_from_args(args: argparse.Namespace) -> GridSpec:
    """The grid asked for on the command line (validated)."""
    if args.grid:
        base = GRIDS[args.grid]
        return replace(base, threads=args.threads or base.threads, exporter=args.exporter)
    models = tuple(validate_model(m.strip()) for m in args.model.split(","))
    min_runs = args.min_runs if args.min_runs is not None else min(2, max(args.repeats, 1))
    policy = RunPolicy(warmup=args.warmup, warmup_s=0.3, warmup_min=min(args.warmup, 2),
                       repeats=args.repeats, min_runs=min_runs, max_seconds=args.max_seconds,
                       rounds=args.rounds)
    return GridSpec(models=models, sizes=positive_ints(args.size, "sizes", MIN_SIZE, MAX_SIZE),
                    batches=positive_ints(args.batch, "batch sizes", 1, MAX_BATCH),
                    engines=tuple(parse_engines(args.engines)), policy=policy,
                    threads=args.threads, exporter=args.exporter)


def json_line(record: dict[str, Any], machine: dict[str, Any]) -> str:
    """One cell as JSON: the key fields first, the machine's busy-ness with it."""
    ordered = {k: record.get(k) for k in JSON_FIELDS}
    ordered.update({k: v for k, v in record.items() if k not in ordered and k != "round_data"})
    ordered["machine_busy_rounds"] = f"{machine.get('rounds_busy')}/{machine.get('rounds_total')}"
    return json.dumps(ordered, default=str)


def compare_main(first: Path, second: Path) -> int:
    """``--compare A B``: print the two runs' findings and headline side by side."""
    from helpers.bench.report import compare_runs, comparison_markdown, load_report

    runs = [load_report(folder) for folder in (first, second)]
    for folder, run in zip((first, second), runs, strict=True):
        if run is None:
            print(f"error: no results.json in {relative(folder)}", file=sys.stderr)
            return 2
    result = compare_runs(*runs)
    print(comparison_markdown(result))
    return 0 if result["same"] else 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # workers start here: no parser (its engine list would import every engine's library)
    if argv[:1] == ["--serve"]:
        from helpers.bench.worker import exit_worker, serve_main

        serve_main()
        exit_worker()
    if argv[:1] == ["--worker"] and len(argv) == 2:
        from helpers.bench.worker import exit_worker, worker_main

        print(json.dumps(worker_main(argv[1]), default=str), flush=True)
        exit_worker()
    args = build_parser().parse_args(argv)
    if args.compare:
        return compare_main(*args.compare)
    try:
        spec = spec_from_args(args)
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with contextlib.redirect_stdout(sys.stderr):  # stdout carries only the results
        result = run_grid(spec, args.report, progress=not args.no_progress, reuse=args.reuse)
    print(busy_summary(result.machine), file=sys.stderr)
    if args.format == "json":
        for record in result.records:
            print(json_line(record, result.machine))
    else:
        print(format_table(result.records))
        if args.report is not None:
            print(f"\nwall time {result.wall_s / 60:.1f} min; report in {relative(args.report)}/ "
                  "(results.csv, results.json, summary.md)")
    failed = [r for r in result.records if r.get("status") == "error"]
    for record in failed:
        print(f"error: {record['engine']} {record.get('model')} b{record.get('batch')} "
              f"{record.get('size')}: {record.get('note')}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
