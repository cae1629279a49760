"""The data model: a `Node` (one experiment = one commit on its own branch) and its states."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

NodeStatus = Literal[
    "proposing", "ready", "running", "done", "crashed", "timeout", "invalid", "failed", "stopped"
]
# root: the base; improve: a proposal; debug: a fix of a crashed parent; merge: two
# branches in one; rerun: another run of the parent's commit (noise control)
NodeKind = Literal["root", "improve", "debug", "merge", "rerun"]
# an experiment ran; `stopped`: early stopping ended it, never a measured value (§4)
FINISHED = frozenset({"done", "crashed", "timeout", "invalid", "stopped"})
BROKEN = frozenset({"crashed", "timeout"})  # a debug child may fix these
ROOT_ID = "n0000"


def node_id(index: int) -> str:
    """Short, stable, ordered ids: n0000 is the base, n0001 the first child, ..."""
    return f"n{index:04d}"


def node_index(node: str) -> int:
    return int(node[1:])


@dataclass
class Node:
    """One experiment. `failed` is a proposal that never became a commit."""

    id: str
    parent: str | None
    status: NodeStatus = "proposing"
    kind: NodeKind = "improve"
    persona: str = ""
    backend: str = ""
    model: str = ""
    description: str = ""
    rationale: str = ""
    branch: str = ""
    commit: str = ""
    metric: float | None = None
    reason: str = ""  # why it crashed / failed / was invalid
    pruned: bool = False
    boost: float = 1.0
    slot: str = ""
    seed: int = 0
    pid: int = 0  # process group of the running experiment (for cleanup after kill -9)
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    other_parents: list[str] = field(default_factory=list)  # merge nodes
    seed_only: bool = False  # the edit changes only a seed: never a confirmed gain
    full_run: bool = False  # never stopped early (`r` on a stopped node: search/early_stopping.py)

    @property
    def has_metric(self) -> bool:
        return self.status == "done" and self.metric is not None and math.isfinite(self.metric)

    @property
    def measured_metric(self) -> float | None:
        """The metric when `has_metric`, else None (a crash's or a NaN's is not a result)."""
        return self.metric if self.has_metric else None

    @property
    def run_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at


def better(a: float, b: float, goal: str) -> bool:
    """True when metric a is strictly better than b under goal."""
    return a < b if goal == "min" else a > b


def improvement(metric: float, reference: float, goal: str) -> float:
    """Positive when `metric` improves on `reference` (in metric units)."""
    return reference - metric if goal == "min" else metric - reference
