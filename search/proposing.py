"""Proposing: one child of a node, from the persona's request to a commit on its branch.

The scheduler makes the child (`new_child`, status "proposing") and runs `propose` as a
task: the parent's editable files and what the tree knows go to the persona as a
`ProposalRequest`; an accepted `Proposal` becomes a commit on the child's own branch and
the child is ready to run (docs/ARCHITECTURE.md §2). A failed proposal stays in the tree
as a `failed` node with its reason, and its persona backs off (search/personas.py). Every
model call is stored with its cost; a model's raw reply is kept in logs/<node>.reply.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from autoresearch_tui.agents.format import fmt_metric
from autoresearch_tui.agents.proposer import (
    CallRecord,
    Proposal,
    ProposalFailed,
    Proposer,
    safe_text,
)
from autoresearch_tui.agents.request import LessonsNote, ProposalRequest, TriedChange
from autoresearch_tui.search.commit_facts import CommitFacts, FactsCache, read_facts
from autoresearch_tui.search.constants import constant_changes, unsaid
from autoresearch_tui.search.context import RunContext
from autoresearch_tui.search.log_cap import size_text
from autoresearch_tui.search.memory import build_memory
from autoresearch_tui.search.model import Node, NodeKind
from autoresearch_tui.search.model import node_id as node_id_for
from autoresearch_tui.search.noise import seed_only_change
from autoresearch_tui.search.personas import MAX_FAILED_IN_A_ROW, Personas
from autoresearch_tui.search.recovery import stop_if_unwritable
from autoresearch_tui.search.run_figures import RunFacts, read_log_ends
from autoresearch_tui.search.tree import Tree
from autoresearch_tui.search.tuner_history import Curve, add_curves, tuner_history

CRASH_LOG_LINES = (20, 60)  # head and tail of a crashed parent's log given to a debugger
CRASH_LOG_BYTES = 65536  # of the log read from each end for them
TRIED_SHOWN = 40  # siblings and cousins shown to the persona, the latest
DUPLICATE_RETRIES = 2  # a proposal identical to an existing node goes back this often


def log_excerpt(path: Path, head: int, tail: int) -> str:
    """The first `head` and last `tail` non-blank lines of a log, read from its first and
    last CRASH_LOG_BYTES only (with a seek: a log may be hundreds of MB)."""
    ends = read_log_ends(path, CRASH_LOG_BYTES, CRASH_LOG_BYTES)
    lines = ends.tail
    if ends.head:  # a long log: its middle was not read
        with contextlib.suppress(OSError):
            gap = size_text(path.stat().st_size - ends.bytes_read)
            lines = [*ends.head[:head], f"... ({gap} left out) ...", *lines[-tail:]]
        return "\n".join(lines)
    if len(lines) <= head + tail:
        return "\n".join(lines)
    return "\n".join([*lines[:head], f"... ({len(lines) - head - tail} lines) ...", *lines[-tail:]])


class DuplicateProposal(ProposalFailed):
    """A proposal whose editable files are an existing node's (whitespace aside)."""

    def __init__(self, reason: str, proposal: Proposal) -> None:
        super().__init__(reason, reply=proposal.reply, calls=proposal.calls)
        self.description = proposal.description


def parent_of(tree: Tree, node: Node) -> Node:
    if node.parent is None:
        raise ValueError(f"{node.id} is the base: it has no parent")
    return tree[node.parent]


class Proposing:
    """Asks the personas for children and records what they answer."""

    def __init__(
        self,
        ctx: RunContext,
        personas: Personas,
        hints: list[str],
        on_ready: Callable[[Node], None],
    ) -> None:
        self.ctx = ctx
        self.personas = personas
        self.hints = hints  # the scheduler's list: hints added later reach later requests
        self.on_ready = on_ready  # a child became ready (its worktree may be prepared)
        self.latencies: list[float] = []  # seconds per accepted proposal
        # Each commit's constants and content hash, read once per process (git thread),
        # and the index that rejects a proposal identical to an existing node.
        self.facts = FactsCache()
        # What the runs are (machine, budget, the parent's and the best's run figures).
        self.run_facts: RunFacts | None = None
        # The current lessons note (search/lessons.py), read when a request is built.
        self.lessons: Callable[[], LessonsNote | None] = lambda: None
        # Stopped runs' curves for the tuner, read from state.db once (tuner_history.py).
        self.stopped_curves: dict[str, Curve] = {}
        self.turn: asyncio.Lock | None = None  # set by search/parts.py

    def new_child(self, parent: Node, kind: NodeKind, proposer: Proposer) -> Node:
        """A "proposing" child of `parent` for `proposer`, in the tree (not yet saved)."""
        ctx = self.ctx
        node = Node(
            id=node_id_for(ctx.tree.next_index()),
            parent=parent.id,
            status="proposing",
            kind=kind,
            persona=proposer.spec.persona,
            backend=proposer.spec.backend,
            model=proposer.spec.model,
            created_at=time.time(),
            seed=ctx.seed,
        )
        ctx.tree.add(node)
        self.personas.count_use(proposer)
        return node

    async def propose(self, node: Node, proposer: Proposer) -> None:
        """Ask `proposer` for `node`'s change; commit it, or record why there is none."""
        async with self.in_turn():
            await self._propose(node, proposer)

    def in_turn(self) -> contextlib.AbstractAsyncContextManager[object]:
        """With `turn`, proposals and merges are made one at a time, in the order asked
        (search/executor.py); without, at once."""
        return self.turn if self.turn is not None else contextlib.nullcontext()

    async def _propose(self, node: Node, proposer: Proposer) -> None:
        ctx = self.ctx
        label = proposer.spec.label
        await ctx.save(node)
        parent = parent_of(ctx.tree, node)
        worktree: Path | None = None
        start = time.monotonic()
        try:
            missing = self.facts.missing(ctx.tree)
            files, found = await ctx.threads.git(self._read, parent.commit, missing)
            self.facts.add(found, ctx.tree)
            if proposer.spec.backend == "command":
                worktree = await ctx.threads.git(ctx.git.add_worktree, node.id, parent.commit)
            request = self.request(node, files, worktree)
            await add_curves(ctx, request, self.stopped_curves)  # the tuner's stopped trials
            if self.run_facts is not None:
                await self.run_facts.fill(request, parent, ctx.tree.best())
            proposal = await self._ask(proposer, request, files)
            node.seed_only = seed_only_change(files, proposal.files)
            self.latencies.append(time.monotonic() - start)
            await self._accept(node, parent, proposal, files)
            self.personas.succeeded(label)
        except DuplicateProposal as exc:
            # The failed node keeps the change's description, so the next request from
            # this parent lists it as tried (a seeded mutator would draw it again).
            node.description = exc.description
            await self.failed(node, label, exc.reason, exc.reply, exc.calls)
        except ProposalFailed as exc:
            await self.failed(node, label, exc.reason, exc.reply, exc.calls)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a persona's bug or a full disk must not stop the search
            if stop_if_unwritable(ctx, exc):  # but an unwritable workspace does (recovery.py)
                return  # left `proposing`: the next start drops it
            await self.failed(node, label, f"{type(exc).__name__}: {exc}", "", [])
        finally:
            if worktree is not None:
                await ctx.threads.git(ctx.git.remove_worktree, worktree)

    async def _ask(
        self, proposer: Proposer, request: ProposalRequest, files: dict[str, str]
    ) -> Proposal:
        """The persona's checked proposal. One identical to an existing node goes back to
        the persona with the reason (DUPLICATE_RETRIES times; not for a `command` agent,
        whose worktree holds its edits), then fails with it."""
        calls: list[CallRecord] = []
        for attempt in range(DUPLICATE_RETRIES + 1):
            try:
                proposal = await proposer.propose(request)
                calls += proposal.calls
                self.check(proposal, files)
                proposal.calls = calls
                return proposal
            except DuplicateProposal as exc:
                exc.calls = calls
                if attempt == DUPLICATE_RETRIES or request.worktree is not None:
                    raise
                if self.over_budget(calls):
                    exc.reason += " (not asked again: the cost budget is spent)"
                    raise
                request = dataclasses.replace(
                    request,
                    rejected=[*request.rejected, exc.reason],
                    tried_descriptions=request.tried_descriptions | {exc.description},
                )
            except ProposalFailed as exc:
                raise ProposalFailed(exc.reason, reply=exc.reply, calls=calls + exc.calls) from None
        raise AssertionError("unreachable")  # the loop returns or raises

    def over_budget(self, calls: list[CallRecord]) -> bool:
        """`[search] max_cost_usd` is reached counting these calls, not recorded yet."""
        cap = self.ctx.config.search.max_cost_usd
        spent = self.personas.cost_usd + sum(c.cost_usd for c in calls)
        return bool(cap) and spent >= cap

    def _read(
        self, commit: str, missing: list[str]
    ) -> tuple[dict[str, str], dict[str, CommitFacts]]:
        """On the git thread: the parent's editable files, and the facts of the commits
        not read yet (the loop thread merges them into `facts`)."""
        git, editable = self.ctx.git, list(self.ctx.config.target.editable)
        return git.read_files(commit, editable), read_facts(git, missing, editable)

    def request(
        self, node: Node, files: dict[str, str], worktree: Path | None, merge_change: str = ""
    ) -> ProposalRequest:
        """What the persona is told: the parent's files, its lineage, what was tried near
        it, the best so far, the hints, and a debug child's crash log."""
        config, tree = self.ctx.config, self.ctx.tree
        parent = parent_of(tree, node)

        def tried(n: Node) -> TriedChange:
            value = tree.metric_mean(n.id)  # its value: the mean of its runs (values.py)
            return TriedChange(
                n.id, n.description, n.status, value, tree.delta_parent(n), n.persona
            )

        near: list[Node] = tree.children(parent.id)
        if parent.parent is not None:
            for uncle in tree.children(parent.parent):
                if uncle.id != parent.id:
                    near += [uncle, *tree.children(uncle.id)]
        near = [
            n
            for n in near
            if n.id != node.id and n.description and n.status != "proposing" and n.kind != "rerun"
        ]
        best, root = tree.best(), tree.root
        debug = node.kind == "debug"
        return ProposalRequest(
            workspace=config.root,
            parent_id=parent.id,
            parent_files=files,
            editable=list(config.target.editable),
            metric=config.target.metric,
            goal=config.target.goal,
            seed=self.ctx.seed,
            kind="debug" if debug else "merge" if node.kind == "merge" else "improve",
            worktree=worktree,
            parent_metric=parent.metric if parent.has_metric else None,
            base_metric=root.metric if root is not None and root.has_metric else None,
            lineage=[tried(n) for n in tree.lineage(parent.id)],
            tried=[tried(n) for n in sorted(near, key=lambda n: n.id)[-TRIED_SHOWN:]],
            best=tried(best) if best is not None else None,
            hints=list(self.hints),
            crash_log=log_excerpt(config.log_path(parent.id), *CRASH_LOG_LINES) if debug else "",
            tried_descriptions={
                c.description for c in tree.experiments(parent.id) if c.description
            },
            merge_with=tried(tree[node.other_parents[0]]) if node.other_parents else None,
            merge_change=merge_change,
            memory=build_memory(tree, self.facts, parent.id, exclude=node.id),
            lessons=self.lessons(),
            tuner=tuner_history(tree, self.facts, parent.id) if self._tuning() else None,
            child_id=node.id,
        )

    def _tuning(self) -> bool:
        """A `tuner` (optuna backend) persona is in the search: requests carry its history."""
        return any(p.spec.backend == "optuna" for p in self.personas.proposers)

    def check(self, proposal: Proposal, parent_files: dict[str, str]) -> None:
        """Raise ProposalFailed for a proposal that edits a file it may not or nothing,
        and DuplicateProposal for one whose files an existing node already has."""
        editable = set(self.ctx.config.target.editable)
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
        twin = self.facts.duplicate_of({**parent_files, **proposal.files}, self.ctx.tree)
        if twin is not None:
            raise DuplicateProposal(self.duplicate_reason(twin), proposal)
        if not proposal.description.strip():
            proposal.description = "(no description)"

    def duplicate_reason(self, twin: Node) -> str:
        """Why a proposal identical to `twin` is not trained again, and what to do."""
        tree, metric = self.ctx.tree, self.ctx.config.target.metric
        mean = tree.metric_mean(twin.id)
        if mean is not None:
            runs = len(tree.samples(twin.id))
            known = f"already measured: {metric} {fmt_metric(mean)} over {runs} run{'s' if runs != 1 else ''}"
        elif twin.status in ("ready", "running"):
            known = f"{twin.status}, not measured yet"
        else:
            known = f"already run: {twin.status}" + (f" ({twin.reason})" if twin.reason else "")
        what = twin.description or ("the base" if twin.parent is None else "")
        changes = ""
        if twin.parent is not None and twin.parent in tree:
            mine, theirs = self.facts.constants(twin), self.facts.constants(tree[twin.parent])
            if mine is not None and theirs is not None:
                said = unsaid(twin.description, constant_changes(theirs, mine))
                changes = ", ".join(c.text() for c in said)
        label = "; ".join(x for x in (what, changes) if x)
        return (
            f"the proposal's files are identical to {twin.id}'s ({label}), {known} — "
            "propose a change that no experiment has made yet"
        )

    async def _accept(
        self, node: Node, parent: Node, proposal: Proposal, parent_files: dict[str, str]
    ) -> None:
        ctx = self.ctx
        description = proposal.description.strip().splitlines()[0][:200]
        node.description = description
        node.rationale = proposal.rationale
        node.model = proposal.model or node.model
        node.branch = ctx.branch(node.id)
        # Indexed before the commit is awaited: a twin checked meanwhile is a duplicate.
        facts = self.facts.remember(node, {**parent_files, **proposal.files}, ctx.tree)
        message = (
            f"{description}\n\npersona: {node.persona}\nparent: {parent.id}\nnode: {node.id}\n"
            + (f"\n{proposal.rationale}\n" if proposal.rationale else "")
        )
        node.commit = await ctx.threads.git(
            ctx.git.commit_files,
            parent.commit,
            proposal.files,
            message,
            node.branch,
            f"{node.persona} (autoresearch-tui)",
        )
        self.facts.committed(node.commit, facts)
        await self.keep_record(node, proposal)
        node.status = "ready"
        await ctx.save(node)
        await ctx.event("proposed", node.id, parent=parent.id, persona=node.persona)
        self.on_ready(node)

    async def failed(
        self, node: Node, label: str, reason: str, reply: str, calls: Sequence[CallRecord]
    ) -> None:
        """Record a failed proposal: the node, its calls and reply; the persona backs off."""
        ctx = self.ctx
        delay = self.personas.failed(label)
        if delay:
            asyncio.get_running_loop().call_later(delay, ctx.wake)
        if self.personas.failed_in_a_row == MAX_FAILED_IN_A_ROW:
            ctx.notice(
                f"{MAX_FAILED_IN_A_ROW} proposals failed in a row (last: {reason[:120]}) — "
                f"no new proposals; see {ctx.config.log_dir}/*.reply.md and the agents' settings",
                "error",
            )
        node.status = "failed"
        node.reason = reason.splitlines()[0][:300] if reason else "failed"
        node.finished_at = time.time()
        await self.record_calls(node, calls)
        if reply:
            await self._write_reply(node, reply)
        await ctx.save(node)
        await ctx.event("proposal-failed", node.id, reason=node.reason, persona=node.persona)

    async def keep_record(self, node: Node, proposal: Proposal) -> None:
        """Store an accepted proposal's model calls and keep its reply in logs/."""
        await self.record_calls(node, proposal.calls)
        if proposal.reply:
            await self._write_reply(node, proposal.reply)

    async def record_calls(self, node: Node, calls: Sequence[CallRecord]) -> None:
        if calls:
            self.personas.add_calls(calls)
            await self.ctx.threads.db(self.ctx.store.add_calls, node.id, list(calls))

    async def _write_reply(self, node: Node, reply: str) -> None:
        path = self.ctx.config.log_dir / f"{node.id}.reply.md"

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(safe_text(reply), encoding="utf-8")  # any code point a model sent

        await self.ctx.threads.db(write)
