"""What the main screen's slots bar and loss chart show, as plain functions of the model.

`slot_rows` (one row per slot: its node, persona, progress), `totals_text` (experiments,
best, rate, tokens, cost, time, paused) and `chart_series` (the selected node's loss
curve with its parent's and the best node's).
"""

from __future__ import annotations

from rich.text import Text

from autoresearch_tui.agents.format import fmt_count, fmt_duration
from autoresearch_tui.app.bridge import LiveProgress
from autoresearch_tui.app.widgets.loss_chart import Series
from autoresearch_tui.app.widgets.slots_bar import SlotRow
from autoresearch_tui.app.widgets.tree_model import TreeModel
from autoresearch_tui.search.counts import Counts, cap_reached, finished_line, rate_per_hour
from autoresearch_tui.search.early_stopping import early_stops
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
    watching: bool,
    call_totals: dict[str, float],
    search: Scheduler | None,
    now: float,
) -> Text:
    """The slots bar's last line: experiments, the best and its gain, and (with a search)
    the rate (—/h until it means something; `watching`: from the tree's timestamps), the
    agents' tokens and dollars, the elapsed time, paused, or how to go on once finished."""
    text = Text()
    counts = Counts.of(model.tree)  # one definition of the counts (search/counts.py)
    cap = search.max_experiments if search is not None and not watching else None
    if finished(counts, cap):  # first: a long line is cut at its end
        text.append(finished_line(counts, cap or 0, tui=True), "bold yellow")
    else:
        text.append(counts.text(cap, short=True), "bold")
    if model.best_id is not None:  # search/values.py's narrow form: "1.0351×2"
        value = model.value(model.best_id)
        text.append(" · best ")
        text.append(f"{model.best_id} {value.short_value()}", "bold green")
        if base := value.base_text(share=False):
            text.append(f", {base}{value.mark}")
    if model.counts.get("stopped"):  # search/early_stopping.py
        text.append(f" · {early_stops(model.tree).line()}")
    if search is not None:
        elapsed = max(0.0, now - search.started_at)
        rate = rate_per_hour(model.tree, now, None if watching else search.started_at)
        text.append(f" · {rate:.1f}/h" if rate is not None else " · —/h")
        tokens = (call_totals.get("input_tokens") or 0) + (call_totals.get("output_tokens") or 0)
        cost = max(search.cost_usd, call_totals.get("cost_usd") or 0.0)
        text.append(f" · {fmt_count(tokens)} tokens · ${cost:.2f}")
        text.append(f" · {fmt_duration(elapsed)}")
        if search.paused and not finished(counts, cap):
            text.append(" · ⏸ paused (space resumes)", "bold yellow")
    return text


def finished(counts: Counts, cap: int | None) -> bool:
    """The cap is reached and nothing runs: the TUI offers `s` (go on)."""
    return cap is not None and not counts.running and cap_reached(counts, cap)


def finished_text(search: Scheduler) -> str:
    """How to go on, when the search's cap is reached and nothing runs; else ""."""
    counts, cap = Counts.of(search.tree), search.max_experiments
    return finished_line(counts, cap, tui=True) if cap is not None and finished(counts, cap) else ""


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
