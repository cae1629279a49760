"""Calibration without idling (docs/ARCHITECTURE.md §4, issue 13 item 3): the base's
calibration runs take turns with its children, and the noise figure is used as soon as
the base has two runs."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

from synthetic import InProcess, ScriptedProposer, true_metric, until

from autoresearch_tui.search.config import load_config
from autoresearch_tui.search.events import Event, NodeChanged
from autoresearch_tui.search.executor import Job, RunResult
from autoresearch_tui.search.model import Node
from autoresearch_tui.search.pacing import calibration_due, is_calibration, run_order
from autoresearch_tui.search.scheduler import Scheduler
from autoresearch_tui.search.slots import Slot
from autoresearch_tui.search.tree import Tree

# Four distinct edits of the synthetic train.py (LR 0.08 is the bowl's bottom).
SCRIPT = [
    [("LR = 0.04", "LR = 0.08")],
    [("DEPTH = 8", "DEPTH = 10")],
    [("WARMUP = 0.1", "WARMUP = 0.2")],
    [('ACT = "relu"', 'ACT = "gelu"')],
]


def measure(job: Job) -> float:
    """The synthetic formula of the job's constants, plus a little noise per seed."""
    ns: dict[str, Any] = {}
    exec(job.files["train.py"].split("def score")[0], ns)  # the constants
    value = true_metric(ns["LR"], ns["DEPTH"], ns["WARMUP"], ns["USE_BIAS"], ns["ACT"])
    return value + 0.001 * (job.seed % 3 - 1)


class Gated(InProcess):
    """An in-process run that ends only once as many children wait for a slot as runs are
    ending (or every child of the budget is made): a slot never frees before the next
    child is ready, so the order of starts does not depend on timing."""

    def __init__(self, s: Scheduler, experiments: int) -> None:
        super().__init__(measure)
        self.s, self.experiments, self.ending = s, experiments, 0

    def enough(self) -> bool:
        children = [n for n in self.s.tree if n.kind in ("improve", "debug")]
        made = [n for n in children if n.status != "proposing"]
        ready = [n for n in made if n.status == "ready"]
        return len(ready) >= self.ending or len(made) >= self.experiments

    async def run(self, job: Job) -> RunResult:
        self.ending += 1
        try:
            await until(self.enough, "children ready for the slots")
        finally:
            self.ending -= 1
        return await super().run(job)


def search(
    workspace: Path, *, slots: int, base_runs: int = 3, policy: str = "best-first", **search_kw: Any
) -> tuple[Scheduler, list[tuple[str, str]]]:
    """A search of the four edits on `slots` slots, gated (best-first) or plain (a
    sequential policy proposes only when the slot is free: a gate would wait forever);
    and the list its (node, status) changes are recorded in."""
    config = load_config(workspace, check_clean=False)
    settings = dict(base_runs=base_runs, confirm_runs=0, merge=False, policy=policy)
    config = dataclasses.replace(
        config, search=dataclasses.replace(config.search, **{**settings, **search_kw})
    )
    changes: list[tuple[str, str]] = []

    def listen(event: Event) -> None:
        if isinstance(event, NodeChanged):
            changes.append((event.node.id, event.node.status))

    executor: InProcess = InProcess(measure)
    proposer = ScriptedProposer([list(item) for item in SCRIPT])
    s = Scheduler(config, [proposer], slots=[Slot(f"sim{i}") for i in range(slots)],
                  max_experiments=len(SCRIPT), executor=executor, listeners=[listen])  # fmt: skip
    if policy == "best-first":
        s.executor = Gated(s, len(SCRIPT))
    return s, changes


def starts(s: Scheduler, changes: list[tuple[str, str]]) -> list[str]:
    """The order runs started in: "base", "cal" (a calibration run) or "child"."""
    order = list(dict.fromkeys(nid for nid, status in changes if status == "running"))
    kinds = {nid: s.tree[nid].kind for nid in order}
    return [
        "base" if kinds[n] == "root" else "cal" if is_calibration(s.tree[n]) else "child"
        for n in order
    ]


def test_one_slot_runs_a_child_between_calibration_runs(workspace: Path) -> None:
    s, changes = search(workspace, slots=1)
    asyncio.run(s.run())
    assert starts(s, changes) == ["base", "child", "cal", "child", "cal", "child", "child"]
    first_child = next(
        i
        for i, (nid, st) in enumerate(changes)
        if st == "running" and s.tree[nid].kind == "improve"
    )
    calibration_done = [
        i
        for i, (nid, st) in enumerate(changes)
        if st == "done" and is_calibration(s.tree[nid]) and s.tree[nid].kind == "rerun"
    ]
    assert len(calibration_done) == 2 and first_child < calibration_done[-1]
    assert len(s.tree.samples("n0000")) == 3  # the calibration is all there in the end


def test_noise_is_used_from_the_base_s_second_run(workspace: Path) -> None:
    """A proposal made after the first calibration run, before the last, already reads
    the spread; those made before it say the noise is not measured yet."""
    s, _ = search(workspace, slots=1)
    asyncio.run(s.run())
    proposer = s.proposers[0]
    assert isinstance(proposer, ScriptedProposer)
    seen = []
    for request in proposer.requests:
        memory = request.memory
        base = [r.runs for r in memory.results if r.node_id == "n0000"]  # none: it runs
        seen.append((base[0] if base else 0, memory.spread is not None))
        children = [r for r in memory.results if r.node_id != "n0000" and r.mean is not None]
        if memory.spread is None:
            assert all("noise not measured yet" in r.verdict for r in children)
        else:
            assert not any("noise not measured yet" in r.verdict for r in children)
    assert (1, False) in seen  # proposed before any calibration run ended: no spread
    assert (2, True) in seen  # after the first, before the last: the spread is used


def test_sequential_policy_proposes_between_calibration_runs(workspace: Path) -> None:
    s, changes = search(workspace, slots=1, policy="ratchet")
    asyncio.run(s.run())
    assert starts(s, changes) == ["base", "child", "cal", "child", "cal", "child", "child"]


def test_two_slots_calibrate_beside_the_base_then_children_take_turns(
    workspace: Path,
) -> None:
    s, changes = search(workspace, slots=2)
    asyncio.run(s.run())
    assert starts(s, changes) == ["base", "cal", "child", "child", "cal", "child", "child"]


def test_without_calibration_the_order_is_unchanged(workspace: Path) -> None:
    s, changes = search(workspace, slots=1, base_runs=1)
    asyncio.run(s.run())
    assert starts(s, changes) == ["base", "child", "child", "child", "child"]


def test_run_order_ranks_a_calibration_run_by_its_turn() -> None:
    """Only the ranking: a calibration run goes first while fewer of them than children
    have started, counting the starts ahead of it in the order; otherwise after the
    children (never held back when alone)."""

    def tree(*started: tuple[str, str, str]) -> Tree:
        t = Tree("min", [Node("n0000", None, status="done", kind="root", metric=1.0)])
        for nid, kind, status in started:
            t.add(Node(nid, "n0000", status=status, kind=kind))  # type: ignore[arg-type]
        return t

    waiting = [("n0001", "rerun", "ready"), ("n0002", "rerun", "ready")]
    t = tree(*waiting, ("n0003", "improve", "ready"))
    assert not calibration_due(t, set())
    assert [n.id for n in run_order(t, set(), calibration_only=False)] == [
        "n0003", "n0001", "n0002",
    ]  # fmt: skip
    assert calibration_due(t, {"n0003"})  # a child has started (here: running)
    t = tree(*waiting, ("n0003", "improve", "done"), ("n0004", "improve", "ready"))
    # Slots that free at once take turns as one slot would: each start counts for the
    # next (ranked once for all, this was n0001, n0002, n0004; two slots freeing together
    # then started two children in a row, a flake of the two-slot test above).
    assert [n.id for n in run_order(t, set(), calibration_only=False)] == [
        "n0001", "n0004", "n0002",
    ]  # fmt: skip
    t = tree(*waiting)
    assert [n.id for n in run_order(t, set(), calibration_only=False)] == ["n0001", "n0002"]
    assert run_order(t, set(), calibration_only=False, hold=True) == []  # a sequential policy's
    assert [n.id for n in run_order(t, set(), calibration_only=True)] == ["n0001", "n0002"]
