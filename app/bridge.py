"""The engine-to-UI bridge: the scheduler's listener and the messages it posts.

The scheduler runs on the app's own event loop and calls its listeners for every event.
`SearchBridge` buffers what it hears and posts few, coalesced messages: node changes are
taken as one batch per `NodesChanged`, progress (loss points, log lines, elapsed time) at
most four times a second per `ProgressTick`, keeping every point and the latest figures
per node. See docs/ARCHITECTURE.md §7 The TUI.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from textual.message import Message

from autoresearch_tui.search.events import Event, NodeChanged, Notice, Progress
from autoresearch_tui.search.model import Node

PROGRESS_EVERY_S = 0.25  # at most four progress refreshes a second


class NodesChanged(Message):
    """Some nodes changed; the app takes them all from the bridge in one batch."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, NodesChanged)


class ProgressTick(Message):
    """Running nodes reported progress; the app takes it all from the bridge."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ProgressTick)


class SearchNotice(Message):
    """A notice of the scheduler (a budget reached, a failing agent...) to show as is."""

    def __init__(self, text: str, level: str) -> None:
        super().__init__()
        self.text = text
        self.level = level


@dataclass
class LiveProgress:
    """The latest progress of one running node, and what arrived since the last tick."""

    slot: str = ""
    elapsed: float = 0.0
    percent: float = 0.0
    points: list[tuple[int, float]] = field(default_factory=list)
    new_lines: int = 0


class SearchBridge:
    """The scheduler's listener: buffers events on the loop and posts few messages."""

    def __init__(self, post: Callable[[Message], Any], every_s: float = PROGRESS_EVERY_S):
        self.post = post
        self.every_s = every_s
        self._nodes: dict[str, Node] = {}
        self._progress: dict[str, LiveProgress] = {}
        self._nodes_posted = False
        self._progress_posted = False
        self._last_progress = 0.0

    def __call__(self, event: Event) -> None:
        if isinstance(event, NodeChanged):
            self._nodes[event.node.id] = event.node
            if not self._nodes_posted:
                self._nodes_posted = True
                self.post(NodesChanged())
        elif isinstance(event, Progress):
            live = self._progress.setdefault(event.node_id, LiveProgress())
            live.slot, live.elapsed, live.percent = event.slot, event.elapsed, event.progress
            live.points.extend((step, loss) for step, loss, _ in event.points)
            live.new_lines += len(event.lines)
            self._schedule_progress()
        elif isinstance(event, Notice):
            self.post(SearchNotice(event.text, event.level))

    def _schedule_progress(self) -> None:
        if self._progress_posted:
            return
        self._progress_posted = True
        wait = self._last_progress + self.every_s - time.monotonic()
        if wait <= 0:
            self.post(ProgressTick())
        else:
            asyncio.get_running_loop().call_later(wait, self.post, ProgressTick())

    def take_nodes(self) -> list[Node]:
        """The latest snapshot of every node that changed since the last take."""
        nodes = list(self._nodes.values())
        self._nodes.clear()
        self._nodes_posted = False
        return nodes

    def take_progress(self) -> dict[str, LiveProgress]:
        """The progress gathered since the last take, by node id."""
        progress, self._progress = self._progress, {}
        self._progress_posted = False
        self._last_progress = time.monotonic()
        return progress
