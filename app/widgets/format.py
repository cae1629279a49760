"""What only the TUI draws: status marks and flags (a value's Δ and verdict: search/values.py).

Numbers (metrics, deltas, durations, counts) are formatted by `agents/format.py`, the one
definition every output shares.
"""

from __future__ import annotations

from autoresearch_tui.search.model import Node

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
    "stopped": "⏹",  # stopped early: losing to its parent (search/early_stopping.py)
}
BEST_MARK = "★"
BOOST_MARK = "▲"
PRUNED_MARK = "✂"


def status_mark(node: Node) -> str:
    return STATUS_MARKS.get(node.status, "?")
