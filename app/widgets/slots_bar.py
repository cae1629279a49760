"""The slots bar (bottom): each GPU/CPU slot with its node and a bar of the time budget
used, then the run totals (experiments, best and its gain, rate, tokens, cost, time)."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.geometry import Size
from textual.widget import Widget

from autoresearch_tui.agents.format import fmt_duration

BAR_WIDTH = 12
CELL_WIDTH = 44


@dataclass(frozen=True)
class SlotRow:
    slot: str
    node_id: str | None = None
    persona: str = ""
    percent: float = 0.0  # of the time budget (or the run's own progress)
    elapsed: float = 0.0


def bar(percent: float, width: int = BAR_WIDTH) -> Text:
    """A thin progress bar: ━ done (bold), ─ left (dim), with a half step."""
    percent = max(0.0, min(100.0, percent))
    halves = round(percent / 100 * width * 2)
    full, half = divmod(halves, 2)
    text = Text()
    text.append("━" * full, "bold green")
    if half:
        text.append("╸", "bold green")
    text.append("─" * (width - full - half), "dim")
    return text


def slot_cell(row: SlotRow) -> Text:
    text = Text()
    text.append(f"{row.slot:<5}", "bold")
    if row.node_id is None:
        text.append(" idle", "dim")
        return text
    persona = row.persona if len(row.persona) <= 9 else row.persona[:8] + "…"
    text.append(f" {row.node_id} {persona:<9} ")
    text.append_text(bar(row.percent))
    text.append(f" {row.percent:3.0f}% {fmt_duration(row.elapsed):>5}")
    return text


class SlotsBar(Widget):
    """Docked at the bottom; `show()` sets what it draws."""

    DEFAULT_CSS = """
    SlotsBar { height: auto; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._rows: list[SlotRow] = []
        self._totals = Text()

    def show(self, rows: list[SlotRow], totals: Text) -> None:
        if rows == self._rows and totals == self._totals:
            return
        resize = len(rows) != len(self._rows)
        self._rows, self._totals = rows, totals
        self.refresh(layout=resize)

    def _lines(self, width: int) -> list[Text]:
        per_line = max(1, (width + 2) // (CELL_WIDTH + 2))
        lines = []
        for i in range(0, len(self._rows), per_line):
            line = Text(no_wrap=True, overflow="ellipsis")
            for j, row in enumerate(self._rows[i : i + per_line]):
                if j:
                    line.append(" │ ", "dim")
                cell = slot_cell(row)
                if cell.cell_len < CELL_WIDTH:
                    cell.pad_right(CELL_WIDTH - cell.cell_len)
                line.append_text(cell)
            lines.append(line)
        totals = self._totals.copy()
        totals.no_wrap, totals.overflow = True, "ellipsis"
        lines.append(totals)
        return lines

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self._lines(width))

    def render(self) -> Text:
        return Text("\n").join(self._lines(self.content_region.width or self.size.width))
