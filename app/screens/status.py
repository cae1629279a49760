"""What the main screen's slots bar and loss chart show, as plain functions of the model.

`slot_rows` (one row per slot: its node, persona, progress), `totals_text` (experiments,
best, rate, tokens, cost, time, paused) and `chart_series` (the selected node's loss
curve with its parent's and the best node's).
"""

from __future__ import annotations

from rich.text import Text

from autoresearch_tui.agents.format import fmt_count, fmt_delta, fmt_duration, fmt_metric
from autoresearch_tui.app.bridge import LiveProgress
from autoresearch_tui.app.widgets.loss_chart import Series
from autoresearch_tui.app.widgets.slots_bar import SlotRow
from autoresearch_tui.app.widgets.tree_model import TreeModel
from autoresearch_tui.search.scheduler import Scheduler


def slot_rows(
    model: TreeModel, live: dict[str, LiveProgress], slots: list[str], timeout: float, now: float
) -> list[SlotRow]:
    """A row per slot (`slots`; when empty, each slot a running node names), with its node's
    progress: the run's own percent when it reports one, else the time against `timeout`."""
    running = model.running()
    rows = []
    for name in slots or sorted(running):
        nid = running.get(name)
        if nid is None:
            rows.append(SlotRow(name))
            continue
        node = model[nid]
        progress = live.get(nid)
        elapsed = (
            now - node.started_at if node.started_at else (progress.elapsed if progress else 0)
        )
        percent = progress.percent if progress and progress.percent > 0 else 0.0
        if not percent and timeout:
            percent = min(100.0, 100.0 * elapsed / timeout)
        rows.append(SlotRow(name, nid, node.persona, percent, elapsed))
    return rows


def totals_text(
    model: TreeModel,
    session_finished: int,
    call_totals: dict[str, float],
    search: Scheduler | None,
    now: float,
) -> Text:
    """The slots bar's last line: experiments, the best and its gain, and (with a search)
    this session's rate, the agents' tokens and dollars, the elapsed time, paused."""
    text = Text()
    text.append(f"{model.finished_count} experiments", "bold")
    best = model[model.best_id] if model.best_id else None
    if best is not None:
        text.append(" · best ")
        text.append(f"{best.id} {fmt_metric(model.mean(best.id))}", "bold green")
        gain = model.tree.delta_base(best)
        if gain is not None:
            text.append(f" ({fmt_delta(gain) or '+0'} vs base)")
    if search is not None:
        elapsed = max(0.0, now - search.started_at)
        rate = session_finished / (elapsed / 3600) if elapsed > 60 else 0.0
        text.append(f" · {rate:.1f}/h")
        tokens = (call_totals.get("input_tokens") or 0) + (call_totals.get("output_tokens") or 0)
        cost = max(search.cost_usd, call_totals.get("cost_usd") or 0.0)
        text.append(f" · {fmt_count(tokens)} tokens · ${cost:.2f}")
        text.append(f" · {fmt_duration(elapsed)}")
        if search.paused:
            text.append(" · ⏸ paused (space resumes)", "bold yellow")
    return text


def chart_series(
    model: TreeModel, ids: list[str], points: dict[str, dict[int, float]]
) -> list[Series]:
    """The curves of `ids` (the selected node, then its parent and the best node if
    charted), labelled and coloured; none when nothing is selected."""
    if not ids:
        return []

    def curve(nid: str) -> tuple[tuple[int, float], ...]:
        return tuple(sorted(points.get(nid, {}).items()))

    nid = ids[0]
    series = [Series(nid, curve(nid), "bold yellow")]
    parent = model[nid].parent
    if parent is not None and parent in ids:
        series.append(Series(f"parent {parent}", curve(parent), "dodger_blue1"))
    best = model.best_id
    if best is not None and best != nid:
        series.append(Series(f"best {best}", curve(best), "green"))
    elif best == nid:
        series[0] = Series(f"{nid} (best)", series[0].points, "bold green")
    return series
