"""search/counts.py: one definition of the counts (experiments, base runs, re-runs, failed
proposals, running), the rate shown once it means something, and a cap that belongs to
the search (saved in state.db), checked on a real scheduler, store and git workspace."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from synthetic import InProcess, ScriptedProposer

from autoresearch_tui.search.config import load_config
from autoresearch_tui.search.counts import (
    Counts,
    cap_reached,
    finished_line,
    rate_per_hour,
    saved_cap,
    settle_cap,
)
from autoresearch_tui.search.executor import Job
from autoresearch_tui.search.model import Node, NodeKind, NodeStatus
from autoresearch_tui.search.scheduler import Scheduler
from autoresearch_tui.search.store import Store
from autoresearch_tui.search.tree import Tree

T0 = 1_000_000.0


def node(
    nid: str,
    parent: str | None,
    status: NodeStatus,
    kind: NodeKind = "improve",
    started: float | None = None,
    finished: float | None = None,
) -> Node:
    metric = 1.0 if status == "done" else None
    return Node(nid, parent, status, kind, metric=metric, started_at=started, finished_at=finished)


def a_tree() -> Tree:
    """The base with two calibration runs (one still waiting), three experiments (one
    crashed, one running), a confirmation re-run, a failed proposal and a ready child."""
    return Tree(
        "min",
        [
            node("n0000", None, "done", "root", T0, T0 + 10),
            node("n0001", "n0000", "done", "rerun", T0 + 10, T0 + 20),
            node("n0002", "n0000", "ready", "rerun"),
            node("n0003", "n0000", "done", "improve", T0 + 20, T0 + 30),
            node("n0004", "n0003", "crashed", "debug", T0 + 30, T0 + 40),
            node("n0005", "n0003", "done", "rerun", T0 + 40, T0 + 50),
            node("n0006", "n0003", "running", "improve", T0 + 50),
            node("n0007", "n0003", "failed"),
            node("n0008", "n0003", "ready"),
        ],
    )


def test_counts_of_a_tree() -> None:
    counts = Counts.of(a_tree())
    assert (counts.experiments, counts.reruns, counts.base_runs) == (4, 1, 2)
    assert (counts.failed, counts.running) == (1, 1)
    assert counts.outcomes == {"crashed": 1, "done": 2}
    assert counts.text() == "4 experiments (1 re-run, 1 running) + 2 base runs, 1 failed proposal"
    assert counts.text(6).startswith("4 of 6 experiments (")
    # a run begun whose node is not marked running yet counts as started
    assert Counts.of(a_tree(), running={"n0008"}).experiments == 5
    assert Counts.of(a_tree(), running={"n0002"}).base_runs == 3
    assert Counts.of(a_tree()).as_json(6)["cap"] == 6
    assert Counts.of(Tree("min")).text() == "0 experiments"


def test_the_rate_waits_until_it_means_something() -> None:
    tree = a_tree()
    # this process's view: finished since it started, over its time
    assert rate_per_hour(tree, now=T0 + 45, since=T0) is None  # 3 finished, under a minute
    assert rate_per_hour(tree, now=T0 + 3600, since=T0 + 45) is None  # one since the start
    assert rate_per_hour(tree, now=T0 + 3600, since=T0) == 3.0
    # a watched run: the tree's own timestamps (a run is running: up to now)
    assert rate_per_hour(tree, now=T0 + 1800) == 6.0
    tree["n0006"].status, tree["n0006"].finished_at = "done", T0 + 360  # then over: to its end
    assert rate_per_hour(tree, now=T0 + 99_999) == 40.0
    assert rate_per_hour(Tree("min"), now=T0) is None


def test_a_cap_is_saved_and_more_extends_it() -> None:
    store = Store(None)
    assert settle_cap(store, None, None, experiments=7) is None  # no cap, none saved
    assert settle_cap(store, 6, None, experiments=0) == 6 and saved_cap(store) == 6
    assert settle_cap(store, None, None, experiments=6) == 6  # a restart: the same total
    assert settle_cap(store, None, 4, experiments=6) == 10 and saved_cap(store) == 10
    assert settle_cap(store, 3, None, experiments=10) == 3  # a total, even below the tree
    counts = Counts(experiments=10)
    assert cap_reached(counts, 3) and not cap_reached(counts, None)
    assert not cap_reached(counts, 11)
    assert "finished: 10 of 10 experiments" in finished_line(counts, 10)
    assert "press s for 5 more" in finished_line(counts, 10, tui=True, more=5)


def search(workspace: Path, start: int, **kw: object) -> Scheduler:
    """A search on one slot whose proposals (numbered from `start`) are all distinct."""
    config = load_config(workspace, check_clean=False)
    config = dataclasses.replace(
        config, search=dataclasses.replace(config.search, base_runs=2, confirm_runs=0)
    )
    script = [[("import math", f"import math  # {i}")] for i in range(start, start + 12)]
    s = Scheduler(config, [ScriptedProposer(script)], executor=InProcess(measure),
                  slots=InProcess(measure).slots(1), **kw)  # type: ignore[arg-type]  # fmt: skip
    asyncio.run(s.run())
    return s


def measure(job: Job) -> float:
    return 1.0 + job.seed / 1000 + len(job.files["train.py"]) / 1e6


def test_the_cap_is_the_searchs_not_the_process(workspace: Path) -> None:
    first = search(workspace, 0, max_experiments=3)
    counts = Counts.of(first.tree)
    assert (counts.experiments, counts.base_runs) == (3, 2) and not first.interrupted
    assert search(workspace, 20).started == 3  # a restart without flags: the saved cap
    more = search(workspace, 40, more=2)
    assert more.started == 5 and more.max_experiments == 5
    assert Counts.of(more.tree).experiments == 5 and Counts.of(more.tree).base_runs == 2
    assert search(workspace, 60, max_experiments=5).started == 5
