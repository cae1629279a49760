"""Pacing: which ready nodes run first, and how many proposals to keep ahead of the slots.

The base runs first. Its calibration re-runs (noise control's measure of the spread)
take turns with the experiments: a waiting calibration run goes ahead of the waiting
experiments only while fewer calibration runs than experiments have started, so on one
slot the order is base, child, calibration, child, calibration, ... and the first child
never waits for the whole calibration. The order counts each start in it, so slots
that free at once take turns as one slot would. The order only ranks: a free slot never idles
while anything is ready (but for a sequential policy, whose slot waits for each
proposal anyway: it holds such a calibration run back while it proposes the child).
Then come confirmation re-runs, then the other ready nodes, oldest first. Proposals
are pipelined: enough wait (or are being made) that a slot which frees during one
proposal's latency finds one ready (docs/ARCHITECTURE.md §2, §4).
"""

from __future__ import annotations

import math
from collections.abc import Container, Sequence

from autoresearch_tui.search.model import FINISHED, ROOT_ID, Node
from autoresearch_tui.search.tree import Tree


def is_calibration(node: Node) -> bool:
    """The base's own runs (not counted against --max-experiments)."""
    return node.kind == "root" or (node.kind == "rerun" and node.parent == ROOT_ID)


def _started(tree: Tree, running: Container[str]) -> tuple[int, int]:
    """How many calibration runs (the base's first run aside) and experiments started."""
    calibrations = experiments = 0
    for node in tree:
        started = node.id in running or node.status == "running" or node.status in FINISHED
        if node.kind == "root" or not started:
            continue
        if is_calibration(node):
            calibrations += 1
        else:
            experiments += 1
    return calibrations, experiments


def calibration_due(tree: Tree, running: Container[str]) -> bool:
    """A waiting calibration run goes ahead of waiting experiments: fewer calibration runs
    (the base's first run aside) than experiments have started."""
    calibrations, experiments = _started(tree, running)
    return calibrations < experiments


def run_order(
    tree: Tree, running: Container[str], *, calibration_only: bool, hold: bool = False
) -> list[Node]:
    """The ready, unpruned nodes not running yet, in the order they should start, each
    start counted for the next one's turn. With `hold`, a calibration run whose turn has
    not come is left out (a sequential policy holds it while the child it proposes is on
    the way)."""
    nodes = [n for n in tree if n.status == "ready" and n.id not in running]
    nodes = sorted((n for n in nodes if not tree.is_pruned(n.id)), key=lambda n: n.id)
    if calibration_only:
        nodes = [n for n in nodes if is_calibration(n)]
    calibrations, experiments = _started(tree, running)
    order = [n for n in nodes if n.kind == "root"]
    waiting = [n for n in nodes if n.kind != "root" and is_calibration(n)]
    if hold and calibrations >= experiments:
        waiting = []
    others = sorted((n for n in nodes if not is_calibration(n)), key=lambda n: n.kind != "rerun")
    while waiting or others:
        if waiting and (calibrations < experiments or not others):
            order.append(waiting.pop(0))
            calibrations += 1
        else:
            order.append(others.pop(0))
            experiments += 1
    return order


def proposal_room(target: int, waiting: int, left: int | None, *, sequential: bool) -> int:
    """How many proposals to start now: up to the pipeline's `target` beyond the `waiting`
    ones, within the `left` experiments of a bounded search, one at a time for a
    sequential policy."""
    room = target - waiting
    if left is not None:
        room = min(room, left - waiting)
    return min(room, 1) if sequential else room


def _median(values: Sequence[float]) -> float:
    return sorted(values)[len(values) // 2]


def pipeline_target(
    slots: int, running: int, latencies: Sequence[float], durations: Sequence[float], lookahead: int
) -> int:
    """How many proposals should be waiting or in flight beyond the running nodes."""
    free = slots - running
    known = latencies and durations
    ratio = _median(latencies) / max(1e-3, _median(durations)) if known else 0.5
    # Slots free up at staggered times: keep enough proposals ready for the ones that
    # will free during one proposal's latency, plus one for the variance.
    ahead = min(slots, math.ceil(slots * ratio) + 1)
    return max(0, free) + ahead + lookahead
