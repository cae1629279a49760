"""Noise control's confirmation re-runs: the best is re-run before its gain counts.

A re-run is a `rerun` child of a node: the same commit, another AR_SEED; its metric is one
more sample of the node (search/noise.py says what the samples mean). With
`[search] confirm_runs` = r > 0 the best is re-run until it has 1 + r samples. With
`confirm_after` = k > 0 its re-run waits until k more experiments finished while it
stayed the best: a real gain is often overtaken by its own child first (its re-run
would be spent for nothing), while a lucky first run stalls the search until it is
re-run. With k = 0 every new best is re-run at once. A bounded search also spends its
last experiment on the best (`confirm_last`). See docs/ARCHITECTURE.md §4.
"""

from __future__ import annotations

import time
from collections.abc import Container

from autoresearch_tui.search.context import RunContext
from autoresearch_tui.search.model import Node
from autoresearch_tui.search.model import node_id as node_id_for


def confirm_key(node_id: str) -> str:
    """The scheduler's name for the task that confirms `node_id` at the budget's end."""
    return f"confirm:{node_id}"


async def queue_rerun(ctx: RunContext, node_id: str) -> Node:
    """Queue a seed repeat of a node's commit: a `rerun` child with another AR_SEED."""
    target = ctx.tree[node_id]
    if not target.commit:
        raise ValueError(f"{node_id} has no commit to re-run ({target.status})")
    repeats = [c for c in ctx.tree.children(node_id) if c.kind == "rerun"]
    seed = ctx.seed + len(repeats) + 1
    node = Node(
        id=node_id_for(ctx.tree.next_index()),
        parent=node_id,
        status="ready",
        kind="rerun",
        persona=target.persona,
        backend=target.backend,
        model=target.model,
        description=f"re-run of {node_id} (seed {seed})",
        branch=target.branch,
        commit=target.commit,
        created_at=time.time(),
        seed=seed,
    )
    ctx.tree.add(node)
    await ctx.save(node)
    await ctx.event("rerun", node.id, of=node_id, seed=node.seed)
    ctx.wake()
    return node


class Confirmation:
    """When the best gets its re-runs; counts the runs finished by this process."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.finished_runs = 0  # runs finished by this process: confirm_after's clock
        self._best_watch: tuple[str, int] = ("", 0)  # the best, and finished_runs then

    def run_finished(self) -> None:
        self.finished_runs += 1

    def unconfirmed_best(self) -> Node | None:
        """The best node when it still lacks its confirmation re-runs (none pending)."""
        tree, runs = self.ctx.tree, self.ctx.config.search.confirm_runs
        best = tree.best()
        if runs <= 0 or best is None or best.kind in ("root", "rerun"):
            return None
        if not best.has_metric or best.seed_only:
            return None
        pending = [
            c
            for c in tree.children(best.id)
            if c.kind == "rerun" and c.status in ("ready", "running")
        ]
        if len(tree.samples(best.id)) + len(pending) >= 1 + runs:
            return None
        return best

    async def maybe_confirm(self, pending: Container[str]) -> None:
        """After a run finished: queue the best's re-run when it is due (see the module
        docstring); `pending` holds the scheduler's task names (`confirm_key`)."""
        best = self.unconfirmed_best()
        if best is None or confirm_key(best.id) in pending:
            return
        after = self.ctx.config.search.confirm_after
        if self._best_watch[0] != best.id:  # a new best: count what finishes from now on
            self._best_watch = (best.id, self.finished_runs)
        survived = self.finished_runs - self._best_watch[1]
        if survived < after:
            return
        reason = (
            f"the best for {survived} finished experiments" if after else "about to become the best"
        )
        await queue_rerun(self.ctx, best.id)
        await self.ctx.event("confirm", best.id, reason=reason)

    async def confirm_last(self, node_id: str) -> None:
        """The last experiment of a bounded search: re-run the best, unless it was meanwhile."""
        best = self.unconfirmed_best()
        if best is not None and best.id == node_id:
            await queue_rerun(self.ctx, node_id)
            await self.ctx.event("confirm", node_id, reason="the best, at the budget's end")
