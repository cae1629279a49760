"""The benchmark's synthetic landscapes: true values recomputed here from the formulas
written out independently, the noise, the crash region, and the rendered train.py."""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from autoresearch_tui.app.bench.landscapes import LANDSCAPES, evaluate, read_constants

L2 = math.log2


def additive(lr, wd, warmup, depth, batch, qk, act) -> float:
    return (
        1.0 + 0.01 * L2(lr / 0.1) ** 2 + 0.004 * L2(wd / 0.025) ** 2 + 0.3 * (warmup - 0.2) ** 2
        + 0.008 * L2(depth / 8) ** 2 + 0.005 * L2(batch / 64) ** 2 + (0 if qk else 0.008)
        + {"relu": 0.008, "gelu": 0.002, "silu": 0.0}[act]
    )  # fmt: skip


def interacting(lr, batch, depth, width, warmup) -> float:
    x, y = L2(lr), L2(batch)
    return (
        1.0 + 0.015 * (x - 0.5 * y + 7) ** 2 + 0.006 * (y - 7) ** 2
        + 0.006 * (L2(depth * width) - 13) ** 2 + 0.004 * (L2(width / depth) - 7) ** 2
        + 0.5 * max(0.0, x + 4) * (warmup - 0.15) ** 2
    )  # fmt: skip


def deceptive(lr, batch, warmup, qk) -> float:
    return (
        1.0 + 0.08 * (L2(lr) - 0.5 * L2(batch) + 6.64) ** 2 + 0.002 * (L2(batch) - 8) ** 2
        + 0.3 * (warmup - 0.2) ** 2 + (0 if qk else 0.006)
    )  # fmt: skip


def crash(lr, warmup, depth, width, qk) -> float | None:
    if depth * width > 8192 or lr > 0.1 * (1 + 2 * warmup):
        return None
    return (
        1.0 + 0.03 * L2(lr / 0.16) ** 2 + 0.015 * L2(depth * width / 8192) ** 2
        + 0.1 * (warmup - 0.3) ** 2 + (0 if qk else 0.005)
    )  # fmt: skip


POINTS = [
    ("additive", {}, additive(0.04, 0.1, 0.05, 4, 32, False, "relu")),
    ("additive", {"MATRIX_LR": 0.1, "WEIGHT_DECAY": 0.025, "WARMUP_RATIO": 0.2, "DEPTH": 8,
                  "BATCH_SIZE": 64, "QK_NORM": True, "ACT": "silu"}, 1.0),
    ("additive", {"MATRIX_LR": 0.05, "ACT": "gelu", "SEED": 7, "LOG_EVERY": 3},
     additive(0.05, 0.1, 0.05, 4, 32, False, "gelu")),
    ("interacting", {}, interacting(0.02, 16, 4, 256, 0.05)),
    ("interacting", {"LR": 0.088, "BATCH_SIZE": 128, "DEPTH": 8, "WIDTH": 1024,
                     "WARMUP_RATIO": 0.15}, interacting(0.088, 128, 8, 1024, 0.15)),
    ("deceptive", {}, deceptive(0.04, 16, 0.1, False)),
    ("deceptive", {"BATCH_SIZE": 32}, deceptive(0.04, 32, 0.1, False)),
    ("deceptive", {"BATCH_SIZE": 32, "LR": 0.06}, deceptive(0.06, 32, 0.1, False)),
    ("crash", {}, crash(0.04, 0.05, 4, 512, False)),
    ("crash", {"LR": 0.16, "WARMUP_RATIO": 0.3, "DEPTH": 8, "WIDTH": 1024, "QK_NORM": True}, 1.0),
    ("crash", {"LR": 0.12}, None),  # diverges: LR above 0.1 * (1 + 2 * warm-up)
    ("crash", {"DEPTH": 32}, None),  # out of memory
]  # fmt: skip


@pytest.mark.parametrize(("name", "consts", "want"), POINTS)
def test_true_values_match_the_formulas(name: str, consts: dict, want: float | None) -> None:
    got = LANDSCAPES[name].true_value(consts)
    if want is None:
        assert got is None
    else:
        assert got is not None and math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-12)


def test_the_ridge_is_deceptive_and_the_optimum_is_reachable() -> None:
    d = LANDSCAPES["deceptive"]
    base = d.true_value({})
    assert d.true_value({"BATCH_SIZE": 32}) > base  # type: ignore[operator]  # one step: worse
    for lr in (0.03, 0.05, 0.06, 0.08):  # LR alone: worse
        assert d.true_value({"LR": lr}) > base  # type: ignore[operator]
    assert d.true_value({"BATCH_SIZE": 32, "LR": 0.06}) < base  # type: ignore[operator]


def test_noise_is_gaussian_seeded_and_the_seed_constant_moves_it() -> None:
    a = LANDSCAPES["additive"]
    runs = [a.measure({}, seed)[0] for seed in range(400)]
    assert abs(statistics.fmean(runs) - a.true_value({})) < 4 * a.noise / 20  # type: ignore[arg-type,operator]
    assert 0.8 * a.noise < statistics.stdev(runs) < 1.2 * a.noise  # type: ignore[arg-type]
    assert a.measure({}, 3) == a.measure({}, 3)  # a deterministic trainer
    assert a.measure({"SEED": 1}, 3)[0] != a.measure({}, 3)[0]  # a seed edit: another draw
    assert LANDSCAPES["crash"].measure({"DEPTH": 32}, 0) == (None, 0.05, "CUDA out of memory")


def test_rendered_train_py_reads_back_and_runs_as_a_script(tmp_path: Path) -> None:
    for landscape in LANDSCAPES.values():
        source = landscape.train_py()
        assert read_constants(source) == landscape.base
        (tmp_path / "train.py").write_text(source)
        env = {**os.environ, "AR_SEED": "5"}
        out = subprocess.run([sys.executable, "train.py"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
        printed = float(out.strip().splitlines()[-1].split(":")[1])
        assert math.isclose(printed, evaluate(landscape, {"train.py": source}, 5)[0], abs_tol=1e-6)  # type: ignore[arg-type]


def test_the_bench_runs_the_real_scheduler_on_a_landscape() -> None:
    """A smoke test of `bench search`'s in-process executor and simulated clock."""
    from autoresearch_tui.app.bench.search_runs import run_landscape
    from autoresearch_tui.app.bench.search_scores import reach

    trace = run_landscape("additive", "best-first", 0, 12, 2, "explorer@mutator")
    base = LANDSCAPES["additive"].true_value({})
    assert len(trace.best_true) == 12 and trace.base_true == base
    assert trace.reruns >= 2  # the base's calibration runs
    assert all(b <= base + 1e-12 for b in trace.oracle)  # the best true value run so far
    assert trace.sim_time == sorted(trace.sim_time) and trace.sim_time[-1] > 0
    ratchet = run_landscape("additive", "ratchet", 0, 12, 2, "explorer@mutator")
    assert ratchet.reruns == 0 and ratchet.merges == 0
    assert reach([1.0, 0.9, 0.8], 0.9) == 2 and reach([1.0], 0.5) == math.inf


def test_scores_compare_at_equal_experiments_and_at_equal_wall_clock() -> None:
    from autoresearch_tui.app.bench.search_runs import Trace
    from autoresearch_tui.app.bench.search_scores import at_time, score

    # the ratchet: one experiment per time unit; best-first: two per time unit
    ratchet = Trace("additive", "ratchet", 0, 1.0, best_true=[0.9, 0.8, 0.7, 0.6],
                    sim_time=[1.0, 2.0, 3.0, 4.0])  # fmt: skip
    tree = Trace("additive", "best-first", 0, 1.0, best_true=[1.0, 0.85, 0.75, 0.65],
                 sim_time=[1.0, 1.0, 2.0, 2.0])  # fmt: skip
    assert at_time(ratchet, 0.5) == 1.0 and at_time(ratchet, 2.0) == 0.8
    ratchet_row, tree_row = score([ratchet, tree], 4)
    assert ratchet_row.final[1] == 0.6 and math.isinf(tree_row.reach_median)  # never 0.6
    assert tree_row.ratchet_same_time == 0.8 and tree_row.lower_same_time == 1  # 0.65 < 0.8
