"""What only the TUI draws: status marks and the colour of a delta.

Numbers (metrics, deltas, durations, counts) are formatted by `agents/format.py`, the one
definition every output shares.
"""

from __future__ import annotations

import math

from autoresearch_tui.search.model import Node, improvement

# One cell wide in every terminal font we tried (no emoji presentation).
STATUS_MARKS = {
    "proposing": "…",
    "ready": "○",
    "running": "▶",
    "done": "✓",
    "crashed": "✗",
    "timeout": "◷",
    "invalid": "⊘",
    "failed": "·",
}
BEST_MARK = "★"
BOOST_MARK = "▲"
PRUNED_MARK = "✂"
UNCONFIRMED_MARK = "?"


def delta_style(delta: float | None, goal: str) -> str:
    """'good', 'bad' or '' for a metric delta (new - old) under the goal."""
    if delta is None or delta == 0 or not math.isfinite(delta):
        return ""
    return "good" if improvement(delta, 0.0, goal) > 0 else "bad"


def status_mark(node: Node) -> str:
    return STATUS_MARKS.get(node.status, "?")
