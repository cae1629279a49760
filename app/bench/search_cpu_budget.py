"""The cpu-train suite's slot budget, early-stop accounting and fresh-seed re-runs
(app/bench/search_cpu.py runs the searches; docs/BENCHMARKS.md).

Slot time is counted in run-lengths of training tokens, not seconds, so that it repeats
whatever the machine's load: a run that ends (measured, crashed, timed out) costs one
run-length, a run stopped early the fraction of its tokens it trained (its `stopped at
46%` reason). `spend` keeps a search within `budget` run-lengths: a run starts only while
the finished runs' cost plus one run-length per run in flight is under it; the search
stops when that is spent and nothing runs. `StopCounter` notes each stopped run and the
best measured mean when it was stopped; `judge_stops` re-runs every stopped commit to the
end with its own seed, to know whether it would have become the best (a false stop).
"""

from __future__ import annotations

import asyncio
import math
import re
import shutil
import statistics
import subprocess
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from autoresearch_tui.search.config import Config
from autoresearch_tui.search.events import Event, NodeChanged
from autoresearch_tui.search.model import FINISHED, ROOT_ID, Node
from autoresearch_tui.search.output import OutputParser
from autoresearch_tui.search.processes import experiment_env
from autoresearch_tui.search.scheduler import Scheduler
from autoresearch_tui.search.tree import Tree

_STOPPED_AT = re.compile(r"stopped at (\d+(?:\.\d+)?)%")
POLL_S = 0.25  # how often `spend` looks at the tree (a bench's loop, not a test's wait)


def run_cost(node: Node) -> float:
    """The run-lengths of tokens a finished run trained: a stopped run's fraction, else 1."""
    if node.status == "stopped":
        found = _STOPPED_AT.search(node.reason)
        return float(found.group(1)) / 100 if found else 1.0
    return 1.0


def spent(tree: Tree) -> float:
    """Run-lengths spent by the finished runs of the tree."""
    return sum(run_cost(n) for n in tree if n.status in FINISHED and n.started_at is not None)


async def spend(scheduler: Scheduler, budget: float) -> None:
    """Hold new runs while the budget is committed; stop the search when it is spent.
    The scheduler runs with `exit_when_idle=False`, so `paused` holds runs too."""
    while not scheduler.stopping:
        await asyncio.sleep(POLL_S)
        running = len(scheduler.busy)
        full = spent(scheduler.tree) + running >= budget - 1e-9
        if full != scheduler.paused:
            scheduler.paused = full
            scheduler.wake()
        if (full or scheduler.personas.exhausted) and running == 0:
            scheduler.stop()  # spent, or no agent can propose any more


@dataclass
class Stop:
    """A run stopped early: its commit and seed, and the best measured mean then."""

    node_id: str
    commit: str
    seed: int
    best_then: float | None
    would_be: float | None = None  # its value run to the end (filled by judge_stops)


class StopCounter:
    """A scheduler listener noting every stopped run once."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self.stops: dict[str, Stop] = {}

    def __call__(self, event: Event) -> None:
        node = event.node if isinstance(event, NodeChanged) else None
        if node is None or node.status != "stopped" or node.id in self.stops:
            return
        tree = self.scheduler.tree
        best = tree.best()
        then = tree.metric_mean(best.id) if best is not None else None
        self.stops[node.id] = Stop(node.id, node.commit, node.seed, then)


def fresh_values(
    config: Config, ws: Path, runs: Sequence[tuple[str, int]], slots: int
) -> list[float | None]:
    """The metric of each (commit, seed) run to the end, `slots` at a time, each in a
    detached worktree of `ws` (None: no value printed)."""
    tmp = Path(tempfile.mkdtemp(prefix="ar-bench-eval-"))

    def one(i: int, commit: str, seed: int) -> float | None:
        where = tmp / f"r{i}"
        subprocess.run(["git", "-C", str(ws), "worktree", "add", "-q", "--detach",
                        str(where), commit], check=True, capture_output=True)  # fmt: skip
        out = subprocess.run(
            config.target.run, shell=True, cwd=where, capture_output=True, text=True,
            env=experiment_env({"AR_SEED": str(seed)}), timeout=config.target.timeout_s,
        )  # fmt: skip
        parser = OutputParser(config.target.metric, config.target.metric_regex)
        parser.feed(out.stdout)
        parser.close()
        return parser.value

    try:
        with ThreadPoolExecutor(max(1, slots)) as pool:
            futures = [pool.submit(one, i, c, s) for i, (c, s) in enumerate(runs)]
            return [f.result() for f in futures]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run(["git", "-C", str(ws), "worktree", "prune"], capture_output=True)


def fresh_mean(config: Config, ws: Path, commit: str, eval_runs: int, slots: int) -> float:
    """The mean metric of `eval_runs` runs of `commit` with fresh seeds (10000, 10001...);
    NaN when none printed one (or `eval_runs` is 0)."""
    runs = [(commit, 10_000 + i) for i in range(eval_runs)]
    values = [v for v in fresh_values(config, ws, runs, slots) if v is not None]
    return statistics.fmean(values) if values else math.nan


@dataclass
class Accounting:
    """What a search ran and what its early stops cost and saved."""

    experiments: int = 0  # finished runs after the base's first, stopped ones included
    measured: int = 0
    stopped: int = 0
    spent: float = 0.0  # run-lengths of tokens, every run included
    saved: float = 0.0  # run-lengths the stops saved
    saved_s: float = 0.0  # the engine's count: parent's run time minus the stopped run's
    false_then: int = 0  # would have beaten the best measured mean when it was stopped
    false_final: int = 0  # would have beaten the search's final best (its measured mean)
    would_be: list[float] = field(default_factory=list)


def account(tree: Tree, stops: dict[str, Stop], config: Config, ws: Path, slots: int) -> Accounting:
    """Count the tree's runs; re-run each stopped commit to the end (its own seed)."""
    from autoresearch_tui.search.early_stopping import early_stops

    out = Accounting()
    finished = [n for n in tree if n.status in FINISHED and n.started_at is not None]
    out.experiments = sum(1 for n in finished if n.id != ROOT_ID)
    out.measured = sum(1 for n in finished if n.id != ROOT_ID and n.has_metric)
    out.spent = sum(run_cost(n) for n in finished)
    stopped = [n for n in finished if n.status == "stopped"]
    out.stopped = len(stopped)
    out.saved = sum(1.0 - run_cost(n) for n in stopped)
    out.saved_s = early_stops(tree).saved_s
    for node in stopped:  # a stop the listener missed: judged against the final best only
        stops.setdefault(node.id, Stop(node.id, node.commit, node.seed, None))
    judged = [stops[n.id] for n in stopped]
    values = fresh_values(config, ws, [(s.commit, s.seed) for s in judged], slots)
    best = tree.best()
    final = tree.metric_mean(best.id) if best is not None else None
    for stop, value in zip(judged, values, strict=True):
        stop.would_be = value
        if value is None:
            continue
        out.would_be.append(value)
        out.false_then += stop.best_then is not None and value < stop.best_then
        out.false_final += final is not None and value < final
    return out
