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

from autoresearch_tui.agents.format import fmt_delta, fmt_duration, fmt_metric
from autoresearch_tui.app.widgets.format import delta_style
from autoresearch_tui.app.widgets.loss_chart import LossChart
from autoresearch_tui.app.widgets.tree_model import TreeModel

GAIN_WORDS = {
    "confirmed": ("gain confirmed", "green"),
    "unconfirmed": ("gain unconfirmed — r re-runs it", "yellow"),
    "no-gain": ("no gain", "dim"),
    "seed-only": ("seed-only change", "dim"),
    "rerun": ("seed repeat", "dim"),
}


class NodeInfo(Widget):
    """Id, persona, status, description, rationale, metric with deltas. Fixed height, so
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
        text.append(f"{metric} ")
        text.append(fmt_metric(node.metric), "bold")
        mean = model.mean(node_id)
        samples = len(model.tree.samples(node_id))
        if samples > 1 and mean is not None:
            text.append(f" (mean of {samples}: {fmt_metric(mean)})", "dim")
        for label, delta, ref in (
            ("Δparent", model.tree.delta_parent(node), node.parent),
            ("Δbase", model.tree.delta_base(node), None),
        ):
            if delta is None:
                continue
            kind = delta_style(delta, model.goal)
            text.append(f"  {label} ")
            text.append(fmt_delta(delta), {"good": "bold green", "bad": "red"}.get(kind, ""))
            if ref:
                text.append(f" ({ref})", "dim")
        state = model.gain_state(node_id)
        if state in GAIN_WORDS:
            word, colour = GAIN_WORDS[state]
            text.append(f"  {word}", colour)
    elif node.reason:
        text.append(f"{node.status}: ", "bold red")
        text.append(node.reason)
    else:
        text.append(f"{metric} -", "dim")
    return text


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
