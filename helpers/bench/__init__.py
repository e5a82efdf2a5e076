"""Benchmarking that resists a noisy machine: the package notebooks 04–06 and 11 use.

Modules, one concern each: ``registry`` (the engines; how to add one), ``engines_core`` (the
built-in engines), ``store`` (weights, ONNX files and their variants), ``timing`` (run policy,
rounds, probe kernel, CPU used by others), ``worker`` (worker processes), ``grid`` (the grid,
measured in interleaved rounds), ``compare`` (one engine under several settings, e.g. your own
ORT ``SessionOptions``), ``session_settings`` (SessionOptions to JSON and back, for the
workers), ``ceiling`` (the machine's ceiling), ``report`` (report files), ``analysis`` (tables,
sanity checks, findings), ``plots`` and ``plots_settings``; the command line in ``__main__``::

    python -m helpers.bench --model resnet18 --batch 1 --size 224 --engines torch,ort --format json
    python -m helpers.bench --grid full --report reports/bench      # what `make bench` runs
"""

# ruff: noqa: F401  (this module re-exports the package's public names)
from __future__ import annotations

import os

from helpers.bench.analysis import (
    AGREE_TOLERANCE,
    Finding,
    check_agreement,
    compare_with_reference,
    family_engines,
    findings,
    findings_frame,
    headline,
    latency_table,
    memory_table,
    profile_table,
    reference_table,
    results_frame,
    speedup_table,
    suspect_cells,
    trusted,
)
from helpers.bench.ceiling import Ceiling, ceiling_from, ceiling_shares, machine_ceiling
from helpers.bench.common import MODELS, REFERENCE_SIZES, BenchError, validate_model
from helpers.bench.compare import (
    beyond_spread,
    compare_sessions,
    compare_settings,
    settings_table,
    which_matter,
)
from helpers.bench.grid import (
    GRID_ENGINES,
    GRIDS,
    Cell,
    GridSpec,
    grid_settings,
    measure_cell,
    run_grid,
)
from helpers.bench.loaders_core import OPT_LEVELS
from helpers.bench.plots import (
    conditions,
    plot_baselines,
    plot_ceiling_share,
    plot_images_per_second,
    plot_latency,
    plot_memory,
    plot_speedup,
)
from helpers.bench.plots_settings import plot_costliest_nodes, plot_thread_sweep
from helpers.bench.registry import (
    ENGINE_LABELS,
    Engine,
    Job,
    engine_label,
    engine_names,
    engines,
    get_engine,
    parse_engines,
    register_engine,
)
from helpers.bench.report import GridResult, busy_summary, format_table, load_report, write_report
from helpers.bench.session_settings import build_options, describe_options
from helpers.bench.store import ModelStore, model_gflop, register_variant
from helpers.bench.timing import (
    FULL_POLICY,
    QUICK_POLICY,
    CpuWatch,
    RunPolicy,
    combine_rounds,
    probe_kernel_ms,
    summarize_times,
    time_runs,
)
from helpers.bench.worker import WORKER_ENV, measure, parse_worker_output

if os.environ.get(WORKER_ENV) != "1":  # a worker process only measures: no tables (pandas)
    from helpers.bench.compare_engines import compare_engines, engines_frame, time_files

MODEL_ENGINES = GRID_ENGINES  # the speed comparison's engines (compatibility name)

__all__ = [n for n in dir() if not n.startswith("_") and n not in ("annotations",)]
