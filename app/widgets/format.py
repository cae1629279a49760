"""Small text formatters shared by the widgets: durations, metrics, deltas, status marks."""

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


def fmt_duration(seconds: float | None) -> str:
    """0:42, 12:03, 1:02:03."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def fmt_metric(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.4f}" if abs(value) < 1000 else f"{value:.5g}"


def fmt_delta(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return ""
    return f"{value:+.4f}" if abs(value) < 1000 else f"{value:+.4g}"


def fmt_count(value: float) -> str:
    """1234 -> 1.2k, 1234567 -> 1.2M."""
    value = float(value or 0)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.1f}{suffix}"
    return f"{value:.0f}"


def delta_style(delta: float | None, goal: str) -> str:
    """'good', 'bad' or '' for a metric delta (new - old) under the goal."""
    if delta is None or delta == 0 or not math.isfinite(delta):
        return ""
    return "good" if improvement(delta, 0.0, goal) > 0 else "bad"


def status_mark(node: Node) -> str:
    return STATUS_MARKS.get(node.status, "?")
