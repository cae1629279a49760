"""Early stopping in the running search: a run losing to its parent at the same point of
its curve is stopped, and its slot goes to the next experiment (docs/ARCHITECTURE.md §4).

`[search] early_stop = true` turns it on (off by default), `early_stop_after` (0.4: the
fraction of the run before which nothing is judged) and `early_stop_margin` (1.0, in
run-to-run noise sds of the loss at matched progress, pooled over the commits run more
than once: the base's calibration runs first). The rule itself is search/early_stop.py's
`judge`; this module decides which runs are judged, feeds one run's streamed points to it
(`Watch`, hooked into search/running.py) and stops the run through the executor's cancel
path, as a timeout does. Never judged: the base, re-runs, a node run to the end on the
person's request (`full_run`: `r` on a stopped node, `run_to_end`), a node without a
measured parent with a stored curve, a change `exempt` says is not comparable (the
learning-rate schedule, the budget, the logging), and every run before the noise of the
curves is measured. A stopped node is `stopped`: never a measured value, never a best, a
parent or a noise sample; its partial curve stays in state.db. `early_stops` counts the
slot time saved (the parent's run time minus the stopped run's).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autoresearch_tui.search.early_config import EarlyStopConfig
from autoresearch_tui.search.early_stop import Point, StopVerdict, exempt, judge, loss_at
from autoresearch_tui.search.early_stop import progress_points as curve_of
from autoresearch_tui.search.executor import RunResult
from autoresearch_tui.search.model import Node, better
from autoresearch_tui.search.noise import pooled_std
from autoresearch_tui.search.tree import Tree

if TYPE_CHECKING:  # the engine's context; `status` and the report read only the tree
    from autoresearch_tui.search.context import RunContext

log = logging.getLogger(__name__)
NOISE_GRID = 10  # progress points between `after` and the end where the noise is measured
Rows = Sequence[tuple[int, float, float, float]]  # stored points: step, loss, elapsed, %


# -- who is judged, against what -------------------------------------------------------
def comparable_parent(tree: Tree, node: Node) -> Node | None:
    """The measured parent a run is judged against (a merge: the better of its measured
    parents); None when no parent of it has a value."""
    parents = [tree[p] for p in [node.parent, *node.other_parents] if p and p in tree]
    best: tuple[Node, float] | None = None
    for parent in parents:
        mean = tree.metric_mean(parent.id)
        if (parent.has_metric and mean is not None) and (
            best is None or better(mean, best[1], tree.goal)
        ):
            best = parent, mean
    return best[0] if best is not None else None


def not_judged(tree: Tree, node: Node, config: EarlyStopConfig) -> str:
    """Why this run is never stopped early (before its curves are read), or ""."""
    if not config.enabled:
        return "early stopping is off"
    if node.kind == "root":
        return "the base"
    if node.kind == "rerun":
        return "a re-run"
    if node.full_run:
        return "run to the end on request"
    if comparable_parent(tree, node) is None:
        return "no measured parent"
    return ""


def noise_ids(tree: Tree) -> list[list[str]]:
    """The measured runs of every commit run more than once (its node, then its re-runs)."""
    groups = []
    for node in tree:
        if node.kind == "rerun" or not node.has_metric:
            continue
        runs = [node.id] + [
            c.id for c in tree.children(node.id) if c.kind == "rerun" and c.has_metric
        ]
        if len(runs) >= 2:
            groups.append(runs)
    return groups


def curve_noise(groups: Iterable[Sequence[Sequence[Point]]], after: float) -> float | None:
    """The pooled sd of one run's smoothed loss at the same progress, over the groups of
    curves of one commit and NOISE_GRID points from `after` to the end; None when no
    two curves of one commit reach them."""
    grid = [after + (1.0 - after) * i / NOISE_GRID for i in range(NOISE_GRID)]
    return pooled_std(
        [v for c in curves if (v := loss_at(c, progress)) is not None]
        for curves in groups
        for progress in grid
    )


# -- one run, judged as it streams -----------------------------------------------------
@dataclass
class Watch:
    """One run's judge: `add` its points as they stream; `run` awaits the executor's run
    and cancels it (the executor kills the process group) once the verdict is to stop."""

    parent: Sequence[Point]
    best: Sequence[Point] | None
    after: float
    margin: float  # in loss units
    budget_s: float | None  # the parent's run time: progress of a run that prints no (p%)
    rows: list[tuple[int, float, float, float]] = field(default_factory=list)
    verdict: StopVerdict | None = None
    stopped: bool = False  # the run was killed on the verdict (not ended by itself first)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, rows: Rows) -> None:
        if self.verdict is not None or not rows:
            return
        self.rows.extend(rows)
        run = curve_of(self.rows, self.budget_s)
        verdict = judge(run, self.parent, self.best, after=self.after, margin=self.margin)
        if verdict is not None:
            self.verdict = verdict
            self._stop.set()

    async def run(self, work: Awaitable[RunResult], log_path: Path | None = None) -> RunResult:
        """`work`'s result, or, stopped on the verdict, a result with no exit code (the
        log says why)."""
        start = time.monotonic()
        task = asyncio.ensure_future(work)
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # cancelled (a prune, a stop): the run stops, then we go
            task.cancel()
            stop.cancel()
            await asyncio.gather(task, stop, return_exceptions=True)
            raise
        stop.cancel()
        if task.done():
            return task.result()
        task.cancel()  # as a timeout: SIGTERM, then SIGKILL of the group
        await asyncio.gather(task, return_exceptions=True)
        self.stopped = True
        if log_path is not None and log_path.exists() and self.verdict is not None:
            with log_path.open("a") as log:
                log.write(f"\n[autoresearch-tui] {self.verdict.reason()} (early stop)\n")
        return RunResult(None, False, time.monotonic() - start)


def watched(
    watch: Watch | None, work: Awaitable[RunResult], log_path: Path | None = None
) -> Awaitable[RunResult]:
    """The executor's run as the caller awaits it: judged by `watch`, if any."""
    return work if watch is None else watch.run(work, log_path)


def stop_reason(watch: Watch | None, status: str) -> str:
    """The reason of a run stopped early (its verdict's), or "": not stopped, or the run
    is invalid (a changed readonly file outweighs a stop)."""
    if watch is None or not watch.stopped or watch.verdict is None or status == "invalid":
        return ""
    return watch.verdict.reason()


def _rows_of(store_rows: Callable[[str], Rows], ids: Iterable[str]) -> dict[str, Rows]:
    return {node_id: store_rows(node_id) for node_id in ids}


async def watch(ctx: RunContext, node: Node) -> Watch | None:
    """The judge of a run about to start, or None when it is never stopped early."""
    tree, config = ctx.tree, ctx.config.early_stop
    if not_judged(tree, node, config):
        return None
    parent = comparable_parent(tree, node)
    assert parent is not None  # not_judged said so
    editable = list(ctx.config.target.editable)
    try:  # an exempt change is known before any curve is read
        before = await ctx.threads.git(ctx.git.read_files, parent.commit, editable)
        after = await ctx.threads.git(ctx.git.read_files, node.commit, editable)
    except Exception:  # a commit or file git cannot read: judge nothing rather than guess
        log.warning("%s: files not read, never stopped early", node.id, exc_info=True)
        return None
    if exempt(before, after):
        return None
    best = tree.best()
    groups = noise_ids(tree)
    ids = {parent.id, *(g for group in groups for g in group)}
    if best is not None:
        ids.add(best.id)
    rows = await ctx.threads.db(_rows_of, ctx.store.point_rows, sorted(ids))

    def curve(run: Node) -> list[Point]:
        return curve_of(rows[run.id], run.run_seconds)

    parent_curve = curve(parent)
    sd = curve_noise([[curve(tree[i]) for i in group] for group in groups], config.after)
    if not parent_curve or not sd:
        return None  # no parent curve, or the noise not measured yet
    best_curve = curve(best) if best is not None and best.id != parent.id else None
    return Watch(
        parent=parent_curve,
        best=best_curve or None,
        after=config.after,
        margin=config.margin * sd,
        budget_s=parent.run_seconds,
    )


# -- the person's override, and the accounting ------------------------------------------
async def run_to_end(ctx: RunContext, node_id: str) -> Node:
    """`r` on a stopped node: it runs again, to the end, never stopped early."""
    node = ctx.tree[node_id]
    if node.status != "stopped":
        raise ValueError(f"{node_id} was not stopped early ({node.status}) — nothing to resume")
    node.status, node.full_run, node.reason = "ready", True, ""
    node.started_at = node.finished_at = None
    await ctx.save(node)
    await ctx.event("rerun", node.id, of=node.id, full_run=True)
    ctx.wake()
    return node


@dataclass(frozen=True)
class EarlyStops:
    """How many runs were stopped early, and the slot time that saved."""

    runs: int = 0
    saved_s: float = 0.0

    @property
    def slot_hours_saved(self) -> float:
        return self.saved_s / 3600

    def line(self) -> str:
        """ "early stops: 37 runs, 1.9 slot-hours saved"."""
        runs = f"{self.runs} run" + ("" if self.runs == 1 else "s")
        return f"early stops: {runs}, {self.slot_hours_saved:.1f} slot-hours saved"

    def as_json(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "slot_hours_saved": round(self.slot_hours_saved, 6),
            "slot_seconds_saved": round(self.saved_s, 1),
        }


def early_stops(tree: Tree) -> EarlyStops:
    """The stopped runs of the tree and the slot time they saved: per run, its parent's
    run time minus its own (never below 0)."""
    runs, saved = 0, 0.0
    for node in tree:
        if node.status != "stopped":
            continue
        runs += 1
        parent = comparable_parent(tree, node)
        full = parent.run_seconds if parent is not None else None
        if full is not None and node.run_seconds is not None:
            saved += max(0.0, full - node.run_seconds)
    return EarlyStops(runs, saved)
