"""The lessons note: every `[search] lessons_every` experiments a model persona writes what
the search has learned and what is still open; every later prompt shows it.

`Lessons` is a part of the open search (search/parts.py). After each fully recorded run
it counts the experiments as the results section does (search/memory.py: re-runs and the
base's calibration runs are samples, not experiments); at each multiple of
`lessons_every` it asks the writer (`[search] lessons_agent`, else the first agent that
can: agents/proposer.py `LessonsWriter`) in a task of its own: the loop never waits for
it (only the end of a bounded search does), and there is never more than one. The note is a `lessons` event (text, persona, at,
source "model" | "user"); the newest is the current note, loaded back on resume
(search/store.py `lessons_note`). Its calls are stored like a proposal's and count toward
`max_cost_usd`. A failure is a `lessons-failed` event with a one-line reason; the search
goes on and the next note is due at the next multiple. The person's edit (the TUI's `L`)
becomes the current note at once (a model's note that lands after it is dropped). See
docs/ARCHITECTURE.md §4.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from autoresearch_tui.agents.proposer import CallRecord, LessonsWriter, ProposalFailed
from autoresearch_tui.agents.request import LessonsNote, LessonsRequest
from autoresearch_tui.search.commit_facts import FactsCache, read_facts
from autoresearch_tui.search.memory import build_memory, measured_experiments
from autoresearch_tui.search.model import ROOT_ID
from autoresearch_tui.search.personas import Personas
from autoresearch_tui.search.tree import Tree

if TYPE_CHECKING:
    from autoresearch_tui.search.context import RunContext

log = logging.getLogger(__name__)


def experiments(tree: Tree) -> int:
    """Measured experiments, counted as the results section counts them."""
    return len(measured_experiments(tree))


def words(text: str) -> int:
    return len(text.split())


class Lessons:
    """When the note is due, who writes it, and the current note."""

    def __init__(
        self, ctx: RunContext, personas: Personas, facts: FactsCache, hints: list[str]
    ) -> None:
        self.ctx = ctx
        self.personas = personas
        self.facts = facts  # proposing's: each commit's constants, read once
        self.hints = hints  # the scheduler's list
        self.every = ctx.config.search.lessons_every
        self.current: LessonsNote | None = ctx.run.lessons
        self.tried_at = ctx.run.lessons_tried  # experiments at the last model attempt
        self._task: asyncio.Task[None] | None = None
        self._said_off = False

    @property
    def writing(self) -> bool:
        """A note is being written."""
        return self._task is not None and not self._task.done()

    def writer(self) -> LessonsWriter | None:
        """`lessons_agent`'s persona, else the first agent that can write the note."""
        name = self.ctx.config.search.lessons_agent
        for proposer in self.personas.proposers:
            if isinstance(proposer, LessonsWriter) and (
                not name or name in (proposer.spec.persona, proposer.spec.label)
            ):
                return proposer
        return None

    def due(self) -> int:
        """The multiple of `lessons_every` a note is due at now, or 0. The milestone, not
        the count: two runs recorded at once (4 -> 6) still give the note "at 5"."""
        if not self.every or self.writing:
            return 0
        count = experiments(self.ctx.tree)
        if count < self.every or count // self.every <= self.tried_at // self.every:
            return 0
        cap = self.ctx.config.search.max_cost_usd
        return 0 if cap and self.personas.cost_usd >= cap else count // self.every * self.every

    def after_run(self) -> None:
        """A run is fully recorded: start writing a note when one is due."""
        if not (at := self.due()):
            return
        writer = self.writer()
        if writer is None:
            if not self._said_off:
                self._said_off = True
                name = self.ctx.config.search.lessons_agent
                who = f"agent {name!r}" if name else "model-backed agent"
                self.ctx.notice(
                    f"no lessons notes: no {who} to write them (anthropic, openai, "
                    "openai-compatible) — add one to [[agents]], or set [search] "
                    "lessons_every = 0",
                    "info",
                )
            return
        self.tried_at = at
        self._task = asyncio.create_task(self._write(writer, at))
        self._task.add_done_callback(lambda _: self.ctx.wake())

    async def request(self, at: int) -> LessonsRequest:
        """What the writer is given: the tree's shared memory, the note so far, hints."""
        ctx = self.ctx
        editable = list(ctx.config.target.editable)
        found = await ctx.threads.git(read_facts, ctx.git, self.facts.missing(ctx.tree), editable)
        self.facts.add(found, ctx.tree)
        return LessonsRequest(
            workspace=ctx.config.root,
            metric=ctx.config.target.metric,
            goal=ctx.config.target.goal,
            experiments=at,
            memory=build_memory(ctx.tree, self.facts, ROOT_ID),
            previous=self.current,
            hints=tuple(self.hints),
        )

    async def _write(self, writer: LessonsWriter, at: int) -> None:
        persona = writer.spec.persona
        before = self.current
        try:
            reply = await writer.write_lessons(await self.request(at))
        except ProposalFailed as exc:
            await self._failed(persona, at, exc.reason, exc.calls)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a writer's bug must not stop the search
            log.exception("the lessons note failed")
            await self._failed(persona, at, f"{type(exc).__name__}: {exc}", [])
            return
        if self.current is not before:  # the person saved a note meanwhile: it stays
            reason = "the person saved a note while it was written; theirs is kept"
            await self._failed(persona, at, reason, reply.calls)
            return
        await self._record(reply.calls)
        self.current = LessonsNote(reply.text, persona, at)
        await self.ctx.event(
            "lessons", "", text=reply.text, persona=persona, at=at, source="model",
            model=reply.model,
        )  # fmt: skip
        self.ctx.notice(
            f"lessons note written at {at} experiments by {persona} ({words(reply.text)} "
            "words): every later prompt shows it; L in the TUI reads or edits it",
            "info",
        )

    async def _failed(
        self, persona: str, at: int, reason: str, calls: Sequence[CallRecord]
    ) -> None:
        reason = (reason.strip().splitlines() or ["failed"])[0][:300]
        await self._record(calls)
        await self.ctx.event("lessons-failed", "", persona=persona, at=at, reason=reason)
        self.ctx.notice(f"the lessons note failed: {reason} — the search goes on", "warning")

    async def _record(self, calls: Sequence[CallRecord]) -> None:
        if calls:
            self.personas.add_calls(calls)
            await self.ctx.threads.db(self.ctx.store.add_calls, "", list(calls))

    async def set_by_user(self, text: str) -> LessonsNote:
        """The person's note (an edit of the current one, or a first one): the current
        note for every later prompt."""
        text = text.strip()
        now = experiments(self.ctx.tree)
        old = self.current
        note = (
            LessonsNote(text, old.persona, old.at, edited=True)
            if old is not None
            else LessonsNote(text, "", now, edited=True)
        )
        self.current = note
        await self.ctx.event(
            "lessons", "", text=text, persona=note.persona, at=note.at, source="user",
            edited_at=now,
        )  # fmt: skip
        return note

    async def close(self) -> None:
        """Stop a note being written (the search is closing)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
