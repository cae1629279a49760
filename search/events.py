"""What the scheduler tells its listeners (the headless printer, the TUI).

Listeners are plain callables run on the scheduler's event loop; they must not block.
`NodeChanged` is sent on every status change; `Progress` at most a few times a second
per running node (a view may keep only the latest per node). See docs/ARCHITECTURE.md
§2 and §7.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from autoresearch_tui.search.model import Node


@dataclass(frozen=True)
class NodeChanged:
    node: Node


@dataclass(frozen=True)
class Progress:
    node_id: str
    slot: str
    elapsed: float
    progress: float  # 0..100, from the "(p%)" of progress lines; 0 when unknown
    points: list[tuple[int, float, float]] = field(default_factory=list)  # new (step, loss, t)
    lines: list[str] = field(default_factory=list)  # new log lines


@dataclass(frozen=True)
class Notice:
    text: str
    level: str = "info"  # info | warning | error


Event = NodeChanged | Progress | Notice
