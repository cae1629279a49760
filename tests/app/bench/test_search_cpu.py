"""The benchmark's cpu-train suite: real searches on the built-in trainer with a budget in
training tokens, so re-evaluating the base with the same seeds gives the same value."""

from __future__ import annotations

import math
import re
import subprocess
from pathlib import Path

import pytest

from autoresearch_tui.app.bench.search_cpu import EARLY, cpu_config, run_cpu_train
from autoresearch_tui.app.bench.search_cpu_budget import run_cost, spent
from autoresearch_tui.search.model import Node
from autoresearch_tui.search.tree import Tree
from autoresearch_tui.trainer.workspace import init_workspace

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]


@pytest.fixture
def base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tiny cpu-preset workspace (2 layers, 4,096 tokens a run), data under tmp_path."""
    monkeypatch.setenv("AR_DATA_DIR", str(tmp_path / "data"))
    for name in ("AR_TIME_BUDGET", "AR_TOKEN_BUDGET"):
        monkeypatch.delenv(name, raising=False)
    small = {"prepare.py": {"EVAL_TOKENS": 4096, "CPU_THREADS": 1}, "train.py": {"DEPTH": 2}}
    base = init_workspace(
        tmp_path / "base", budget_tokens=4096, constants=small, log=lambda s: None
    )  # fmt: skip
    assert "TOKEN_BUDGET = 4096" in (base / "prepare.py").read_text()
    toml = base / "autoresearch.toml"  # the data is under /tmp: private in a sandbox
    toml.write_text(
        toml.read_text().replace('slots  = "auto"', 'slots  = "auto"\nsandbox = "none"')
    )
    subprocess.run([*GIT, "commit", "-qam", "no sandbox"], cwd=base, check=True)
    return base


@pytest.mark.slow
def test_the_bases_re_evaluation_repeats_itself(base: Path) -> None:
    first = run_cpu_train("ratchet", 0, experiments=3, slots=1, eval_runs=1, base=base)
    again = run_cpu_train("ratchet", 0, experiments=3, slots=1, eval_runs=1, base=base)

    assert math.isfinite(first.base_true) and 0 < first.base_true < 8
    assert again.base_true == first.base_true  # the same commit and seeds: the same value
    assert first.crashes == 0
    assert first.spent == 3 and first.experiments == 2  # the slot budget, base's run included


@pytest.mark.slow
def test_the_tuner_variant_proposes_through_the_tuner(base: Path) -> None:
    toml = base / "autoresearch.toml"  # a tuned model size may be slow: time it out soon
    toml.write_text(re.sub(r"timeout_s *= *\d+", "timeout_s = 60", toml.read_text()))
    subprocess.run([*GIT, "commit", "-qam", "timeout 60 s"], cwd=base, check=True)
    trace = run_cpu_train(
        "ratchet+tpe", 0, experiments=2, slots=1, eval_runs=0, base=base, base_true=1.0
    )  # no fresh-seed runs

    assert trace.tuner_children >= 1  # the child came from `tuner@optuna`
    assert trace.experiments == 1 and trace.spent == 2


def test_the_early_variant_turns_early_stopping_on(tmp_path: Path) -> None:
    base = init_workspace(tmp_path / "ws", budget_tokens=4096, prepare_data=False, log=print)
    assert cpu_config(base, EARLY, 0).early_stop.enabled
    assert cpu_config(base, EARLY, 0).search.policy == "best-first"
    assert not cpu_config(base, "best-first", 0).early_stop.enabled


def test_a_stopped_run_costs_the_share_of_tokens_it_trained() -> None:
    tree = Tree("min")
    reason = "stopped at 46%: loss 3.4100 vs parent 3.2800 at the same point (margin 0.0500)"
    for node in (
        Node("n0000", None, status="done", metric=3.0, started_at=0.0, finished_at=1.0),
        Node("n0001", "n0000", status="stopped", reason=reason, started_at=1.0, finished_at=2.0),
        Node("n0002", "n0000", status="running", started_at=2.0),
    ):
        tree.add(node)

    assert run_cost(tree["n0001"]) == pytest.approx(0.46)
    assert spent(tree) == pytest.approx(1.46)  # the run in flight is not spent yet


def test_an_unknown_cpu_train_variant_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from autoresearch_tui.app.bench.search import main

    assert main(["--suite", "cpu-train", "--policies", "best-first,nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown policy 'nope'" in err and EARLY in err and err.count("\n") == 1
