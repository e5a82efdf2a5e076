"""helpers.bench.ceiling and the speed figures: the ceiling's verdicts, shares of it, and figures
that state their conditions. No timing is measured or asserted."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from helpers import bench
from helpers.bench.ceiling import ceiling_from, ceiling_shares
from helpers.bench.plots_settings import settings_conditions

PEAK = {"peak_gflops": 100.0, "ghz": 2.0}


def test_ceiling_verdicts_follow_the_measured_multiply():
    turbo = ceiling_from(PEAK, {"matmul_gflops_best": 110.0, "ort-matmul_gflops_best": 90.0,
                                "matmul_gflops_median": 105.0})
    assert turbo.verdict == "turbo" and turbo.gflops == 110.0
    assert turbo.implied_ghz == pytest.approx(2.2)
    assert set(turbo.measured) == {"matmul", "ort-matmul"}, "medians are not ceilings"
    assert "2.20 GHz" in turbo.sentence()
    tight = ceiling_from(PEAK, {"matmul_gflops_best": 101.0})
    assert tight.verdict == "tight" and tight.gflops == 101.0 and tight.implied_ghz is None
    below = ceiling_from(PEAK, {"matmul_gflops_best": 60.0})
    assert below.verdict == "computed" and below.gflops == 100.0
    assert ceiling_from(PEAK, {}).gflops == 100.0
    unknown = ceiling_from({"peak_gflops": None, "ghz": None}, {"matmul_gflops_best": 60.0})
    assert unknown.verdict == "measured" and unknown.gflops == 60.0
    with pytest.raises(ValueError, match="no ceiling"):
        ceiling_from({"peak_gflops": None}, {})


def grid_frame() -> pd.DataFrame:
    rows = []
    for model in ("resnet18", "mobilenet_v3_small"):
        for batch in (1, 4):
            for size in (64, 224):
                for engine, factor in (("torch", 2.0), ("ort", 1.0), ("preprocess", 0.5)):
                    ms = factor * batch * size / 10
                    rows.append({"model": model, "batch": batch, "size": size, "engine": engine,
                                 "status": "ok", "quality": "ok", "median_ms": ms,
                                 "low_ms": 0.9 * ms, "high_ms": 1.1 * ms,
                                 "gflops_per_s": None if engine == "preprocess" else 50 / factor})
    return bench.results_frame(rows)


def test_ceiling_shares_are_percent_of_the_ceiling_for_model_engines_only():
    shares = ceiling_shares(grid_frame(), gflops=100.0)
    assert set(shares.engine) == {"torch", "ort"}
    assert (shares.loc[shares.engine == "ort", "percent"] == 50).all()
    assert (shares.loc[shares.engine == "torch", "percent"] == 25).all()


def titles(fig) -> str:
    texts = [ax.get_title() for ax in fig.axes] + [t.get_text() for t in fig.texts]
    return " | ".join([*texts, fig.get_suptitle()])


def test_speed_figures_say_what_they_show_and_under_which_conditions():
    frame = grid_frame()
    one = frame[(frame.model == "resnet18") & (frame.batch == 1) & (frame.engine != "preprocess")]
    fig = bench.plot_baselines(one, caption="2 threads, 3 rounds per cell; CPU")
    assert "resnet18, batch 1" in titles(fig) and "3 rounds" in titles(fig)
    with pytest.raises(bench.BenchError, match="one model at one batch"):
        bench.plot_baselines(frame[frame.engine != "preprocess"])
    per = bench.latency_table(frame)[["torch", "ort"]]
    per = per.div(per.index.get_level_values("batch"), axis=0)
    fig2 = bench.plot_images_per_second(per, 224, caption="2 threads")
    assert "batch 1 (pale) and batch 4 (solid)" in titles(fig2)
    ceiling = ceiling_from(PEAK, {"matmul_gflops_best": 80.0})
    fig3 = bench.plot_ceiling_share(ceiling_shares(frame, ceiling.gflops), ceiling,
                                    caption="2 threads")
    assert "resnet18, batch 1" in titles(fig3) and "100 GFLOP/s" in fig3.axes[0].get_ylabel()
    plt.close("all")


def test_settings_figures_state_model_shape_threads_and_rounds():
    records = [{"setting": t, "status": "ok", "model": "resnet18", "batch": 1, "size": 224,
                "threads": t, "rounds": 3, "busy_rounds": 0, "median_ms": 10.0 / t,
                "low_ms": 9.0 / t, "high_ms": 11.0 / t, "load_ms": 5.0} for t in (1, 2)]
    table = bench.settings_table(records, names=("threads",))
    fig = bench.plot_thread_sweep(table, records)
    assert "resnet18 b1 224×224" in titles(fig) and "3 rounds" in titles(fig)
    assert "3 rounds (0 on a busy machine)" in settings_conditions(records)
    by_node = pd.DataFrame({"node": ["a", "b"], "op": ["Conv", "Relu"], "ms_per_run": [2.0, 1.0]})
    fig2 = bench.plot_costliest_nodes(by_node, records[1:])
    assert "2 threads" in titles(fig2) and "resnet18 b1 224×224" in titles(fig2)
    plt.close("all")
