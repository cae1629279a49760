"""`parallel-greedy` (search/policies/parallel_greedy.py): waves of `slots` children of
the current best; the next wave starts from the best once the wave has finished. On a
hand-built tree, and on the real scheduler with an in-process executor."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

from synthetic import InProcess, ScriptedProposer, make_workspace, true_metric

from autoresearch_tui.search.config import load_config
from autoresearch_tui.search.executor import Job
from autoresearch_tui.search.model import Node
from autoresearch_tui.search.policies import POLICIES, make_policy
from autoresearch_tui.search.policies.parallel_greedy import ParallelGreedy
from autoresearch_tui.search.scheduler import Scheduler
from autoresearch_tui.search.tree import Tree


def test_a_wave_fills_waits_and_moves_to_the_best() -> None:
    assert "parallel-greedy" in POLICIES
    policy = make_policy("parallel-greedy", slots=2)
    tree = Tree("min", [Node("n0000", None, status="done", metric=1.0, kind="root")])
    assert policy.choose(tree) == "n0000"
    tree.add(Node("n0001", "n0000", status="proposing"))
    assert policy.choose(tree) == "n0000"
    tree.add(Node("n0002", "n0000", status="failed"))  # a failed proposal ran nothing
    assert policy.choose(tree) == "n0000"
    tree.add(Node("n0003", "n0000", status="running"))
    assert policy.choose(tree) is None  # the wave is full
    tree[n := "n0001"].status, tree[n].metric = "done", 0.9
    tree.touch()
    assert policy.choose(tree) is None  # n0003 still runs: the wave has not finished
    tree["n0003"].status, tree["n0003"].metric = "done", 0.8
    tree.touch()
    assert policy.choose(tree) == "n0003"  # the best starts the next wave


def measure(job: Job) -> float:
    ns: dict[str, Any] = {}
    exec(job.files["train.py"].split("def score")[0], ns)
    return true_metric(ns["LR"], ns["DEPTH"], ns["WARMUP"], ns["USE_BIAS"], ns["ACT"])


def test_waves_on_the_real_scheduler(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    config = load_config(ws, check_clean=False)
    search = dataclasses.replace(
        config.search, policy="parallel-greedy", base_runs=1, confirm_runs=0, merge=False
    )
    script = [
        [("LR = 0.04", "LR = 0.02")],
        [("LR = 0.04", "LR = 0.08")],  # the better one: the next wave grows from it
        [("DEPTH = 8", "DEPTH = 10")],
        [("DEPTH = 8", "DEPTH = 6")],
        [("WARMUP = 0.1", "WARMUP = 0.2")],
        [("WARMUP = 0.1", "WARMUP = 0.05")],
    ]
    s = Scheduler(dataclasses.replace(config, search=search), [ScriptedProposer(script)],
                  max_experiments=6, executor=InProcess(measure),
                  slots=InProcess(measure).slots(2))  # fmt: skip
    assert isinstance(s.policy, ParallelGreedy) and s.policy.slots == 2
    asyncio.run(s.run())
    parents = [s.tree[f"n000{i}"].parent for i in range(1, 7)]
    assert parents[:2] == ["n0000", "n0000"]
    assert parents[2:4] == ["n0002", "n0002"]  # LR 0.08 was the wave's best
    best_of_wave_2 = min(("n0003", "n0004"), key=lambda n: s.tree[n].metric or 9)
    assert parents[4:] == [best_of_wave_2, best_of_wave_2]
    # Every child of a wave started before any child of the next one.
    for later, earlier in ((3, 2), (5, 4)):
        assert s.tree[f"n000{later}"].started_at >= s.tree[f"n000{earlier}"].finished_at
