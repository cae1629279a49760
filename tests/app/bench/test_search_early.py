"""The early-stop benchmark: landscapes' loss curves and one search with and without
early stopping on the real scheduler (app/bench/curves.py, app/bench/search_early.py)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autoresearch_tui.app.bench.curves import curve, lines, point_count
from autoresearch_tui.app.bench.landscapes import ADDITIVE, CRASH
from autoresearch_tui.app.bench.search import main
from autoresearch_tui.app.bench.search_early import (
    EARLY,
    PLAIN,
    EarlyTrace,
    run_early,
    settings,
    summary,
    table,
)
from autoresearch_tui.search.early_config import EarlyStopConfig
from autoresearch_tui.search.early_stop import loss_at
from autoresearch_tui.search.output import OutputParser


def test_a_curve_ends_at_the_runs_value_and_parses_as_a_trainers_output() -> None:
    points = curve(ADDITIVE, {}, 1.05, "n0001:7")
    assert points[0][0] == 0.0 and points[-1] == (1.0, pytest.approx(1.05))
    assert points[0][1] > 2.5  # it starts high and comes down
    parser = OutputParser("val_bpb")
    parser.feed("\n".join(lines(points)) + "\n")
    parsed = parser.take_points()
    assert len(parsed) == len(points) == point_count({"LOG_EVERY": 100}) + 1
    assert parser.progress == 100.0
    assert [loss for _, loss, _ in parsed] == [pytest.approx(loss, abs=1e-6) for _, loss in points]


def test_a_landscapes_train_py_prints_its_curve_as_a_script(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(ADDITIVE.train_py())
    env = {**os.environ, "AR_SEED": "5"}
    out = subprocess.run([sys.executable, "train.py"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    parser = OutputParser("val_bpb")
    parser.feed(out)
    assert parser.value == pytest.approx(ADDITIVE.measure({}, 5)[0], abs=1e-6)
    assert parser.progress == 100.0 and len(parser.take_points()) == 101


def test_the_curve_shape_follows_the_constants() -> None:
    def at(consts: dict, p: float) -> float:
        value = loss_at(curve(ADDITIVE, consts, 1.0, "k"), p)
        assert value is not None
        return value

    # a long warm-up starts slowly; a higher LR descends faster (same final value)
    assert at({"WARMUP_RATIO": 0.3}, 0.2) > at({}, 0.2) + 0.1
    assert at({"MATRIX_LR": 0.08}, 0.4) < at({}, 0.4) - 0.02
    # a bigger model is slower early, whatever its final value
    assert at({"DEPTH": 8}, 0.4) > at({}, 0.4) + 0.01
    assert point_count({"LOG_EVERY": 50}) == 200
    # the same key gives the same curve; another seed another
    assert curve(ADDITIVE, {}, 1.0, "a") == curve(ADDITIVE, {}, 1.0, "a")
    assert curve(ADDITIVE, {}, 1.0, "a") != curve(ADDITIVE, {}, 1.0, "b")


def test_a_crashing_run_prints_its_curve_up_to_the_crash() -> None:
    consts = {"LR": 0.5}
    value, used, reason = CRASH.measure(consts, 0)
    assert value is None and used == 0.5 and "diverged" in reason
    points = curve(CRASH, consts, 1.1, "x", used)
    assert max(p for p, _ in points) == 0.5


def test_one_search_with_early_stopping_stops_losing_runs_and_one_without_never() -> None:
    early = run_early("interacting", EarlyStopConfig(True, 0.2, 0.0), 1, 6.0, 2, "explorer@mutator")
    assert early.variant == f"{EARLY} 0.2/0 slow 0.1"
    assert early.stopped > 0 and early.saved > 0
    assert early.experiments >= early.measured + early.stopped
    assert 0 <= early.false_then <= early.stopped and len(early.stopped_true) == early.stopped
    assert math.isfinite(early.final_true) and early.final_true <= early.base_true
    plain = run_early("interacting", EarlyStopConfig(), 1, 6.0, 2, "explorer@mutator")
    assert plain.variant == PLAIN and plain.stopped == 0 and plain.saved == 0
    assert plain.measured > 0
    # equal slot time: the stops bought runs
    assert early.experiments > plain.experiments


def test_settings_and_the_printout() -> None:
    assert settings("0.4:1.0,0.3") == [
        EarlyStopConfig(True, 0.4, 1.0),
        EarlyStopConfig(True, 0.3, 1.0),
    ]
    with pytest.raises(ValueError, match="--early 'x:1': use after:margin"):
        settings("x:1")
    with pytest.raises(ValueError, match=r"after in \(0, 1\)"):
        settings("1.5:1")
    plain = EarlyTrace("additive", PLAIN, 0, 15, 4, 1.07, final_true=1.02, experiments=50)
    plain.measured = 50
    early = EarlyTrace("additive", f"{EARLY} 0.4/1", 0, 15, 4, 1.07, final_true=1.01)
    early.experiments, early.measured, early.stopped, early.saved = 65, 45, 20, 9.0
    early.false_then, early.false_true = 1, 0
    text = table([early, plain])
    assert text.index(PLAIN) < text.index(EARLY)
    assert "65.0" in text and "9.00" in text
    line = summary([plain, early])
    assert line.startswith(f"{EARLY} 0.4/1: +30% experiments per slot-hour")
    assert "median -0.0100 (better on 1, worse on 0 of 1)" in line
    assert "false stops 1 (5.0%) would have been the best then" in line


def test_bad_flags_are_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--suite", "early-stop", "--early", "0.4:y"]) == 2
    assert "use after:margin, like 0.4:1.0" in capsys.readouterr().err
    assert main(["--suite", "early-stop", "--landscapes", "nope"]) == 2
    assert "unknown landscape 'nope'" in capsys.readouterr().err
    assert main(["--suite", "early-stop", "--slow-start", "fast"]) == 2
    assert "--slow-start 'fast': use numbers, like 0.1,0" in capsys.readouterr().err
