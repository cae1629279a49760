"""The parts of an open search, built together when the run opens and closed together.

Each part has one job: proposing (search/proposing.py), the life of a run
(search/running.py), confirmation re-runs (search/confirming.py), merge nodes
(search/merging.py) and the lessons note (search/lessons.py); they share the
`RunContext` (search/context.py). The scheduler keeps the loop, the user's actions and
the stop (docs/ARCHITECTURE.md §2).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from autoresearch_tui.search.confirming import Confirmation
from autoresearch_tui.search.context import RunContext
from autoresearch_tui.search.executor import Executor
from autoresearch_tui.search.lessons import Lessons
from autoresearch_tui.search.merging import Merging
from autoresearch_tui.search.model import Node
from autoresearch_tui.search.personas import Personas
from autoresearch_tui.search.proposing import Proposing
from autoresearch_tui.search.runlock import release
from autoresearch_tui.search.running import RunLife


@dataclass
class Parts:
    ctx: RunContext
    proposing: Proposing
    running: RunLife
    confirming: Confirmation
    merging: Merging
    lessons: Lessons

    @classmethod
    def build(
        cls,
        ctx: RunContext,
        executor: Executor,
        personas: Personas,
        *,
        hints: list[str],
        slots: int,
        sequential: bool,
        released: Callable[[Node, bool], None],
        finished: Callable[[Confirmation, Node, bool], Awaitable[None]],
    ) -> Parts:
        """`released` and `finished` are the scheduler's: a run's slot is free, a run is
        fully recorded (see RunLife); a lessons note may then be due."""
        confirming = Confirmation(ctx)

        async def recorded(node: Node, requeue: bool) -> None:
            await finished(confirming, node, requeue)
            if not requeue:
                lessons.after_run()

        running = RunLife(ctx, executor, slots, released, recorded)
        proposing = Proposing(ctx, personas, hints, running.prepare)
        proposing.turn = asyncio.Lock() if executor.serial_proposals else None
        lessons = Lessons(ctx, personas, proposing.facts, hints)
        proposing.lessons = lambda: lessons.current
        merging = Merging(ctx, proposing, personas, sequential=sequential)
        return cls(ctx, proposing, running, confirming, merging, lessons)

    async def close(self) -> None:
        """After every task was cancelled: wait for the runs' teardowns, drop unfinished
        proposals, close the store, let the workspace go."""
        ctx = self.ctx
        await self.lessons.close()
        await self.running.close()
        try:
            for node in list(ctx.tree):
                if node.status == "proposing":
                    ctx.tree.remove(node.id)
                    await ctx.threads.db(ctx.store.delete_node, node.id)
            await ctx.event("stop")
        except sqlite3.Error:
            pass  # store_error says it; a resume drops unfinished proposals anyway
        await ctx.threads.db_unreported(ctx.store.close)
        release(ctx.run.lock)
