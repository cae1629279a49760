"""The search tree (left pane): a line-API widget over `TreeModel`.

Textual 8.2.8's `Tree` re-measures every visible label on each add (~110 ms at 4,000
expanded nodes); this widget renders only the rows on screen (`render_line`), keeps rows
as a flat list of node ids that new nodes are inserted into, and tracks the cursor by
node id, so new nodes never move the person's selection or collapse what they opened.
The keys that act on the selected node live here; the app carries them out. What a
row says is `tree_row.py`'s.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from autoresearch_tui.app.widgets.tree_model import Changes, TreeModel
from autoresearch_tui.app.widgets.tree_row import guides, row_text

LineKey = tuple[object, ...]  # everything a row's look depends on (see `_line_key`)


class SearchTree(ScrollView, can_focus=True):
    """Every node as `✓ n0042 architect 0.9932 -0.0047`, with marks; cursor by node id."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j,down", "cursor_down", "Down", show=False),
        Binding("k,up", "cursor_up", "Up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
        Binding("left", "collapse", "Collapse", show=False),
        Binding("right", "expand", "Expand", show=False),
        Binding("enter", "fold", "Fold", show=False),
        Binding("p", "prune", "Prune"),
        Binding("b", "boost", "Boost"),
        Binding("r", "rerun", "Re-run"),
        Binding("e", "export", "Export"),
        Binding("E", "export_best", "Export best"),
        Binding("g", "jump_best", "Best"),
        Binding("slash", "filter", "Filter"),
    ]

    read_only = False  # set while the app watches another process's run

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "search-tree--cursor",
        "search-tree--guides",
        "search-tree--best",
        "search-tree--pruned",
        "search-tree--context",
        "search-tree--good",
        "search-tree--bad",
        "search-tree--running",
        "search-tree--ok",
        "search-tree--error",
        "search-tree--muted",
        "search-tree--flag",
    }

    class Highlighted(Message):
        """The cursor moved to another node."""

        def __init__(self, node_id: str | None) -> None:
            super().__init__()
            self.node_id = node_id

    class NodeAction(Message):
        """A key asked for something to be done to a node (prune, boost, export, ...)."""

        def __init__(self, action: str, node_id: str | None) -> None:
            super().__init__()
            self.action = action
            self.node_id = node_id

    def __init__(
        self,
        model: TreeModel,
        *,
        clock: Callable[[], float] = time.time,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.model = model
        self.clock = clock
        self._cache: dict[LineKey, Strip] = {}
        self._cursor_id: str | None = None
        self.empty_text = ""  # shown while there are no nodes (opening, preparing the demo)

    @property
    def cursor_id(self) -> str | None:
        """The selected node."""
        return self._cursor_id

    @cursor_id.setter
    def cursor_id(self, new: str | None) -> None:
        old = self._cursor_id
        if new == old:
            return
        self._cursor_id = new
        for nid in (old, new):
            row = self.model.row_of(nid) if nid is not None else None
            if row is not None:
                self.refresh_line(row)
        self._remember_anchor()
        self.post_message(self.Highlighted(new))

    # -- reading -------------------------------------------------------------------------
    @property
    def cursor_row(self) -> int | None:
        return None if self.cursor_id is None else self.model.row_of(self.cursor_id)

    def _line_count(self) -> int:
        return len(self.model.rows)

    # -- updates from the app --------------------------------------------------------------
    def nodes_changed(self, changes: Changes) -> None:
        """Called after `model.update`: resize, keep the cursor row still, repaint."""
        if changes.rows_changed:
            self._rows_changed()
        elif self.cursor_id is None and self.model.rows:
            self.cursor_id = self.model.rows[0]
        self.refresh()

    def _rows_changed(self, anchor: tuple[str, int] | None = None) -> None:
        """Rows were inserted or rebuilt: keep the anchored node on the same screen line."""
        if anchor is None:
            anchor = self._anchor
        self._set_line_count(self._line_count())
        if self.cursor_id is None or self.model.row_of(self.cursor_id) is None:
            self._fix_cursor()
        if anchor is not None:
            row = self.model.row_of(anchor[0])
            if row is not None:
                target = max(0, row - anchor[1])
                if target != round(self.scroll_y):
                    self.scroll_to(y=target, animate=False, force=True, immediate=True)
        self._remember_anchor()
        self.refresh()

    _anchor: tuple[str, int] | None = None

    def _set_line_count(self, count: int) -> None:
        """Set the virtual height. Assigning `virtual_size` makes Textual lay out the whole
        screen; while the scrollbar stays (or stays away) only the scrollbar needs news."""
        new = Size(0, count)
        old = self.virtual_size
        if new == old:
            return
        height = self.scrollable_content_region.height
        if self.is_mounted and height > 0 and (old.height > height) == (count > height):
            self.set_reactive(SearchTree.virtual_size, new)
            self._scroll_update(new)
        else:
            self.virtual_size = new

    def _remember_anchor(self) -> None:
        """Which node to keep still on screen: the cursor if visible, else the top row."""
        rows = self.model.rows
        top = round(self.scroll_y)
        row = self.cursor_row
        if row is not None and top <= row < top + max(1, self.size.height):
            self._anchor = (rows[row], row - top)
        elif top < len(rows):
            self._anchor = (rows[top], 0)
        else:
            self._anchor = None

    def _fix_cursor(self) -> None:
        """The cursor's node has no row (collapsed away, filtered out): nearest ancestor."""
        rows = self.model.rows
        if not rows:
            self.cursor_id = None
            return
        current = self.cursor_id
        while current is not None and current in self.model:
            if self.model.row_of(current) is not None:
                self.cursor_id = current
                return
            current = self.model[current].parent
        self.cursor_id = rows[0]

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._remember_anchor()

    def tick(self) -> None:
        """Once a second: repaint the running rows (their elapsed time)."""
        for nid in self.model.running_ids:
            row = self.model.row_of(nid)
            if row is not None:
                self.refresh_line(row)

    def select(self, node_id: str) -> None:
        """Move the cursor to a node, opening collapsed ancestors (and a hiding filter)."""
        if node_id not in self.model:
            return
        if self.model.row_of(node_id) is None:
            self.model.reveal(node_id)
            self.cursor_id = node_id
            self._rows_changed(anchor=None)
        else:
            self.cursor_id = node_id
        self.scroll_to_cursor(center=True)

    def set_filter(self, text: str) -> None:
        self.model.set_filter(text)
        self._rows_changed()
        self.scroll_to_cursor(center=True)

    # -- rendering -----------------------------------------------------------------------
    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()

    def _on_focus(self, event: events.Focus) -> None:
        self._cache.clear()
        self.refresh()

    def _on_blur(self, event: events.Blur) -> None:
        self._cache.clear()
        self.refresh()

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"search-tree--{name}", partial=True)

    def render_lines(self, crop: Region) -> list[Strip]:
        self._base_style = self.rich_style  # once per frame, not per line
        return super().render_lines(crop)

    _base_style: Style | None = None

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        row = y + round(self.scroll_y)
        base = self._base_style or self.rich_style
        if not self.model.rows and self.empty_text and width > 0:
            lines = self.empty_text.splitlines()
            if y < len(lines):
                text = Text(" " + lines[y], style="italic", no_wrap=True, overflow="ellipsis")
                segments = list(text.render(self.app.console))
                return Strip(segments).crop_extend(0, width, None).apply_style(base)
        if row >= len(self.model.rows) or width <= 0:
            return Strip.blank(width, base)
        nid = self.model.rows[row]
        is_cursor = nid == self.cursor_id
        key = self._line_key(nid, is_cursor, width)
        strip = self._cache.get(key)
        if strip is None:
            strip = self._render_row(nid, width, is_cursor, base)
            if len(self._cache) > 4000:
                self._cache.clear()
            self._cache[key] = strip
        return strip

    def _line_key(self, nid: str, is_cursor: bool, width: int) -> LineKey:
        """Everything a row's look depends on, so rows that only moved stay cached."""
        model = self.model
        node = model[nid]
        parent = node.parent
        return (
            nid,
            is_cursor,
            width,
            self.has_focus,
            self.guides(nid),
            model.node_version.get(nid),
            model.node_version.get(parent) if parent else None,
            nid == model.best_id,
            nid in model.pruned_eff,
            model.is_match(nid) if model.filter_text else True,
            model.spread,
            (nid in model.collapsed, model.version if nid in model.collapsed else 0),
            int(self.clock()) if node.status == "running" else 0,
        )

    def guides(self, node_id: str) -> str:
        return guides(self.model, node_id)

    def label(self, node_id: str, width: int = 200) -> Text:
        """The row text of a node (without cursor or background)."""
        return row_text(self.model, node_id, width, self._style, self.clock())

    def _render_row(self, node_id: str, width: int, is_cursor: bool, base: Style) -> Strip:
        text = self.label(node_id, width)
        segments = list(text.render(self.app.console))
        strip = Strip(segments).crop_extend(0, width, None)
        if is_cursor:
            strip = strip.apply_style(self._style("cursor"))
        return strip.apply_style(base)

    # -- keys ----------------------------------------------------------------------------
    def scroll_to_cursor(self, center: bool = False) -> None:
        row = self.cursor_row
        if row is None:
            return
        height = max(1, self.size.height)
        top = round(self.scroll_y)
        if center and not top <= row < top + height:
            target = max(0, row - height // 2)
        elif row < top:
            target = row
        elif row >= top + height:
            target = row - height + 1
        else:
            return
        self.scroll_to(y=target, animate=False, force=True, immediate=True)

    def _move_to_row(self, row: int) -> None:
        rows = self.model.rows
        if not rows:
            return
        row = max(0, min(len(rows) - 1, row))
        self.cursor_id = rows[row]
        self.scroll_to_cursor()

    def action_cursor_down(self) -> None:
        row = self.cursor_row
        self._move_to_row(0 if row is None else row + 1)

    def action_cursor_up(self) -> None:
        row = self.cursor_row
        self._move_to_row(0 if row is None else row - 1)

    def action_page_down(self) -> None:
        self._move_to_row((self.cursor_row or 0) + max(1, self.size.height - 1))

    def action_page_up(self) -> None:
        self._move_to_row((self.cursor_row or 0) - max(1, self.size.height - 1))

    def action_first(self) -> None:
        self._move_to_row(0)

    def action_last(self) -> None:
        self._move_to_row(len(self.model.rows) - 1)

    def action_collapse(self) -> None:
        nid = self.cursor_id
        if nid is None:
            return
        if self.model.kids.get(nid) and nid not in self.model.collapsed:
            self.model.toggle(nid, expand=False)
            self._rows_changed()
        elif (parent := self.model[nid].parent) is not None and parent in self.model:
            self.select(parent)

    def action_expand(self) -> None:
        nid = self.cursor_id
        if nid is None:
            return
        if nid in self.model.collapsed:
            self.model.toggle(nid, expand=True)
            self._rows_changed()
        elif kids := self.model.children(nid):
            self.select(kids[0])

    def action_fold(self) -> None:
        if self.cursor_id is not None and self.model.toggle(self.cursor_id):
            self._rows_changed()

    def _ask(self, action: str) -> None:
        self.post_message(self.NodeAction(action, self.cursor_id))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`read_only` (watch mode): no prune, boost or re-run in the footer (app/tui.py)."""
        return not (self.read_only and action in ("prune", "boost", "rerun"))

    def action_prune(self) -> None:
        self._ask("prune")

    def action_boost(self) -> None:
        self._ask("boost")

    def action_rerun(self) -> None:
        self._ask("rerun")

    def action_export(self) -> None:
        self._ask("export")

    def action_export_best(self) -> None:
        self._ask("export_best")

    def action_jump_best(self) -> None:
        if self.model.best_id is None:
            self.notify("no node has a metric yet", severity="warning")
            return
        self.select(self.model.best_id)

    def action_filter(self) -> None:
        self._ask("filter")
