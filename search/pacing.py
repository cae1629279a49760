"""Pacing: which ready nodes run first, and how many proposals to keep ahead of the slots.

The base runs first, then its calibration re-runs (noise control's measure of the
spread), then confirmation re-runs, then the other ready nodes, oldest first. Proposals
are pipelined: enough wait (or are being made) that a slot which frees during one
proposal's latency finds one ready (docs/ARCHITECTURE.md §2).
"""

from __future__ import annotations

import math
from collections.abc import Container, Sequence

from autoresearch_tui.search.model import ROOT_ID, Node
from autoresearch_tui.search.tree import Tree


def is_calibration(node: Node) -> bool:
    """The base's own runs (not counted against --max-experiments)."""
    return node.kind == "root" or (node.kind == "rerun" and node.parent == ROOT_ID)


def run_order(tree: Tree, running: Container[str], *, calibration_only: bool) -> list[Node]:
    """The ready, unpruned nodes not running yet, in the order they should start."""
    nodes = [n for n in tree if n.status == "ready" and n.id not in running]
    nodes = [n for n in nodes if not tree.is_pruned(n.id)]
    if calibration_only:
        nodes = [n for n in nodes if is_calibration(n)]

    def rank(n: Node) -> int:
        if n.kind == "root":
            return 0
        return 1 if is_calibration(n) else 2 if n.kind == "rerun" else 3

    return sorted(nodes, key=lambda n: (rank(n), n.id))


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
