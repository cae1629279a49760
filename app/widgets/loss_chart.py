"""The loss chart: the selected node's training loss against its parent's and the best
node's, steps on x (textual-plot). Redrawn only when the plotted points change."""

from __future__ import annotations

from dataclasses import dataclass

from textual.css.query import NoMatches
from textual.markup import escape
from textual_plot import HiResMode, PlotWidget


@dataclass(frozen=True)
class Series:
    label: str
    points: tuple[tuple[int, float], ...]  # (step, loss), in step order
    style: str


# What is on the chart: the title and, per series, its label, style, size and last point.
ShownKey = tuple[str, tuple[tuple[str, str, int, tuple[int, float]], ...]]


class LossChart(PlotWidget, can_focus=False):
    """A non-focusable PlotWidget (its pan/zoom keys would shadow the tree's)."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, allow_pan_and_zoom=False)
        self._shown: ShownKey | None = None
        self._pending: tuple[str, list[Series]] | None = None

    def on_mount(self) -> None:
        self.margin_top = 0
        self.margin_bottom = 2
        self.margin_left = 8
        self.set_xlabel("step")
        self.border_title = "loss"
        if self._pending is not None:
            self.call_after_refresh(self._draw)

    def show(self, title: str, series: list[Series]) -> None:
        """Plot these series (empty ones are left out) unless they are already shown."""
        series = [s for s in series if s.points]
        key: ShownKey = (
            title,
            tuple((s.label, s.style, len(s.points), s.points[-1]) for s in series),
        )
        if key == self._shown:
            return
        self._shown = key
        self._pending = (title, series)
        if self.is_mounted:
            self._draw()

    def _draw(self) -> None:
        if self._pending is None:
            return
        title, series = self._pending
        try:
            self.query_one("#legend")
        except NoMatches:  # not composed yet (or being torn down): on_mount draws it
            return
        self._pending = None
        # the legend lives in the border title: a legend box would cover a short chart
        legend = "  ".join(f"[{s.style}]━ {escape(s.label)}[/]" for s in series)
        self.border_title = f"{escape(title)}  {legend}" if legend else escape(title)
        self.clear()
        for s in series:
            xs = [p[0] for p in s.points]
            ys = [p[1] for p in s.points]
            self.plot(xs, ys, line_style=s.style, hires_mode=HiResMode.BRAILLE, label=s.label)
