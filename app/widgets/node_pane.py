"""The node pane (right): what the selected experiment is, how it scored, its diff against
its parent (syntax coloured) and the tail of its log. The app loads the diff and the log
off the event loop and hands the results here; this widget only shows them."""

from __future__ import annotations

from typing import ClassVar

from rich.console import RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Static

from autoresearch_tui.agents.format import fmt_duration
from autoresearch_tui.app.widgets.loss_chart import LossChart
from autoresearch_tui.app.widgets.tree_model import TreeModel
from autoresearch_tui.search.values import CONFIRMED, UNCONFIRMED, WORSE

# How a verdict (search/values.py) reads here: its word, then a hint, and its colour.
VERDICT_WORDS = {
    CONFIRMED: (CONFIRMED, "green"),
    UNCONFIRMED: (f"{UNCONFIRMED} (r re-runs it)", "yellow"),
    WORSE: (WORSE, "red"),
}


class NodeInfo(Widget):
    """Id, persona, status, description, rationale, the value with its Δ and verdict. Fixed height, so
    a new selection repaints this widget only (a Static's update reflows the screen)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._text = Text("no node selected", style="italic")

    def show(self, model: TreeModel, node_id: str | None, metric: str, now: float) -> None:
        text = node_info(model, node_id, metric, now)
        if text != self._text:
            self._text = text
            self.refresh()

    def render(self) -> Text:
        return self._text


def node_info(model: TreeModel, node_id: str | None, metric: str, now: float) -> Text:
    """The node pane's header as markup-free Rich text (styles are theme variables)."""
    if node_id is None or node_id not in model:
        return Text("no node selected", style="italic")
    node = model[node_id]
    text = Text()
    text.append(node.id, "bold")
    agent = node.persona + (f"@{node.backend}" if node.backend else "")
    text.append(f" · {agent}")
    if node.model:
        text.append(f" ({node.model})", "dim")
    text.append(" · ")
    if node.status == "running":
        started = node.started_at or now
        text.append(f"running on {node.slot} for {fmt_duration(now - started)}", "bold yellow")
    else:
        text.append(node.status, "bold")
        if node.run_seconds is not None:
            text.append(f" in {fmt_duration(node.run_seconds)}")
    if node.kind not in ("root", "improve"):
        text.append(f" · {node.kind}", "dim")
    if node.seed:
        text.append(f" · seed {node.seed}", "dim")
    if node.pruned:
        text.append(" · pruned ✂", "bold red")
    elif node_id in model.pruned_eff:
        text.append(" · under a pruned node", "red")
    if node.boost != 1.0:
        text.append(f" · boost ▲{node.boost:g}", "bold cyan")
    if node_id == model.best_id:
        text.append(" · ★ best", "bold green")
    text.append("\n")
    description = node.description or ("base commit" if node.kind == "root" else "(no description)")
    text.append(description, "bold")
    if node.rationale:
        rationale = " ".join(node.rationale.split())
        text.append(
            "\n" + (rationale if len(rationale) <= 400 else rationale[:399] + "…"), "italic"
        )
    text.append("\n")
    if node.has_metric:
        _append_value(text, model, node_id, metric)
    elif node.status == "stopped":  # search/early_stopping.py
        text.append(f"{node.reason} — r runs it to the end", "yellow")
    elif node.reason:
        text.append(f"{node.status}: ", "bold red")
        text.append(node.reason)
    else:
        text.append(f"{metric} -", "dim")
    return text


def _append_value(text: Text, model: TreeModel, node_id: str, metric: str) -> None:
    """The value line (search/values.py's one text form): "val_bpb 1.9047 (mean of 3),
    Δ -0.0100 better vs n0007: confirmed", then the Δ vs base; a re-run's
    own run and the value of the node it samples."""
    value = model.value(node_id)
    text.append(f"{metric} ")
    if value.sample_of is not None:
        text.append(value.value_text(), "bold")
        of = model.value(value.sample_of)
        text.append(f" · {value.sample_of}: {of.value_text()}", "dim")
        return
    text.append(value.value_text(), "bold")
    if change := value.change_text():
        text.append(", ")
        text.append(change, "" if value.better is None else "green" if value.better else "red")
    word, colour = VERDICT_WORDS.get(value.verdict, (value.verdict, "dim"))
    text.append(": ")
    text.append(word, colour)
    if base := value.base_text():
        text.append(f" · {base}", "dim")


class NodePane(Vertical):
    """Header, loss chart, diff and log tail of the selected node."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.info = NodeInfo(id="node-info")
        self.chart = LossChart(id="chart")
        self.diff_view = DiffView(id="diff")
        self.log_view = LogView(id="log")

    def compose(self) -> ComposeResult:
        yield self.info
        yield self.chart
        yield self.diff_view
        yield self.log_view


class TextView(VerticalScroll):
    """A scrollable, markup-free text: what the diff and the log views share. Each names
    its body (`BODY_ID`, styled in tui.tcss) and says in `show` where a new text leaves
    the scroll position."""

    BODY_ID: ClassVar[str]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.body = Static(id=self.BODY_ID, markup=False)

    def compose(self) -> ComposeResult:
        yield self.body


class DiffView(TextView):
    """The diff of the node against its parent, shown from its first line."""

    BODY_ID = "diff-text"

    def show(self, renderable: RenderableType) -> None:
        self.body.update(renderable)
        self.scroll_home(animate=False, immediate=True)


class LogView(TextView):
    """The last lines of the node's log, kept scrolled to the end (anchored)."""

    BODY_ID = "log-text"

    def show(self, text: str) -> None:
        self.body.update(Text(text, no_wrap=True, overflow="ellipsis"))
        self.anchor()  # kept at the bottom by the layout itself, until the person scrolls
