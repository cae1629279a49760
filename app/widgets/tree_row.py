"""One row of the search tree as Rich text: `├─✓ n0042 architect 0.9932×2 -0.0047 better? ★`.

The guides to the parent, the status mark, the id, the persona, then the node's value
(the mean of its runs, ×runs when more than one), its Δ to the parent with the word for the goal and the
verdict's mark (search/values.py: ✓ confirmed, ? unconfirmed or noise unknown, ≈ within
noise); a re-run shows its own run ("run 2 of n0000"), never a change; a running node
its slot and time, one without a value its status. Then the flags (best, boost, pruned,
folded children). `SearchTree` caches
and draws these rows; `style` maps a component name ("best", "muted", ...) to its style.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.style import Style
from rich.text import Text

from autoresearch_tui.agents.format import fmt_delta, fmt_duration
from autoresearch_tui.app.widgets.format import BEST_MARK, BOOST_MARK, PRUNED_MARK, status_mark
from autoresearch_tui.app.widgets.tree_model import TreeModel

StyleOf = Callable[[str], Style]

PERSONA_WIDTH = 9
MARK_CLASS = {
    "running": "running",
    "done": "ok",
    "crashed": "error",
    "timeout": "error",
    "invalid": "error",
}


def guides(model: TreeModel, node_id: str) -> str:
    """The tree lines left of a node: `│ ├─`."""
    depth = model.depth[node_id]
    if depth == 0:
        return ""
    parts = ["└─" if model.is_last_child(node_id) else "├─"]
    current = model[node_id].parent
    while current is not None and model.depth.get(current, 0) > 0:
        parts.append("  " if model.is_last_child(current) else "│ ")
        current = model[current].parent
    return "".join(reversed(parts))


def row_text(model: TreeModel, node_id: str, width: int, style: StyleOf, now: float) -> Text:
    """The row of a node (without cursor or background), for a row `width` cells wide."""
    node = model[node_id]
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    lines = guides(model, node_id)
    wide = width >= 40  # room for the persona column
    room = max(4, width - (33 if wide else 23))
    if len(lines) > room:
        lines = "…" + lines[len(lines) - room + 1 :]
    text.append(lines, style("guides"))
    text.append(status_mark(node), style(MARK_CLASS.get(node.status, "muted")))
    text.append(f" {node.id} ")
    if wide:
        persona = node.persona if len(node.persona) <= PERSONA_WIDTH else node.persona[:8] + "…"
        text.append(f"{persona:<{PERSONA_WIDTH}} ", style("muted"))
    _append_result(text, model, node_id, style, now)
    for flag, flag_style in _flags(model, node_id):
        text.append(" ")
        text.append(flag, style(flag_style))
    if node_id == model.best_id:
        text.stylize(style("best"), len(lines))
    if node_id in model.pruned_eff:
        text.stylize(style("pruned"), len(lines))
    elif not model.is_match(node_id):
        text.stylize(style("context"), len(lines))
    return text


def _append_result(text: Text, model: TreeModel, node_id: str, style: StyleOf, now: float) -> None:
    """The value (×runs when a mean), its Δ with the word for the goal and the verdict's
    mark, "0.9932×2 -0.0047 better✓" (search/values.py); a re-run's own run ("run 2 of n0000", no Δ); the slot and
    time of a running node; or the status of one without a value."""
    node = model[node_id]
    if node.has_metric:
        value = model.value(node_id)
        if value.sample_of is not None:
            text.append(value.value_text(), style("muted"))
            return
        text.append(value.short_value())
        if value.delta is not None:
            kind = "" if value.better is None else "good" if value.better else "bad"
            text.append(f" {fmt_delta(value.delta)} {value.word}", style(kind) if kind else Style())
        text.append(value.mark, style("flag"))
    elif node.status == "running":
        started = node.started_at or now
        text.append(f"{node.slot} {fmt_duration(now - started)}", style("running"))
    elif node.status == "stopped":  # "stopped at 46%" (search/early_stopping.py)
        text.append(node.reason.partition(":")[0] or node.status, style("muted"))
    elif node.status in ("crashed", "timeout", "invalid", "failed"):
        text.append(node.status, style("error" if node.status != "failed" else "muted"))
    else:
        text.append(node.status, style("muted"))


def _flags(model: TreeModel, node_id: str) -> list[tuple[str, str]]:
    """(mark, style name) after the result: best, boost, pruned, folded children."""
    node = model[node_id]
    flags = []
    if node_id == model.best_id:
        flags.append((BEST_MARK, "best"))
    if node.boost != 1.0:
        flags.append((f"{BOOST_MARK}{node.boost:g}", "flag"))
    if node.pruned:
        flags.append((PRUNED_MARK, "flag"))
    if node_id in model.collapsed and model.kids.get(node_id):
        flags.append((f"+{model.hidden_below(node_id)}", "muted"))
    return flags
