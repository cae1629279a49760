"""The scheduler: an asyncio loop that keeps every slot busy with the tree's best bets.

One `Scheduler` is one search on one workspace: create it, `await open()` (or let `run()`
open it), `await run()`; the user's actions (prune, boost, rerun, hint, lessons, pause,
stop) are its methods, called on the loop's thread. Each turn the loop (1) starts ready
nodes on free slots and (2) asks the policy for parents and the personas for children,
so that proposals are already waiting when a slot frees (pipelining). The work itself
happens in parts of its own: opening the run (opening.py), proposing (proposing.py, with
personas.py), the life of one run through the executor (running.py), confirmation
re-runs (confirming.py), merge nodes (merging.py) and the lessons note (lessons.py);
blocking git and SQLite work runs on threads (context.py). Finished, crashed, timed-out
and invalid experiments are all kept; a killed runner is resumed by the next start. See
docs/ARCHITECTURE.md §2.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import itertools
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import Any

from autoresearch_tui.agents.proposer import Proposer
from autoresearch_tui.search.bandit import make_bandit
from autoresearch_tui.search.config import Config
from autoresearch_tui.search.confirming import Confirmation, confirm_key, queue_rerun
from autoresearch_tui.search.context import RunContext, Threads, store_failure
from autoresearch_tui.search.counts import Counts, settle_cap
from autoresearch_tui.search.events import Event, NodeChanged, Notice
from autoresearch_tui.search.executor import Executor
from autoresearch_tui.search.executors import make_executor
from autoresearch_tui.search.merge import tried_pairs
from autoresearch_tui.search.merging import MERGE_PREFIX, merge_key
from autoresearch_tui.search.model import BROKEN, FINISHED, ROOT_ID, Node, NodeKind
from autoresearch_tui.search.notify import News, Notifier
from autoresearch_tui.search.opening import OpenRun, cannot_open, open_run
from autoresearch_tui.search.pacing import (
    is_calibration,
    pipeline_target,
    proposal_room,
    run_order,
)
from autoresearch_tui.search.parts import Parts
from autoresearch_tui.search.personas import Personas
from autoresearch_tui.search.policies import Policy, make_policy, policy_options
from autoresearch_tui.search.run_figures import RunFacts
from autoresearch_tui.search.runs import base_failure
from autoresearch_tui.search.slots import Slot
from autoresearch_tui.search.store import Store, StoreFailed
from autoresearch_tui.search.tree import Tree

log = logging.getLogger(__name__)


class Scheduler:
    """One search run on one workspace. Create, `await run()`; user actions are methods."""

    def __init__(
        self,
        config: Config,
        proposers: list[Proposer],
        *,
        policy: Policy | None = None,
        slots: list[Slot] | None = None,
        max_experiments: int | None = None,
        more: int | None = None,
        seed: int | None = None,
        exit_when_idle: bool = True,
        listeners: list[Callable[[Event], None]] | None = None,
        executor: Executor | None = None,
    ) -> None:
        if not proposers:
            raise ValueError("no agents — give at least one, e.g. --agents explorer@mutator")
        self.config = config
        self.goal = config.target.goal
        self.proposers = proposers
        self.policy = policy or make_policy(
            config.search.policy, **policy_options(config.search.policy, config.search)
        )
        self.executor = executor or make_executor(config.search)  # chosen once, here
        self.slots = slots or self.executor.slots()
        if (fit := getattr(self.policy, "fit_slots", None)) is not None:
            fit(len(self.slots))  # parallel-greedy: one proposal per slot in a wave
        self.max_experiments = max_experiments
        self.seed = config.search.seed if seed is None else seed
        self.exit_when_idle = exit_when_idle
        self.listeners = list(listeners or [])
        self.paused = False
        self.run_name = ""
        self.base_commit = ""
        self.hints: list[str] = []
        self.more = more  # --more N: the cap is settled at open (search/counts.py)
        self.tree = Tree(self.goal, required_samples=1 + config.search.confirm_runs)
        # An in-process executor's run times mean nothing: its slot time is not priced.
        bandit = make_bandit(config, priced=self.executor.timed)
        self.personas = Personas(proposers, bandit)
        self.notifier = Notifier(config.notify, lambda text: self.notice(text, "warning"))
        self._news = News(self.notifier, config.root.name, config.target.metric)
        self.busy: dict[str, Slot] = {}  # node id -> slot it runs on
        self.store_error = ""  # set when state.db could not be written: the search stops
        self.started_at = time.time()
        self._runs: dict[str, asyncio.Task[None]] = {}
        self._proposals: dict[str, asyncio.Task[None]] = {}  # and merges, last confirmations
        self._wake = asyncio.Event()
        self._stopping = False
        self._budget_noted = False
        self._threads = Threads(self._store_failed)
        self._parts: Parts | None = None  # set by open()
        self._closed = False

    # -- what the views read -------------------------------------------------------------
    @property
    def stopping(self) -> bool:
        """A stop was asked for (the user, a signal, a failed base or a store failure)."""
        return self._stopping

    @property
    def interrupted(self) -> bool:
        """Stopped before the experiment budget was spent (the CLI then exits with 130)."""
        return self._stopping and not self._budget_spent()

    @property
    def started(self) -> int:  # experiments in the tree, any process's: what the cap counts
        return Counts.of(self.tree, self._runs).experiments

    @property
    def cost_usd(self) -> float:  # dollars of every agent call of the run
        return self.personas.cost_usd

    @property
    def store(self) -> Store | None:
        """The run's store once open (None before, or when opening failed)."""
        return self._parts.ctx.store if self._parts is not None else None

    @property
    def runs_in_flight(self) -> int:
        """Experiments started and not yet fully recorded."""
        return len(self._runs)

    @property
    def merging(self) -> bool:
        """A merge node is being made."""
        return any(k.startswith(MERGE_PREFIX) for k in self._proposals)

    @property
    def merges_tried(self) -> frozenset[frozenset[str]]:
        """The pairs a merge was tried for (made or skipped)."""
        return frozenset(self._parts.merging.tried) if self._parts is not None else frozenset()

    def settled(self) -> bool:
        """Only runs in flight: no proposal, merge, confirmation, back-off or wake (bench clock)."""
        return not self._proposals and not self._wake.is_set() and not self._cooling_down()

    # -- telling -------------------------------------------------------------------------
    def emit(self, event: Event) -> None:
        """Tell every listener; a broken listener (a closed pipe, a view's bug) is logged
        and never stops the search."""
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:
                log.exception("listener %r failed on %s", listener, type(event).__name__)

    def notice(self, text: str, level: str = "info") -> None:
        self.emit(Notice(text, level))
        if level == "error":
            self._news.error(text)

    def wake(self) -> None:
        self._wake.set()

    def _store_failed(self, exc: sqlite3.Error) -> None:
        """state.db cannot be written (a full disk, a read-only file system): nothing more
        can be recorded, so the search stops; a start after the fix resumes it."""
        if self.store_error:
            return
        self.store_error = store_failure(self.config.db_path, exc)
        self.notice(self.store_error, "error")
        self.stop()

    # -- open / resume -------------------------------------------------------------------
    async def open(self) -> None:
        """Take the workspace and open (or create) its run; `run()` opens it if need be."""
        try:
            run = await self._threads.db_unreported(open_run, self.config, self.seed)
        except sqlite3.Error as exc:
            raise cannot_open(self.config, exc) from None
        self.run_name, self.base_commit = run.run_name, run.base_commit
        for text in run.notices:  # a new tree on a new base (search/runs.py)
            self.notice(text, "warning")
        self.hints[:] = run.hints
        self.personas.load_spend(run.cost_usd, run.agent_usd)
        self.tree = Tree(self.goal, run.nodes, required_samples=1 + self.config.search.confirm_runs)
        self.max_experiments = await self._threads.db(settle_cap, run.store, self.max_experiments,
                                                      self.more, self.started)  # fmt: skip
        parts = self._parts = self._furnish(run)
        parts.merging.tried |= run.merges_skipped | tried_pairs(self.tree)
        self._news.since(self.tree)
        for node in run.nodes:
            self.emit(NodeChanged(copy.copy(node)))
        if run.created:  # noise control: the base runs k times, in turns with children
            try:
                for _ in range(self.config.search.base_runs - 1):
                    await self.rerun(ROOT_ID)
            except sqlite3.Error:  # a full disk already: say so, let the workspace go
                await self._shutdown()
                raise StoreFailed(self.store_error) from None

    def _furnish(self, run: OpenRun) -> Parts:
        """The parts of the search that work on this open run."""
        ctx = RunContext(
            self.config, self.tree, run, self._threads, self.emit, self.notice, self.wake,
            self.seed,
        )  # fmt: skip
        parts = Parts.build(
            ctx, self.executor, self.personas, hints=self.hints, slots=len(self.slots),
            sequential=self.policy.sequential, released=self._run_released,
            finished=self._run_finished,
        )  # fmt: skip
        # An in-process executor's slots are no machine to describe.
        slots = self.slots if self.executor.timed else []
        parts.proposing.run_facts = RunFacts(ctx, slots)
        return parts

    def parts(self) -> Parts:
        """The parts working on the open run; an error before `open()`."""
        if self._parts is None:
            raise RuntimeError("the search is not open yet: await open() first")
        return self._parts

    # -- the loop ------------------------------------------------------------------------
    async def run(self) -> None:
        """Search until the experiment budget is spent (or, headless, nothing is left)."""
        if self._parts is None:
            await self.open()
        parts = self.parts()
        try:
            while True:
                self._wake.clear()
                if self.policy.sequential:  # a child is proposed before a calibration run's turn
                    self._start_proposals(parts)
                self._start_runs(parts)
                self._start_proposals(parts)
                if self._finished():
                    break
                await self._wake.wait()
        finally:
            await self._shutdown()
            self._news.stopped(self.tree, self.store_error)
            await self.notifier.drain()
        if self.store_error:
            raise StoreFailed(self.store_error)

    def _finished(self) -> bool:
        for tasks in (self._runs, self._proposals):  # cancelled before they ever ran, these
            for key in [k for k, t in tasks.items() if t.done()]:  # never reach `finally`
                task = tasks.pop(key)
                exc = None if task.cancelled() else task.exception()
                if exc is not None and not isinstance(exc, sqlite3.Error):  # that one stops us
                    log.error("%s failed", key, exc_info=exc)
        if self._runs or self._proposals:
            return False
        if self._stopping:
            return True
        if self.parts().lessons.writing:  # a stop does not wait for it: close cancels it
            return False
        if not self.exit_when_idle:
            return False
        return not any(self._runnable()) and not self._cooling_down()

    def _budget_spent(self) -> bool:  # the cap is reached (a tree of <= cap nodes: not yet)
        cap = self.max_experiments
        return cap is not None and len(self.tree) > cap and self.started >= cap

    def _cooling_down(self) -> bool:
        """Some persona waits out a back-off, and the search still wants proposals."""
        return not self._budget_spent() and self.personas.cooling_down()

    def _runnable(self, hold: bool = False) -> list[Node]:
        """Ready nodes in start order; `hold` (for a sequential policy, also a proposal in
        flight) leaves out a calibration run whose turn has not come (pacing.py)."""
        if self._stopping or (self.paused and not self.exit_when_idle):
            return []
        hold = hold or (self.policy.sequential and bool(self._proposals))
        return run_order(self.tree, self._runs, calibration_only=self._budget_spent(), hold=hold)

    def _start_runs(self, parts: Parts) -> None:
        free = [s for s in self.slots if s not in self.busy.values()]
        if self.policy.sequential:
            free = free[: max(0, 1 - len(self._runs))]
        for slot, node in zip(free, self._runnable(), strict=False):
            self.busy[node.id] = slot
            self._runs[node.id] = asyncio.create_task(parts.running.run(node, slot))

    def _cost_left(self) -> bool:
        cap = self.config.search.max_cost_usd
        if cap and self.cost_usd >= cap:
            if not self._budget_noted:
                self._budget_noted = True
                self.notice(
                    f"budget reached: ${self.cost_usd:.2f} of ${cap:.2f} — no new proposals; "
                    "raise [search] max_cost_usd to go on",
                    "warning",
                )
            return False
        return True

    def _start_proposals(self, parts: Parts) -> None:
        if self._stopping or self.paused or not self._cost_left() or self.personas.exhausted:
            return
        if self.policy.sequential and (self._runs or self._proposals or self._runnable(True)):
            return
        waiting = len(self._proposals) + sum(1 for n in self._runnable() if not is_calibration(n))
        left = None if self.max_experiments is None else self.max_experiments - self.started
        target = pipeline_target(
            len(self.slots), len(self._runs), parts.proposing.latencies,
            parts.running.durations, self.config.search.lookahead,
        )  # fmt: skip
        room = proposal_room(target, waiting, left, sequential=self.policy.sequential)
        if (
            room > 0
            and left is not None
            and left - waiting == 1
            and (best := parts.confirming.unconfirmed_best()) is not None
        ):  # the last experiment of a bounded search confirms its best
            self._spawn(
                confirm_key(best.id), functools.partial(parts.confirming.confirm_last, best.id)
            )
            return
        if room > 0 and (plan := parts.merging.next_plan(self._proposals)) is not None:
            self._spawn(merge_key(plan), functools.partial(parts.merging.make, plan))
            room -= 1
        for _ in range(max(0, room)):
            if not self._propose_one(parts):
                return

    def _propose_one(self, parts: Parts) -> bool:
        """Ask the policy for a parent and a persona for its child; False: none now."""
        parent_id = self.policy.choose(
            self.tree,
            can_debug=self.personas.can_debug,
            max_debug_depth=self.config.search.max_debug_depth,
        )
        if parent_id is None:
            return False
        parent = self.tree[parent_id]
        kind: NodeKind = "debug" if parent.status in BROKEN else "improve"
        proposer = self.personas.pick(kind, self.tree)
        if proposer is None:
            return False
        node = parts.proposing.new_child(parent, kind, proposer)
        self._spawn(node.id, functools.partial(parts.proposing.propose, node, proposer))
        return True

    def _spawn(self, key: str, work: Callable[[], Awaitable[None]]) -> None:
        """Run `work()` as the task `key` among the proposals; the loop wakes when it ends."""

        async def tracked() -> None:
            try:
                await work()
            finally:
                self._proposals.pop(key, None)
                self.wake()

        self._proposals[key] = asyncio.create_task(tracked())

    def _run_released(self, node: Node, requeue: bool) -> None:
        """A run ended (its teardown is still to come): a failed base stops the search;
        a slot that will not re-run the node is free for the next one."""
        if node.id == ROOT_ID and node.status in FINISHED and not node.has_metric:
            self.notice(base_failure(self.config, node), "error")
            self.stop(keep=node.id)  # children begun beside it are re-queued, never measured
        if not requeue:
            # The next experiment starts while this one's teardown runs.
            self.busy.pop(node.id, None)
            self.wake()

    async def _run_finished(self, confirming: Confirmation, node: Node, requeue: bool) -> None:
        """A run is fully recorded: noise control may queue the best's re-run."""
        if not requeue:
            confirming.run_finished()
            self._news.best(self.tree)
            if not self._stopping and not self._budget_spent():
                await confirming.maybe_confirm(self._proposals)
        self.busy.pop(node.id, None)
        self._runs.pop(node.id, None)
        self.wake()

    # -- user actions (called on the loop thread) ----------------------------------------
    async def prune(self, node_id: str, pruned: bool = True) -> None:
        """Prune (or unprune) a subtree: it leaves the frontier; its runs are stopped."""
        ctx = self.parts().ctx
        node = self.tree[node_id]
        node.pruned = pruned
        await ctx.save(node)
        await ctx.event("prune" if pruned else "unprune", node_id)
        if pruned:
            for nid in self.tree.subtree(node_id):
                if (task := self._runs.get(nid)) is not None:
                    task.cancel()
        self.wake()

    async def set_boost(self, node_id: str, boost: float) -> None:
        ctx = self.parts().ctx
        node = self.tree[node_id]
        node.boost = boost
        await ctx.save(node)
        await ctx.event("boost", node_id, boost=boost)
        self.wake()

    async def rerun(self, node_id: str) -> Node:
        """Queue a seed repeat of a node's commit: a `rerun` child with another AR_SEED."""
        return await queue_rerun(self.parts().ctx, node_id)

    async def add_hint(self, text: str) -> None:
        self.hints.append(text)
        await self.parts().ctx.event("hint", "", text=text)

    async def set_lessons(self, text: str) -> None:
        """The person's lessons note: the current note for every later prompt."""
        await self.parts().lessons.set_by_user(text)

    async def record(self, kind: str, node: str = "", **data: Any) -> None:
        """Write a view's own action (e.g. the TUI's export) to the events table."""
        await self.parts().ctx.event(kind, node, **data)

    async def set_paused(self, paused: bool) -> None:
        self.paused = paused
        await self.parts().ctx.event("pause" if paused else "resume")
        self.wake()

    def stop(self, keep: str = "") -> None:
        """Stop: no new work; running experiments (but `keep`'s) are killed and re-queued."""
        self._stopping = True
        runs = [task for node_id, task in self._runs.items() if node_id != keep]
        for task in itertools.chain(runs, self._proposals.values()):
            task.cancel()
            task.add_done_callback(lambda _: self.wake())
        self.wake()

    # -- shutdown ------------------------------------------------------------------------
    async def _shutdown(self) -> None:
        tasks = list(self._runs.values()) + list(self._proposals.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self.busy.clear()  # every run has ended (a cancelled one may not have said so)
        if self._closed:
            return
        self._closed = True
        if self._parts is not None:
            await self._parts.close()
        self._threads.shutdown()
