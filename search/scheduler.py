"""The scheduler: an asyncio loop that keeps every slot busy with the tree's best bets.

It owns the run: the store (state.db), the git workspace and the in-memory tree. Each
turn it (1) starts ready nodes on free slots and (2) asks the policy for parents and the
personas for children, so that proposals are already waiting when a slot frees
(pipelining). Blocking git and SQLite work runs on one thread each. Finished, crashed,
timed-out and invalid experiments are all kept; a killed runner is resumed by the next
start (running nodes are re-queued, stray processes and worktrees removed).
"""

from __future__ import annotations

import asyncio
import copy
import errno
import functools
import hashlib
import itertools
import logging
import math
import sqlite3
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from autoresearch_tui.agents.proposer import (
    Proposal,
    ProposalFailed,
    ProposalRequest,
    Proposer,
    TriedChange,
)
from autoresearch_tui.search.bandit import PersonaBandit, persona_key
from autoresearch_tui.search.config import Config
from autoresearch_tui.search.events import Event, NodeChanged, Notice, Progress
from autoresearch_tui.search.executor import (
    experiment_env,
    kill_group,
    marked_groups,
    run_command,
)
from autoresearch_tui.search.gitops import GitWorkspace
from autoresearch_tui.search.merge import MergePlan, merge_candidate, merge_files, tried_pairs
from autoresearch_tui.search.model import BROKEN, FINISHED, ROOT_ID, Node, better
from autoresearch_tui.search.model import node_id as node_id_for
from autoresearch_tui.search.noise import seed_only_change
from autoresearch_tui.search.notify import Notifier
from autoresearch_tui.search.output import OutputParser
from autoresearch_tui.search.policies import Policy, make_policy, policy_options
from autoresearch_tui.search.ray_executor import run_on_ray
from autoresearch_tui.search.runlock import release, take_runner_lock
from autoresearch_tui.search.slots import Slot, configured_slots
from autoresearch_tui.search.store import Store, StoreFailed
from autoresearch_tui.search.tree import Tree

T = TypeVar("T")
log = logging.getLogger(__name__)
# An in-process stand-in for running the command (the search benchmark's landscapes):
# (node, its editable files) -> (status, metric, reason).
Executor = Callable[[Node, dict[str, str]], Awaitable[tuple[str, float | None, str]]]
PROGRESS_EVERY_S = 0.25
MAX_FAILED_IN_A_ROW = 50  # proposals; then the search stops asking and says why
BACKOFF_S = (0.0, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)  # by failures in a row
CRASH_LOG_LINES = (20, 60)  # head and tail of a crashed parent's log given to a debugger


def git_blob_id(data: bytes) -> str:
    """The id git gives a blob with this content (to check readonly files on disk)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def log_excerpt(path: Path, head: int, tail: int) -> str:
    try:
        lines = path.read_text(errors="replace").replace("\r", "\n").splitlines()
    except OSError:
        return ""
    lines = [line for line in lines if line.strip()]
    if len(lines) <= head + tail:
        return "\n".join(lines)
    return "\n".join([*lines[:head], f"... ({len(lines) - head - tail} lines) ...", *lines[-tail:]])


class Search:
    """One search run on one workspace. Create, `await run()`; user actions are methods."""

    def __init__(
        self,
        config: Config,
        proposers: list[Proposer],
        *,
        policy: Policy | None = None,
        slots: list[Slot] | None = None,
        max_experiments: int | None = None,
        seed: int | None = None,
        exit_when_idle: bool = True,
        listeners: list[Callable[[Event], None]] | None = None,
        executor: Executor | None = None,
    ):
        if not proposers:
            raise ValueError("no agents — give at least one, e.g. --agents explorer@mutator")
        self.config = config
        self.goal = config.target.goal
        self.proposers = proposers
        self.policy = policy or make_policy(
            config.search.policy, **policy_options(config.search.policy, config.search)
        )
        self.slots = slots or configured_slots(config.search)
        self.max_experiments = max_experiments
        self.seed = config.search.seed if seed is None else seed
        self.exit_when_idle = exit_when_idle
        self.listeners = list(listeners or [])
        self.paused = False
        self.run_name = ""
        self.base_commit = ""
        self.hints: list[str] = []
        self.started = 0  # experiments started by this process (the root excluded)
        self.cost_usd = 0.0
        self.tree = Tree(self.goal, required_samples=1 + config.search.confirm_runs)
        self.executor = executor
        self.bandit: PersonaBandit | None = None
        if config.search.bandit:  # an in-process executor's run times mean nothing: unpriced
            hour_usd = 0.0 if executor is not None else config.search.slot_hour_usd
            self.bandit = PersonaBandit(config.search.bandit_c, hour_usd, config.target.timeout_s)
        self._agent_usd: dict[str, float] = {}  # persona@backend -> its agent calls' dollars
        self.notifier = Notifier(config.notify, lambda text: self.notice(text, "warning"))
        self._notified_best: Node | None = None  # the confirmed best last notified
        self._merge_tried: set[frozenset[str]] = set()
        self._new_run = False
        self.busy: dict[str, Slot] = {}  # node id -> slot it runs on
        self._runs: dict[str, asyncio.Task[None]] = {}
        self._proposals: dict[str, asyncio.Task[None]] = {}
        self._persona_use: dict[str, int] = {}
        self._failures: dict[str, int] = {}  # persona label -> failed proposals in a row
        self._finished_runs = 0  # runs finished by this process (noise control's clock)
        self._best_watch: tuple[str, int] = ("", 0)  # the best, and _finished_runs then
        self._cooldown: dict[str, float] = {}  # persona label -> monotonic time it may go again
        self._failed_in_a_row = 0
        self._readonly_ids: dict[str, str] = {}  # readonly path -> blob id in the base
        self._prepared: dict[str, asyncio.Future[Path]] = {}  # ready node -> its worktree
        self._latency: list[float] = []  # proposal latencies, for the pipeline depth
        self._durations: list[float] = []  # experiment durations
        self._wake = asyncio.Event()
        self._finishing: set[asyncio.Future[None]] = set()  # _finish_run of runs in teardown
        self._stopping = False
        self._budget_noted = False
        self._db_thread = ThreadPoolExecutor(1, thread_name_prefix="ar-store")
        self._git_thread = ThreadPoolExecutor(1, thread_name_prefix="ar-git")
        self._teardown_thread = ThreadPoolExecutor(1, thread_name_prefix="ar-git-teardown")
        self.store: Store | None = None
        self.git: GitWorkspace | None = None
        self._lock: int | None = None  # the workspace's runner lock while this search holds it
        # In every experiment's env as AR_STATE_DIR: how a later start finds its strays.
        self._state_dir_id = str(config.state_dir.resolve())
        self.store_error = ""  # set when state.db could not be written: the search stops
        self.started_at = time.time()

    # -- plumbing ----------------------------------------------------------------------
    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._db_thread, fn, *args)
        except sqlite3.Error as exc:
            self._store_failed(exc)
            raise

    def _store_failed(self, exc: sqlite3.Error) -> None:
        """state.db cannot be written (a full disk, a read-only file system): nothing more
        can be recorded, so the search stops; a start after the fix resumes it."""
        if self.store_error:
            return
        path = self.config.state_dir / "state.db"
        disk = any(w in str(exc) for w in ("full", "I/O", "readonly"))
        fix = "free disk space (or fix the file system)" if disk else "fix that"
        self.store_error = (
            f"cannot write {path} ({exc}) — {fix}, then start again: the search resumes "
            "from what was saved"
        )
        self.notice(self.store_error, "error")
        self.stop()

    async def _git(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._git_thread, fn, *args)

    async def _teardown(self, fn: Callable[..., T], *args: Any) -> T:
        """Git notes after a run: plain git commands only (no object-database reads,
        which GitPython does not share across threads), on a thread of their own so they
        never delay the next experiment's set-up."""
        return await asyncio.get_running_loop().run_in_executor(self._teardown_thread, fn, *args)

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
            self.notifier.send("error", f"{self.config.root.name}: {text}")

    def _notify_best(self) -> None:
        """Tell [notify] when the confirmed best beats the one it last told of."""
        best, last = self.tree.best(confirmed=True), self._notified_best
        if best is None or best.id == ROOT_ID or (last is not None and best.id == last.id):
            return
        mean = self.tree.metric_mean(best.id)
        last_mean = self.tree.metric_mean(last.id) if last is not None else None
        if mean is None or (last_mean is not None and not better(mean, last_mean, self.goal)):
            return  # a best that lost its confirmation falls back: that is not news
        self._notified_best = best
        self.notifier.send(
            "best",
            f"{self.config.root.name}: new confirmed {self._best_text(best, mean)}"
            f" — {best.description} ({best.persona})",
        )

    def _best_text(self, best: Node, mean: float) -> str:
        """ "best n0042 val_bpb 0.9932 (-0.0047 vs base)" for the notifications."""
        delta = self.tree.delta_base(best) if best.id != ROOT_ID else None
        vs_base = f" ({delta:+.4g} vs base)" if delta is not None else ""
        return f"best {best.id} {self.config.target.metric} {mean:.6g}{vs_base}"

    def _notify_stopped(self) -> None:
        best = self.tree.best()
        ran = sum(1 for n in self.tree if n.kind != "root" and n.status in FINISHED)
        text = f"{self.config.root.name}: search stopped after {ran} experiments"
        mean = self.tree.metric_mean(best.id) if best is not None else None
        if best is not None and mean is not None:
            text += f"; {self._best_text(best, mean)}"
        if self.store_error:
            text += f" — {self.store_error}"
        self.notifier.send("stopped", text)

    async def _save(self, node: Node) -> None:
        self.tree.touch()  # every change to a node passes through here
        await self._db(self.store.save_node, copy.copy(node))  # type: ignore[union-attr]
        self.emit(NodeChanged(copy.copy(node)))

    async def _event(self, kind: str, node: str = "", **data: Any) -> None:
        await self._db(functools.partial(self.store.add_event, kind, node, **data))  # type: ignore[union-attr]

    def wake(self) -> None:
        self._wake.set()

    @property
    def stopping(self) -> bool:
        """A stop was asked for (the user, a signal, a failed base or a store failure)."""
        return self._stopping

    @property
    def log_dir(self) -> Path:
        return self.config.state_dir / "logs"

    def log_path(self, node: str) -> Path:
        return self.log_dir / f"{node}.log"

    def branch(self, node: str) -> str:
        return f"autoresearch/{self.run_name}/{node}"

    # -- open / resume -----------------------------------------------------------------
    def _open_sync(self) -> list[Node]:
        """Take the workspace, open or create the run; return the nodes. On the store thread."""
        self._lock = take_runner_lock(self.config.state_dir)  # before anything is touched
        try:
            return self._load_sync()
        except BaseException:
            release(self._lock)
            self._lock = None
            raise

    def _load_sync(self) -> list[Node]:
        cfg = self.config
        # What a killed runner left running, found by the marker every experiment carries
        # (its pid may never have reached state.db); no other runner has this workspace.
        for group in marked_groups(f"AR_STATE_DIR={self._state_dir_id}"):
            kill_group(group)
        self.store = Store(cfg.state_dir / "state.db")
        self.git = GitWorkspace(cfg.root, cfg.state_dir)
        self.run_name = self.store.get_meta("run")
        if not self.run_name:
            self.run_name = time.strftime("%Y%m%d-%H%M%S")
            self.base_commit = self.git.head_commit()
            self.store.set_meta("run", self.run_name)
            self.store.set_meta("base", self.base_commit)
            self.store.set_meta("created_at", str(time.time()))
            self.store.set_meta("seed", str(self.seed))
            root = Node(
                id=ROOT_ID, parent=None, status="ready", kind="root", persona="base",
                description="base commit", branch=self.branch(ROOT_ID),
                commit=self.base_commit, created_at=time.time(), seed=self.seed,
            )  # fmt: skip
            self.git.set_branch(root.branch, root.commit)
            self.store.save_node(root)
            self._new_run = True
            self.store.add_event("start", "", run=self.run_name, base=self.base_commit)
        else:
            self.base_commit = self.store.get_meta("base")
            self.store.add_event("resume", "", run=self.run_name)
        nodes = self.store.load_nodes()
        kept = []
        for node in nodes:
            if node.status == "running":
                node.status, node.slot, node.pid, node.started_at = "ready", "", 0, None
                self.store.clear_points(node.id)
                self.store.save_node(node)
                self.store.add_event(
                    "requeue", node.id, reason="was running when the runner stopped"
                )
            elif node.status == "proposing":
                self.store.delete_node(node.id)
                self.store.add_event(
                    "drop", node.id, reason="proposal unfinished when the runner stopped"
                )
                continue
            kept.append(node)
        self.git.clean_worktrees()
        self._readonly_ids = self.git.blob_ids(self.base_commit, self.config.target.readonly)
        self.hints = [e["data"].get("text", "") for e in self.store.events("hint")]
        for e in self.store.events("merge-skipped"):
            self._merge_tried.add(frozenset((e["node"], e["data"].get("other", ""))))
        self.cost_usd = self.store.call_totals()[""]["cost_usd"] or 0.0
        for (persona, backend), usd in self.store.agent_usd().items():
            self._agent_usd[persona_key(persona, backend)] = usd
        return kept

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            nodes = await loop.run_in_executor(self._db_thread, self._open_sync)
        except sqlite3.Error as exc:
            raise StoreFailed(
                f"cannot open {self.config.state_dir / 'state.db'} ({exc}) — free disk space if "
                "it is full; if the file is damaged, move .autoresearch aside to start a new run"
            ) from None
        self.tree = Tree(self.goal, nodes, required_samples=1 + self.config.search.confirm_runs)
        self._merge_tried |= tried_pairs(self.tree)
        self._notified_best = self.tree.best(confirmed=True)  # a resume tells only what is new
        for node in nodes:
            self.emit(NodeChanged(copy.copy(node)))
        if self._new_run:  # noise control: the base runs k times, on free slots in parallel
            try:
                for _ in range(self.config.search.base_runs - 1):
                    await self.rerun(ROOT_ID)
            except sqlite3.Error:  # a full disk already: say so, let the workspace go
                await self._shutdown()
                raise StoreFailed(self.store_error) from None

    # -- the loop ----------------------------------------------------------------------
    async def run(self) -> None:
        """Search until the experiment budget is spent (or, headless, nothing is left)."""
        if self.store is None:
            await self.open()
        try:
            while True:
                self._wake.clear()
                self._start_runs()
                self._start_proposals()
                if self._finished():
                    break
                await self._wake.wait()
        finally:
            await self._shutdown()
            if self.store is not None:  # it opened
                self._notify_stopped()
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
        if not self.exit_when_idle:
            return False
        return not any(self._runnable()) and not self._cooling_down()

    def _cooling_down(self) -> bool:
        """Some persona waits out a back-off, and the search still wants proposals."""
        if self.max_experiments is not None and self.started >= self.max_experiments:
            return False
        return self._failed_in_a_row < MAX_FAILED_IN_A_ROW and any(
            t > time.monotonic() for t in self._cooldown.values()
        )

    def _runnable(self) -> list[Node]:
        nodes = [n for n in self.tree if n.status == "ready" and n.id not in self._runs]
        nodes = [n for n in nodes if not self.tree.is_pruned(n.id)]
        if self._stopping or (self.paused and not self.exit_when_idle):
            return []
        if self.max_experiments is not None and self.started >= self.max_experiments:
            nodes = [n for n in nodes if self._calibration(n)]

        # The base first, then its calibration runs, then confirmation re-runs, then the rest.
        def rank(n: Node) -> int:
            return (
                0
                if n.kind == "root"
                else 1
                if self._calibration(n)
                else 2
                if n.kind == "rerun"
                else 3
            )

        return sorted(nodes, key=lambda n: (rank(n), n.id))

    @staticmethod
    def _calibration(node: Node) -> bool:
        """The base's own runs (not counted against --max-experiments)."""
        return node.kind == "root" or (node.kind == "rerun" and node.parent == ROOT_ID)

    def _start_runs(self) -> None:
        free = [s for s in self.slots if s not in self.busy.values()]
        if self.policy.sequential:
            free = free[: max(0, 1 - len(self._runs))]
        for slot, node in zip(free, self._runnable(), strict=False):
            if not self._calibration(node):
                self.started += 1
            self.busy[node.id] = slot
            self._runs[node.id] = asyncio.create_task(self._run_node(node, slot))

    def _pipeline_target(self) -> int:
        """How many proposals should be waiting or in flight beyond the running nodes."""
        free = len(self.slots) - len(self._runs)
        if self._latency and self._durations:
            ratio = sorted(self._latency)[len(self._latency) // 2] / max(
                1e-3, sorted(self._durations)[len(self._durations) // 2]
            )
        else:
            ratio = 0.5
        # Slots free up at staggered times: keep enough proposals ready for the ones that
        # will free during one proposal's latency, plus one for the variance.
        ahead = min(len(self.slots), math.ceil(len(self.slots) * ratio) + 1)
        return max(0, free) + ahead + self.config.search.lookahead

    def _budget_left(self) -> bool:
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

    def _start_proposals(self) -> None:
        if self._stopping or self.paused or not self._budget_left():
            return
        if self._failed_in_a_row >= MAX_FAILED_IN_A_ROW:
            return
        if self.policy.sequential and (self._runs or self._proposals or self._runnable()):
            return
        waiting = len(self._proposals) + sum(
            1 for n in self._runnable() if not self._calibration(n)
        )
        room = self._pipeline_target() - waiting
        if self.max_experiments is not None:
            room = min(room, self.max_experiments - self.started - waiting)
        if self.policy.sequential:
            room = min(room, 1)
        if (
            room > 0
            and self.max_experiments is not None
            and self.max_experiments - self.started - waiting == 1
            and (best := self._unconfirmed_best()) is not None
        ):  # the last experiment of a bounded search confirms its best
            key = f"confirm:{best.id}"
            self._proposals[key] = asyncio.create_task(self._confirm_last(key, best.id))
            return
        if room > 0 and self._start_merge():
            room -= 1
        can_debug = any(getattr(p, "can_debug", False) for p in self.proposers)
        for _ in range(max(0, room)):
            parent_id = self.policy.choose(
                self.tree, can_debug=can_debug, max_debug_depth=self.config.search.max_debug_depth
            )
            if parent_id is None:
                return
            parent = self.tree[parent_id]
            kind = "debug" if parent.status in BROKEN else "improve"
            proposer = self._pick_proposer(kind)
            if proposer is None:
                return
            node = Node(
                id=node_id_for(self.tree.next_index()),
                parent=parent_id,
                status="proposing",
                kind=kind,
                persona=proposer.spec.persona,
                backend=proposer.spec.backend,
                model=proposer.spec.model,
                created_at=time.time(),
                seed=self.seed,
            )
            self.tree.add(node)
            label = proposer.spec.label  # counted now, so one batch of picks rotates
            self._persona_use[label] = self._persona_use.get(label, 0) + 1
            self._proposals[node.id] = asyncio.create_task(self._propose(node, proposer))

    def _pick_proposer(self, kind: str) -> Proposer | None:
        """Weighted round robin over the personas not in back-off; None: all are."""
        pool = self.proposers
        if kind == "merge":  # conflict resolution: model-backed personas only
            pool = [p for p in pool if getattr(p, "can_merge", False)]
        elif kind == "debug":
            pool = [p for p in pool if getattr(p, "can_debug", False)]
            named = [p for p in pool if p.spec.persona == "debugger"]
            pool = named or pool
        else:
            pool = [p for p in pool if p.spec.persona != "debugger"] or pool
        now = time.monotonic()
        pool = [p for p in pool if self._cooldown.get(p.spec.label, 0.0) <= now]
        if not pool:
            return None
        if self.bandit is not None and kind == "improve":
            return self.bandit.choose(self.tree, pool, self._persona_use, self._agent_usd)
        return min(
            pool,
            key=lambda p: (self._persona_use.get(p.spec.label, 0) + 1) / max(p.spec.weight, 1e-9),
        )

    # -- proposing ---------------------------------------------------------------------
    def _request(
        self, node: Node, files: dict[str, str], worktree: Path | None, merge_change: str = ""
    ) -> ProposalRequest:
        tree = self.tree
        parent = tree[node.parent]  # type: ignore[index]

        def tried(n: Node) -> TriedChange:
            return TriedChange(
                n.id, n.description, n.status, n.metric, tree.delta_parent(n), n.persona
            )

        near: list[Node] = tree.children(parent.id)
        if parent.parent is not None:
            for uncle in tree.children(parent.parent):
                if uncle.id != parent.id:
                    near += [uncle, *tree.children(uncle.id)]
        near = [n for n in near if n.id != node.id and n.description and n.status != "proposing"]
        best = tree.best()
        root = tree.root
        return ProposalRequest(
            workspace=self.config.root,
            parent_id=parent.id,
            parent_files=files,
            editable=list(self.config.target.editable),
            metric=self.config.target.metric,
            goal=self.goal,
            seed=self.seed,
            kind=node.kind,  # type: ignore[arg-type]
            worktree=worktree,
            parent_metric=parent.metric if parent.has_metric else None,
            base_metric=root.metric if root is not None and root.has_metric else None,
            lineage=[tried(n) for n in tree.lineage(parent.id)],
            tried=[tried(n) for n in sorted(near, key=lambda n: n.id)[-40:]],
            best=tried(best) if best is not None else None,
            hints=list(self.hints),
            crash_log=log_excerpt(self.log_path(parent.id), *CRASH_LOG_LINES)
            if node.kind == "debug"
            else "",
            tried_descriptions={c.description for c in tree.children(parent.id) if c.description},
            merge_with=tried(tree[node.other_parents[0]]) if node.other_parents else None,
            merge_change=merge_change,
        )

    async def _propose(self, node: Node, proposer: Proposer) -> None:
        label = proposer.spec.label
        await self._save(node)
        parent = self.tree[node.parent]  # type: ignore[index]
        editable = self.config.target.editable
        worktree: Path | None = None
        start = time.monotonic()
        try:
            files = await self._git(self.git.read_files, parent.commit, editable)  # type: ignore[union-attr]
            if proposer.spec.backend == "command":
                worktree = await self._git(self.git.add_worktree, node.id, parent.commit)  # type: ignore[union-attr]
            proposal = await proposer.propose(self._request(node, files, worktree))
            self._check_proposal(proposal, files)
            node.seed_only = seed_only_change(files, proposal.files)
            self._latency.append(time.monotonic() - start)
            await self._accept(node, parent, proposal)
            self._failures[label] = self._failed_in_a_row = 0
        except ProposalFailed as exc:
            await self._proposal_failed(node, label, exc.reason, exc.reply, exc.calls)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a persona's bug or a full disk must not stop the search
            await self._proposal_failed(node, label, f"{type(exc).__name__}: {exc}", "", [])
        finally:
            if worktree is not None:
                await self._git(self.git.remove_worktree, worktree)  # type: ignore[union-attr]
            self._proposals.pop(node.id, None)
            self.wake()

    def _check_proposal(self, proposal: Proposal, parent_files: dict[str, str]) -> None:
        editable = set(self.config.target.editable)
        outside = sorted(set(proposal.files) - editable)
        if outside:
            raise ProposalFailed(
                f"the proposal changes {', '.join(outside)}, which is not editable",
                reply=proposal.reply,
                calls=proposal.calls,
            )
        if all(parent_files.get(p) == s for p, s in proposal.files.items()):
            raise ProposalFailed(
                "the proposal changes nothing", reply=proposal.reply, calls=proposal.calls
            )
        if not proposal.description.strip():
            proposal.description = "(no description)"

    async def _accept(self, node: Node, parent: Node, proposal: Proposal) -> None:
        description = proposal.description.strip().splitlines()[0][:200]
        node.description = description
        node.rationale = proposal.rationale
        node.model = proposal.model or node.model
        node.branch = self.branch(node.id)
        message = (
            f"{description}\n\npersona: {node.persona}\nparent: {parent.id}\nnode: {node.id}\n"
            + (f"\n{proposal.rationale}\n" if proposal.rationale else "")
        )
        node.commit = await self._git(
            self.git.commit_files,  # type: ignore[union-attr]
            parent.commit,
            proposal.files,
            message,
            node.branch,
            f"{node.persona} (autoresearch-tui)",
        )
        await self._keep_record(node, proposal)
        node.status = "ready"
        await self._save(node)
        await self._event("proposed", node.id, parent=parent.id, persona=node.persona)
        self._prepare_worktree(node)

    def _prepare_worktree(self, node: Node) -> None:
        """Check out a ready node's worktree while the slots train, so that starting it
        is only a process launch (at most one prepared worktree per slot)."""
        if len(self._prepared) < len(self.slots) and self.executor is None:
            self._prepared[node.id] = asyncio.ensure_future(
                self._git(self.git.add_worktree, node.id, node.commit)  # type: ignore[union-attr]
            )

    async def _proposal_failed(
        self, node: Node, label: str, reason: str, reply: str, calls: list
    ) -> None:
        failures = self._failures[label] = self._failures.get(label, 0) + 1
        self._failed_in_a_row += 1
        delay = BACKOFF_S[min(failures - 1, len(BACKOFF_S) - 1)]
        if delay:
            self._cooldown[label] = time.monotonic() + delay
            asyncio.get_running_loop().call_later(delay, self.wake)
        if self._failed_in_a_row == MAX_FAILED_IN_A_ROW:
            self.notice(
                f"{MAX_FAILED_IN_A_ROW} proposals failed in a row (last: {reason[:120]}) — "
                f"no new proposals; see {self.log_dir}/*.reply.md and the agents' settings",
                "error",
            )
        node.status = "failed"
        node.reason = reason.splitlines()[0][:300] if reason else "failed"
        node.finished_at = time.time()
        await self._record_calls(node, calls)
        if reply:
            await self._write_reply(node, reply)
        await self._save(node)
        await self._event("proposal-failed", node.id, reason=node.reason, persona=node.persona)

    async def _keep_record(self, node: Node, proposal: Proposal) -> None:
        """Store an accepted proposal's model calls and keep its reply in logs/."""
        await self._record_calls(node, proposal.calls)
        if proposal.reply:
            await self._write_reply(node, proposal.reply)

    async def _record_calls(self, node: Node, calls: list) -> None:
        if calls:
            self.cost_usd += sum(c.cost_usd for c in calls)
            for c in calls:
                key = persona_key(c.persona, c.backend)
                self._agent_usd[key] = self._agent_usd.get(key, 0.0) + c.cost_usd
            await self._db(self.store.add_calls, node.id, list(calls))  # type: ignore[union-attr]

    async def _write_reply(self, node: Node, reply: str) -> None:
        path = self.log_dir / f"{node.id}.reply.md"
        await self._db(
            lambda: (path.parent.mkdir(parents=True, exist_ok=True), path.write_text(reply))
        )

    # -- running -----------------------------------------------------------------------
    def _readonly_changed(self, worktree: Path) -> str:
        """The first readonly file whose content differs from the base commit, or ""."""
        for path, blob in self._readonly_ids.items():
            try:
                data = (worktree / path).read_bytes()
            except OSError:
                return path
            if git_blob_id(data) != blob:
                return path
        return ""

    async def _run_node(self, node: Node, slot: Slot) -> None:
        target = self.config.target
        worktree: Path | None = None
        parser = OutputParser(target.metric, target.metric_regex)
        last_emit = 0.0
        pending_lines: list[str] = []
        store = self.store
        assert store is not None

        def on_start(pid: int) -> None:
            node.pid = pid  # so a later start can kill this group if we die
            node.started_at = time.time()  # run time = the command's own, without set-up
            self._db_thread.submit(store.save_node, copy.copy(node))

        def on_output(lines: list[str], elapsed: float) -> None:
            nonlocal last_emit
            pending_lines.extend(lines)
            if time.monotonic() - last_emit >= PROGRESS_EVERY_S:
                last_emit = time.monotonic()
                flush(elapsed)

        def flush(elapsed: float) -> None:
            points = parser.take_points()
            if points:
                rows = [(step, loss, t, parser.progress) for step, loss, t in points]
                self._db_thread.submit(store.add_points, node.id, rows)
            self.emit(
                Progress(node.id, slot.name, elapsed, parser.progress, points, pending_lines[:])
            )
            pending_lines.clear()

        requeue = False
        try:
            # Inside the try: a stop that lands while "running" is saved re-queues the node.
            node.status, node.slot = "running", slot.name
            node.started_at, node.finished_at = time.time(), None
            node.metric, node.reason = None, ""
            await self._save(node)
            await self._db(store.clear_points, node.id)
            if self.executor is not None:
                files = await self._git(self.git.read_files, node.commit, list(target.editable))  # type: ignore[union-attr]
                # No duration is recorded: an in-process run's wall time means nothing.
                status, metric, reason = await self.executor(copy.copy(node), files)
                node.status, node.metric, node.reason = status, metric, reason  # type: ignore[assignment]
                return
            worktree = await self._checkout(node)
            changed = self._readonly_changed(worktree)
            if changed:
                node.status, node.reason = (
                    "invalid",
                    f"readonly file {changed} differs from the base",
                )
                return
            extra = {
                **slot.env(),
                "AR_SEED": str(node.seed),
                "AR_NODE": node.id,
                "AR_RUN": self.run_name,
                "AR_STATE_DIR": self._state_dir_id,  # a later start finds strays by it
            }
            if slot.remote:  # on the Ray cluster; the readonly files come back to check
                result = await run_on_ray(
                    self.config.search.ray_address, slot, target.run, worktree, extra,
                    list(target.readonly), self.log_path(node.id), parser, target.timeout_s,
                    on_start=on_start, on_output=on_output,
                )  # fmt: skip
            else:
                result = await run_command(
                    target.run, worktree, experiment_env(extra), self.log_path(node.id), parser,
                    target.timeout_s, on_start=on_start, on_output=on_output,
                )  # fmt: skip
            node.finished_at = time.time()
            flush(result.elapsed)
            self._durations.append(result.elapsed)
            if result.timed_out:
                node.status, node.reason = (
                    "timeout",
                    f"killed after the {target.timeout_s:g}s timeout",
                )
            elif changed := self._readonly_changed(worktree):
                node.status, node.reason = (
                    "invalid",
                    f"readonly file {changed} was changed by the run",
                )
            elif reason := parser.crash_reason(result.returncode):
                node.status, node.reason = "crashed", reason
            else:
                node.status, node.metric = "done", parser.value
        except asyncio.CancelledError:
            requeue = True  # stopped by a prune or by shutdown: it may run again later
            node.status, node.reason = "ready", "stopped before it finished"
            raise
        except Exception as exc:  # a full disk, a git failure: record it, go on
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            node.status, node.reason = "crashed", f"runner error: {type(exc).__name__}: {first}"
            if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                node.reason = "disk full (No space left on device) — free space, then re-run it"
        finally:
            node.finished_at = None if requeue else (node.finished_at or time.time())
            node.slot, node.pid = "", 0
            if requeue:
                node.started_at = None
            finish = asyncio.ensure_future(self._finish_run(node, worktree, requeue))
            self._finishing.add(finish)  # outlives this task if it is cancelled again:
            finish.add_done_callback(self._finishing.discard)  # _shutdown waits for it
            await asyncio.shield(finish)

    async def _checkout(self, node: Node) -> Path:
        prepared = self._prepared.pop(node.id, None)
        if prepared is not None:
            try:
                return await prepared
            except Exception:
                pass
        return await self._git(self.git.add_worktree, node.id, node.commit)  # type: ignore[union-attr]

    async def _finish_run(self, node: Node, worktree: Path | None, requeue: bool) -> None:
        self.tree.touch()  # the result counts for the next decision, before any await
        if node.id == ROOT_ID and node.status in FINISHED and not node.has_metric:
            self.notice(
                f"the base commit's run {node.status}: {node.reason} — fix the workspace "
                f"(log: {self.log_path(node.id)})",
                "error",
            )
            self._stopping = True
        if not requeue:
            # The slot is free now: the next experiment starts while this one's
            # teardown (worktree, note, store) runs on the teardown thread.
            self.busy.pop(node.id, None)
            self.wake()
        if worktree is not None:
            # On the set-up thread: removing the last worktree deletes .git/worktrees/,
            # which a concurrent `worktree add` would then fail to write into.
            await self._git(self.git.remove_worktree, worktree)  # type: ignore[union-attr]
        if requeue:
            await self._db(self.store.clear_points, node.id)  # type: ignore[union-attr]
        else:
            note = (
                f"{self.config.target.metric}: {node.metric}"
                if node.has_metric
                else f"{node.status}: {node.reason}"
            )
            await self._teardown(self.git.add_note, node.commit, note)  # type: ignore[union-attr]
        await self._save(node)
        await self._event(
            "finished" if not requeue else "stopped",
            node.id,
            status=node.status,
            metric=node.metric,
        )
        if not requeue:
            self._finished_runs += 1
            self._notify_best()
            await self._maybe_confirm()
        self.busy.pop(node.id, None)
        self._runs.pop(node.id, None)
        self.wake()

    # -- noise control and merges (DESIGN.md §5) ------------------------------------------
    def _unconfirmed_best(self) -> Node | None:
        """The best node when it still lacks its confirmation re-runs (none pending)."""
        runs = self.config.search.confirm_runs
        best = self.tree.best()
        if runs <= 0 or best is None or best.kind in ("root", "rerun"):
            return None
        if not best.has_metric or best.seed_only:
            return None
        pending = [
            c
            for c in self.tree.children(best.id)
            if c.kind == "rerun" and c.status in ("ready", "running")
        ]
        if len(self.tree.samples(best.id)) + len(pending) >= 1 + runs:
            return None
        return best

    async def _maybe_confirm(self) -> None:
        """Re-run the best before its gain counts (noise control). With `confirm_after` =
        k > 0 the re-run waits until k more experiments finished while it stayed the
        best: a real gain is often overtaken by its own child first (its re-run would be
        spent for nothing), while a lucky first run stalls the search until it is
        re-run. With k = 0 every new best is re-run at once. A bounded search also
        spends its last experiment on the best (see _start_proposals)."""
        if self._stopping:
            return
        if self.max_experiments is not None and self.started >= self.max_experiments:
            return
        best = self._unconfirmed_best()
        if best is None or f"confirm:{best.id}" in self._proposals:
            return
        after = self.config.search.confirm_after
        if self._best_watch[0] != best.id:  # a new best: count what finishes from now on
            self._best_watch = (best.id, self._finished_runs)
        survived = self._finished_runs - self._best_watch[1]
        if survived < after:
            return
        reason = (
            f"the best for {survived} finished experiments" if after else "about to become the best"
        )
        await self.rerun(best.id)
        await self._event("confirm", best.id, reason=reason)

    async def _confirm_last(self, key: str, node_id: str) -> None:
        try:
            best = self._unconfirmed_best()
            if best is not None and best.id == node_id:  # not re-run meanwhile
                await self.rerun(node_id)
                await self._event("confirm", node_id, reason="the best, at the budget's end")
        finally:
            self._proposals.pop(key, None)
            self.wake()

    def _start_merge(self) -> bool:
        """Start merging the best node with an improving node on another branch."""
        if not self.config.search.merge or self.policy.sequential:
            return False
        if any(k.startswith("merge:") for k in self._proposals):
            return False
        if any(n.kind == "merge" and n.status in ("ready", "running") for n in self.tree):
            return False
        plan = merge_candidate(self.tree, self._merge_tried)
        if plan is None:
            return False
        self._merge_tried.add(frozenset((plan.ours, plan.theirs)))
        key = f"merge:{plan.ours}+{plan.theirs}"
        self._proposals[key] = asyncio.create_task(self._merge(key, plan))
        return True

    def _merge_sync(
        self, ours: str, theirs: str
    ) -> tuple[dict[str, str], dict[str, str] | None, list[str], str]:
        """(ours' files, the merged files that differ from ours or None on a conflict,
        the conflicting paths, theirs' change as a diff against the common ancestor)."""
        git = self.git
        assert git is not None
        editable = list(self.config.target.editable)
        ancestor = git.merge_base(ours, theirs)
        ours_files = git.read_files(ours, editable)
        merged, conflicts = merge_files(
            git.read_files(ancestor, editable), ours_files, git.read_files(theirs, editable)
        )
        change = git.diff(ancestor, theirs, editable) if conflicts else ""
        return ours_files, merged, conflicts, change

    async def _merge(self, key: str, plan: MergePlan) -> None:
        """Make a merge node: a three-way merge of the two branches' editable files; on a
        conflict, a model-backed persona (if one is configured) brings the other branch's
        change into the best node's files, else there is no merge."""
        ours, theirs = self.tree[plan.ours], self.tree[plan.theirs]
        node: Node | None = None
        try:
            ours_files, files, conflicts, change = await self._git(
                self._merge_sync, ours.commit, theirs.commit
            )
            resolver = self._pick_proposer("merge") if conflicts else None
            if conflicts and resolver is None:
                reason = f"conflict in {', '.join(conflicts)}"
                await self._event("merge-skipped", ours.id, other=theirs.id, reason=reason)
                return
            if not conflicts and (not files or seed_only_change(ours_files, files)):
                reason = "nothing new but a seed" if files else "nothing new"
                await self._event("merge-skipped", ours.id, other=theirs.id, reason=reason)
                return
            description = f"merge {theirs.id} into {ours.id}: {theirs.description}"[:200]
            node = Node(
                id=node_id_for(self.tree.next_index()),
                parent=ours.id,
                other_parents=[theirs.id],
                status="proposing",
                kind="merge",
                persona=resolver.spec.persona if resolver else "merge",
                backend=resolver.spec.backend if resolver else "git",
                model=resolver.spec.model if resolver else "",
                description=description,
                branch="",
                created_at=time.time(),
                seed=self.seed,
            )
            node.branch = self.branch(node.id)
            self.tree.add(node)
            author = "merge (autoresearch-tui)"
            if resolver is not None:
                label = resolver.spec.label
                self._persona_use[label] = self._persona_use.get(label, 0) + 1
                await self._save(node)
                try:
                    request = self._request(node, ours_files, None, merge_change=change)
                    proposal = await resolver.propose(request)
                    self._check_proposal(proposal, ours_files)
                    if seed_only_change(ours_files, proposal.files):
                        raise ProposalFailed("the resolved merge changes only a seed")
                except ProposalFailed as exc:
                    reason = f"conflict in {', '.join(conflicts)}; {exc.reason}"
                    await self._proposal_failed(node, label, reason, exc.reply, exc.calls)
                    await self._event("merge-skipped", ours.id, other=theirs.id, reason=reason)
                    return
                files = proposal.files
                node.description = (
                    f"merge {theirs.id} into {ours.id} ({node.persona} resolved the conflict): "
                    f"{theirs.description}"
                )[:200]
                node.rationale = proposal.rationale
                await self._keep_record(node, proposal)
                author = f"{node.persona} (autoresearch-tui)"
            message = (
                f"{node.description}\n\npersona: {node.persona}\nparent: {ours.id}\n"
                f"merged: {theirs.id}\nnode: {node.id}\n"
            )
            node.commit = await self._git(
                functools.partial(
                    self.git.commit_files,  # type: ignore[union-attr]
                    ours.commit, files, message, node.branch, author,
                    other_parents=[theirs.commit],
                )
            )  # fmt: skip
            node.status = "ready"
            await self._save(node)
            await self._event("merge", node.id, parent=ours.id, other=theirs.id,
                              resolved_by=node.persona if resolver else "")  # fmt: skip
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a git failure must not stop the search
            if node is not None and node.status == "proposing" and node.id in self.tree:
                self.tree.remove(node.id)
                if self.store is not None:
                    await self._db(self.store.delete_node, node.id)
            self.notice(f"merge of {theirs.id} into {ours.id} failed: {exc}", "warning")
            await self._event("merge-skipped", ours.id, other=theirs.id, reason=str(exc)[:300])
        finally:
            self._proposals.pop(key, None)
            self.wake()

    # -- user actions (called on the loop thread) ----------------------------------------
    async def prune(self, node_id: str, pruned: bool = True) -> None:
        """Prune (or unprune) a subtree: it leaves the frontier; its runs are stopped."""
        node = self.tree[node_id]
        node.pruned = pruned
        await self._save(node)
        await self._event("prune" if pruned else "unprune", node_id)
        if pruned:
            for nid in self.tree.subtree(node_id):
                if (task := self._runs.get(nid)) is not None:
                    task.cancel()
        self.wake()

    async def set_boost(self, node_id: str, boost: float) -> None:
        node = self.tree[node_id]
        node.boost = boost
        await self._save(node)
        await self._event("boost", node_id, boost=boost)
        self.wake()

    async def rerun(self, node_id: str) -> Node:
        """Queue a seed repeat of a node's commit: a `rerun` child with another AR_SEED."""
        target = self.tree[node_id]
        if not target.commit:
            raise ValueError(f"{node_id} has no commit to re-run ({target.status})")
        repeats = [c for c in self.tree.children(node_id) if c.kind == "rerun"]
        node = Node(
            id=node_id_for(self.tree.next_index()),
            parent=node_id,
            status="ready",
            kind="rerun",
            persona=target.persona,
            backend=target.backend,
            model=target.model,
            description=f"re-run of {node_id} (seed {self.seed + len(repeats) + 1})",
            branch=target.branch,
            commit=target.commit,
            created_at=time.time(),
            seed=self.seed + len(repeats) + 1,
        )
        self.tree.add(node)
        await self._save(node)
        await self._event("rerun", node.id, of=node_id, seed=node.seed)
        self.wake()
        return node

    async def add_hint(self, text: str) -> None:
        self.hints.append(text)
        await self._event("hint", "", text=text)

    async def record(self, kind: str, node: str = "", **data: Any) -> None:
        """Write a view's own action (e.g. the TUI's export) to the events table."""
        await self._event(kind, node, **data)

    async def set_paused(self, paused: bool) -> None:
        self.paused = paused
        await self._event("pause" if paused else "resume")
        self.wake()

    def stop(self) -> None:
        """Stop: no new work; running experiments are killed and re-queued for a resume."""
        self._stopping = True
        for task in itertools.chain(self._runs.values(), self._proposals.values()):
            task.cancel()
            task.add_done_callback(lambda _: self.wake())
        self.wake()

    async def _shutdown(self) -> None:
        tasks = list(self._runs.values()) + list(self._proposals.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._finishing:
            await asyncio.gather(*self._finishing, return_exceptions=True)
        for prepared in self._prepared.values():
            try:
                await self._git(self.git.remove_worktree, await prepared)  # type: ignore[union-attr]
            except Exception:
                pass
        self._prepared.clear()
        try:
            for node in list(self.tree):
                if node.status == "proposing":
                    self.tree.remove(node.id)
                    await self._db(self.store.delete_node, node.id)  # type: ignore[union-attr]
            if self.store is not None:
                await self._event("stop")
        except sqlite3.Error:
            pass  # store_error says it; a resume drops unfinished proposals anyway
        if self.store is not None:
            await asyncio.get_running_loop().run_in_executor(self._db_thread, self.store.close)
        if self._lock is not None:
            release(self._lock)
            self._lock = None
        self._db_thread.shutdown(wait=True)
        self._git_thread.shutdown(wait=True)
        self._teardown_thread.shutdown(wait=True)
