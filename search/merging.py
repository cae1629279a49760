"""Merge nodes: when the search tries one, and how it is made (docs/ARCHITECTURE.md §4).

When `[search] merge` is on (and the policy is not sequential), the best node and an
improving node on another branch are merged, one pair at a time and each pair once
(search/merge.py chooses the pair and merges the text). A clean three-way merge of the
editable files becomes a merge node at once; on a conflict a model-backed persona, if
one is configured, brings the other branch's change into the best node's files; else,
or when what is left is only a seed, the pair is skipped (a `merge-skipped` event).
The merge node's commit is a real git merge commit with both parents.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Iterable
from dataclasses import dataclass

from autoresearch_tui.agents.proposer import ProposalFailed, Proposer
from autoresearch_tui.search.context import RunContext
from autoresearch_tui.search.merge import MergePlan, merge_candidate, merge_files
from autoresearch_tui.search.model import Node
from autoresearch_tui.search.model import node_id as node_id_for
from autoresearch_tui.search.noise import seed_only_change
from autoresearch_tui.search.personas import Personas
from autoresearch_tui.search.proposing import Proposing

MERGE_PREFIX = "merge:"  # the scheduler's names for the tasks that make merge nodes


def merge_key(plan: MergePlan) -> str:
    return f"{MERGE_PREFIX}{plan.ours}+{plan.theirs}"


@dataclass(frozen=True)
class ThreeWay:
    """A three-way merge of the editable files of `ours` and `theirs`."""

    ours_files: dict[str, str]
    merged: dict[str, str] | None  # the files that differ from ours; None on a conflict
    conflicts: list[str]  # the paths that conflicted
    change: str  # on a conflict: theirs' change, as a diff against the common ancestor


class Merging:
    """Plans merge nodes and makes them; `tried` holds every pair tried (or skipped)."""

    def __init__(
        self, ctx: RunContext, proposing: Proposing, personas: Personas, *, sequential: bool
    ) -> None:
        self.ctx = ctx
        self.proposing = proposing
        self.personas = personas
        self.enabled = ctx.config.search.merge and not sequential
        self.tried: set[frozenset[str]] = set()

    def next_plan(self, tasks: Iterable[str]) -> MergePlan | None:
        """The next pair to merge, marked tried; None while one is being made (`tasks`:
        the scheduler's task names) or waits to run, or when there is no candidate."""
        if not self.enabled or any(k.startswith(MERGE_PREFIX) for k in tasks):
            return None
        if any(n.kind == "merge" and n.status in ("ready", "running") for n in self.ctx.tree):
            return None
        plan = merge_candidate(self.ctx.tree, self.tried)
        if plan is not None:
            self.tried.add(frozenset((plan.ours, plan.theirs)))
        return plan

    async def make(self, plan: MergePlan) -> None:
        """Make the merge node of `plan`, or record why there is none (in the proposals'
        turn when they take turns: `Proposing.in_turn`)."""
        async with self.proposing.in_turn():
            await self._make(plan)

    async def _make(self, plan: MergePlan) -> None:
        ctx = self.ctx
        ours, theirs = ctx.tree[plan.ours], ctx.tree[plan.theirs]
        node: Node | None = None
        try:
            three = await ctx.threads.git(self._three_way, ours.commit, theirs.commit)
            files = three.merged
            resolver = None
            if files is None:
                resolver = self.personas.pick("merge", ctx.tree)
                if resolver is None:
                    await self._skipped(ours, theirs, f"conflict in {', '.join(three.conflicts)}")
                    return
            elif not files or seed_only_change(three.ours_files, files):
                reason = "nothing new but a seed" if files else "nothing new"
                await self._skipped(ours, theirs, reason)
                return
            node = self._new_node(ours, theirs, resolver)
            if resolver is not None:
                files = await self._resolve(node, resolver, ours, theirs, three)
            if files is not None:
                await self._commit(node, ours, theirs, files, resolved=resolver is not None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a git failure must not stop the search
            if node is not None and node.status == "proposing" and node.id in ctx.tree:
                ctx.tree.remove(node.id)
                await ctx.threads.db(ctx.store.delete_node, node.id)
            ctx.notice(f"merge of {theirs.id} into {ours.id} failed: {exc}", "warning")
            await ctx.event("merge-skipped", ours.id, other=theirs.id, reason=str(exc)[:300])

    def _three_way(self, ours: str, theirs: str) -> ThreeWay:
        """On the git thread."""
        git = self.ctx.git
        editable = list(self.ctx.config.target.editable)
        ancestor = git.merge_base(ours, theirs)
        ours_files = git.read_files(ours, editable)
        merged, conflicts = merge_files(
            git.read_files(ancestor, editable), ours_files, git.read_files(theirs, editable)
        )
        change = git.diff(ancestor, theirs, editable) if conflicts else ""
        return ThreeWay(ours_files, merged, conflicts, change)

    def _new_node(self, ours: Node, theirs: Node, resolver: Proposer | None) -> Node:
        ctx = self.ctx
        node = Node(
            id=node_id_for(ctx.tree.next_index()),
            parent=ours.id,
            other_parents=[theirs.id],
            status="proposing",
            kind="merge",
            persona=resolver.spec.persona if resolver else "merge",
            backend=resolver.spec.backend if resolver else "git",
            model=resolver.spec.model if resolver else "",
            description=f"merge {theirs.id} into {ours.id}: {theirs.description}"[:200],
            branch="",
            created_at=time.time(),
            seed=ctx.seed,
        )
        node.branch = ctx.branch(node.id)
        ctx.tree.add(node)
        return node

    async def _resolve(
        self, node: Node, resolver: Proposer, ours: Node, theirs: Node, three: ThreeWay
    ) -> dict[str, str] | None:
        """The persona's resolution of a conflict: the merged files, or None (recorded)."""
        label = resolver.spec.label
        self.personas.count_use(resolver)
        await self.ctx.save(node)
        try:
            request = self.proposing.request(node, three.ours_files, None, three.change)
            proposal = await resolver.propose(request)
            self.proposing.check(proposal, three.ours_files)
            if seed_only_change(three.ours_files, proposal.files):
                raise ProposalFailed("the resolved merge changes only a seed")
        except ProposalFailed as exc:
            reason = f"conflict in {', '.join(three.conflicts)}; {exc.reason}"
            await self.proposing.failed(node, label, reason, exc.reply, exc.calls)
            await self._skipped(ours, theirs, reason)
            return None
        node.description = (
            f"merge {theirs.id} into {ours.id} ({node.persona} resolved the conflict): "
            f"{theirs.description}"
        )[:200]
        node.rationale = proposal.rationale
        await self.proposing.keep_record(node, proposal)
        return proposal.files

    async def _commit(
        self, node: Node, ours: Node, theirs: Node, files: dict[str, str], *, resolved: bool
    ) -> None:
        ctx = self.ctx
        author = f"{node.persona} (autoresearch-tui)" if resolved else "merge (autoresearch-tui)"
        message = (
            f"{node.description}\n\npersona: {node.persona}\nparent: {ours.id}\n"
            f"merged: {theirs.id}\nnode: {node.id}\n"
        )
        commit = functools.partial(
            ctx.git.commit_files, ours.commit, files, message, node.branch, author,
            other_parents=[theirs.commit],
        )  # fmt: skip
        node.commit = await ctx.threads.git(commit)
        node.status = "ready"
        await ctx.save(node)
        await ctx.event("merge", node.id, parent=ours.id, other=theirs.id,
                        resolved_by=node.persona if resolved else "")  # fmt: skip

    async def _skipped(self, ours: Node, theirs: Node, reason: str) -> None:
        await self.ctx.event("merge-skipped", ours.id, other=theirs.id, reason=reason)
