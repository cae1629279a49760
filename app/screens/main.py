"""The main screen: tree | node pane (info, loss chart, diff, log), slots bar, footer.

It owns the layout, the tree model and what the panes show of it (the selected node's
diff, log and loss curves, loaded from the run off the loop; the slots bar's figures come
from `status.py`), and the keys that act on the search: space (pause), h (hint), L (lessons),
/ (filter), ? (help), and the tree's node actions (prune, boost, re-run, export; done by
`app/node_actions.py`). The app (`app/tui.py`) owns the search itself and routes the
scheduler's messages here. See docs/ARCHITECTURE.md §7 The TUI.
"""

from __future__ import annotations

import gc
import sqlite3
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Footer, Header

from autoresearch_tui.app import node_actions
from autoresearch_tui.app.bridge import LiveProgress
from autoresearch_tui.app.screens.help import HelpScreen
from autoresearch_tui.app.screens.lessons import LessonsScreen
from autoresearch_tui.app.screens.prompt import PromptScreen
from autoresearch_tui.app.screens.status import chart_series, finished, slot_rows, totals_text
from autoresearch_tui.app.widgets.node_pane import NodePane
from autoresearch_tui.app.widgets.search_tree import SearchTree
from autoresearch_tui.app.widgets.slots_bar import SlotsBar
from autoresearch_tui.app.widgets.tree_model import BULK, STATUS_WORDS, Changes, TreeModel
from autoresearch_tui.search.counts import Counts
from autoresearch_tui.search.model import Node

if TYPE_CHECKING:
    from autoresearch_tui.app.tui import ResearchApp

BOOST = 3.0  # b toggles a node between this and 1.0
SELECT_DEBOUNCE_S = 0.06  # load diff/log/points once the cursor rests this long
TOTALS_EVERY_S = 5.0  # tokens and cost from the calls table
POINTS_CACHE = 400  # nodes whose loss points are kept in memory


class MainScreen(Screen[None]):
    """The one screen of the TUI; modals (help, prompts, the quit question) go on top."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "pause", "Pause"),
        Binding("h", "hint", "Hint"),
        Binding("L", "lessons", "Lessons"),
        Binding("question_mark", "help", "Help"),
    ]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]  # noqa: RUF012  (typed by Textual, not ClassVar)
    """Under 30 rows (80x24) the screen has the class -short: no chart (tui.tcss)."""

    def __init__(
        self, *, clock: Callable[[], float] = time.time, preparing: str = "", boost: float = BOOST
    ) -> None:
        super().__init__()
        self.clock = clock
        self.boost = boost
        self.model = TreeModel()
        self.metric_name = "metric"
        self.live: dict[str, LiveProgress] = {}
        self.points: dict[str, dict[int, float]] = {}
        self.finished = False  # the cap is reached, nothing runs: `s` goes on (check_action)
        self.paused_shown = False  # the pause the footer was last drawn for
        self.call_totals: dict[str, float] = {}
        self.selection_pending = False  # the cursor moved; its diff/log/points not loaded yet
        self._select_timer: Timer | None = None
        self.tree_view = SearchTree(self.model, clock=clock, id="tree")
        self.tree_view.empty_text = preparing or "opening the workspace…"
        self.slots_bar = SlotsBar(id="slots")
        self.pane = NodePane(id="pane")

    @property
    def research(self) -> ResearchApp:
        """The app, which holds the search and the reader of its run."""
        return cast("ResearchApp", self.app)

    # -- layout --------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="⑂")
        with Horizontal(id="main"):
            yield self.tree_view
            yield self.pane
        yield self.slots_bar
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.tree_view.border_title = "tree"
        self.tree_view.focus()
        self.pane.diff_view.border_title = "diff vs parent"
        self.pane.log_view.border_title = "log"
        self.set_interval(1.0, self._tick)
        self.set_interval(TOTALS_EVERY_S, self.load_call_totals)
        self.refresh_slots()

    def show_text(self, text: str) -> None:
        """Say `text` where the tree will be (opening, preparing, a failure)."""
        self.tree_view.empty_text = text
        self.tree_view.refresh()

    # -- what the scheduler (or the watched run) reports ----------------------------------
    def apply_nodes(self, nodes: Iterable[Node]) -> Changes:
        """Apply a batch of node snapshots to the model and repaint what they touch."""
        nodes = list(nodes)
        for node in nodes:
            if node.status == "running" and (
                node.id not in self.model or self.model[node.id].status != "running"
            ):
                self.points.pop(node.id, None)  # a (re)start clears its curve
                self.live.pop(node.id, None)
        changes = self.model.update(nodes)
        added = set(changes.added)
        tree = self.tree_view
        tree.nodes_changed(changes)
        tree.border_title = self._tree_title()
        selected = tree.cursor_id
        if selected is not None and selected in added | set(changes.changed):
            self._show_info()
            if selected in set(changes.changed):
                self._schedule_selection_load(0.0)
        elif changes.best_changed:
            self._show_info()
            self._update_chart()
        self.refresh_slots()
        if len(nodes) > BULK:
            # A resumed run's nodes live as long as the app: keep them out of the full
            # garbage collections, which otherwise stall a key press by ~100 ms at 5,000.
            gc.freeze()
        return changes

    def apply_progress(self, progress: dict[str, LiveProgress]) -> None:
        """Take the running nodes' progress: curves, slot times, the selected node's log."""
        selected = self.tree_view.cursor_id
        charted = self._charted_ids()
        replot = False
        for nid, live in progress.items():
            old = self.live.get(nid)
            self.live[nid] = live
            if old is not None and not live.slot:
                live.slot = old.slot
            curve = self.points.setdefault(nid, {})
            for step, loss in live.points:
                curve[step] = loss
            if live.points and nid in charted:
                replot = True
            if nid == selected and live.new_lines:
                self._load_log(nid)
        if replot:
            self._update_chart()
        self.refresh_slots()

    def show_watched(self, changed: list[Node]) -> None:
        """One poll of a watched run: its changed nodes, and the running ones' curves and
        (if selected) log, which no progress message brings."""
        if changed:
            self.apply_nodes(changed)
        running = [n for n in self._charted_ids() if n in self.model.running_ids]
        if running:
            self._load_points(running)
        selected = self.tree_view.cursor_id
        if selected is not None and selected in self.model.running_ids:
            self._load_log(selected)

    # -- the selected node ---------------------------------------------------------------
    def on_search_tree_highlighted(self, message: SearchTree.Highlighted) -> None:
        self._show_info()
        self._schedule_selection_load(SELECT_DEBOUNCE_S)

    def _show_info(self) -> None:
        self.pane.info.show(self.model, self.tree_view.cursor_id, self.metric_name, self.clock())

    def _schedule_selection_load(self, delay: float) -> None:
        if self._select_timer is not None:
            self._select_timer.stop()
            self._select_timer = None
        self.selection_pending = True
        if delay <= 0:
            self._load_selection()
        else:
            self._select_timer = self.set_timer(delay, self._load_selection, name="select")

    def _load_selection(self) -> None:
        self._select_timer = None
        self.selection_pending = False
        nid = self.tree_view.cursor_id
        if nid is None or self.research.search is None or not self.research.reader.is_open:
            self._update_chart()
            return
        self._load_diff(nid)
        self._load_log(nid)
        self._load_points(self._charted_ids())
        self._update_chart()

    def _charted_ids(self) -> list[str]:
        """The selected node, its parent and the best node: the chart's curves."""
        nid = self.tree_view.cursor_id
        if nid is None or nid not in self.model:
            return []
        ids = [nid]
        parent = self.model[nid].parent
        if parent is not None and parent in self.model:
            ids.append(parent)
        best = self.model.best_id
        if best is not None and best not in ids:
            ids.append(best)
        return ids

    def _update_chart(self) -> None:
        series = chart_series(self.model, self._charted_ids(), self.points)
        title = "loss" if any(s.points for s in series) or not series else "loss: no points yet"
        self.pane.chart.show(title, series)

    # Each load is a worker, the latest of its group (an earlier one is cancelled).
    @work(group="points", exclusive=True)
    async def _load_points(self, ids: list[str]) -> None:
        reader = self.research.reader
        wanted = [n for n in ids if n not in self.points or n in self.model.running_ids]
        if not wanted or not reader.is_open:
            return
        for nid, rows in (await reader.points(wanted)).items():
            curve = self.points.setdefault(nid, {})
            for step, loss in rows:
                curve.setdefault(step, loss)
        while len(self.points) > POINTS_CACHE:
            victim = next(n for n in self.points if n not in self.model.running_ids)
            self.points.pop(victim)
        self._update_chart()

    @work(group="diff", exclusive=True)
    async def _load_diff(self, nid: str) -> None:
        node, search = self.model[nid], self.research.search
        parent = self.model.get(node.parent)
        diff_view = self.pane.diff_view
        diff_view.border_title = "diff vs parent"
        if node.kind == "root":
            diff_view.border_title = "base commit"
            diff_view.show(Text(f"{node.commit}\nthe base commit: every node is a change of it"))
        elif node.kind == "rerun":
            diff_view.show(Text(f"a seed repeat of {node.parent}: same commit, seed {node.seed}"))
        elif not node.commit or parent is None or not parent.commit:
            reply = search.config.log_dir / f"{nid}.reply.md" if search else None
            exists = reply is not None and await self.research.reader.file_exists(reply)
            where = f"\nthe agent's reply: {reply}" if exists else ""
            diff_view.show(Text(f"no commit ({node.status}: {node.reason or '-'}){where}"))
        else:
            diff_view.border_title = f"diff {parent.id} → {nid}"
            text = await self.research.reader.diff_text(parent.commit, node.commit)
            if self.tree_view.cursor_id == nid:
                diff_view.show(text)

    @work(group="log", exclusive=True)
    async def _load_log(self, nid: str) -> None:
        search = self.research.search
        if search is None:
            return
        path = search.config.log_path(nid)
        text = await self.research.reader.log_tail(path)
        if self.tree_view.cursor_id == nid:
            log_view = self.pane.log_view
            log_view.border_title = f"log · {path.name}" if text else "log"
            log_view.show(text or "(no log yet)")

    # -- totals and slots ----------------------------------------------------------------
    def _tick(self) -> None:
        self.tree_view.tick()
        selected = self.tree_view.cursor_id
        if selected is not None and selected in self.model.running_ids:
            self._show_info()
        self.refresh_slots()

    def _tree_title(self) -> str:
        title = f"tree · {len(self.model)} nodes"
        if self.model.filter_text:
            title += f" · filter: {self.model.filter_text}"
        return title

    def refresh_slots(self) -> None:
        """Redraw the slots bar: one row per slot, and the run's totals."""
        search, now = self.research.search, self.clock()
        slots = [s.name for s in search.slots] if search and not self.research.watching else []
        timeout = search.config.target.timeout_s if search else 0.0
        rows = slot_rows(self.model, self.live, slots, timeout, now)
        watching = bool(self.research.watching)
        totals = totals_text(self.model, watching, self.call_totals, search, now)
        self.slots_bar.show(rows, totals)
        cap = search.max_experiments if search is not None and not watching else None
        shown = (finished(Counts.of(self.model.tree), cap), bool(search and search.paused))
        if shown != (self.finished, self.paused_shown):  # the footer offers `s` or pause
            self.finished, self.paused_shown = shown  # (check_action here and in tui.py)
            self.refresh_bindings()
        lift_toasts(self, self.slots_bar)

    def load_call_totals(self) -> None:
        """Reload the agent calls' tokens and cost from state.db (in a worker)."""
        if self.research.reader.is_open:
            self._load_call_totals()

    @work(group="totals", exclusive=True)
    async def _load_call_totals(self) -> None:
        totals = await self.research.reader.call_totals()
        self.call_totals = totals.get("", {})
        self.refresh_slots()

    # -- actions -------------------------------------------------------------------------
    async def on_search_tree_node_action(self, message: SearchTree.NodeAction) -> None:
        action, nid = message.action, message.node_id
        if action == "filter":
            self.action_filter()
            return
        if action == "export_best":
            nid = self.model.best_id
            if nid is None:
                self.notify("no node has a metric yet — nothing to export", severity="warning")
                return
        if nid is None or nid not in self.model:
            return
        research, node = self.research, self.model[nid]
        export = action in ("export", "export_best")
        if export and research.search is not None and (research.watching or research.stopped):
            # read-only: works while watching, or once stopped; writes no event
            self._say(
                await node_actions.export(research.search, research.reader, node, record=False)
            )
            return
        if (search := research.need_search()) is None:
            return
        try:
            if action == "prune":
                reply = await node_actions.toggle_prune(search, node)
            elif action == "boost":
                reply = await node_actions.toggle_boost(search, node, self.boost)
            elif action == "rerun":
                reply = await node_actions.rerun(search, node)
            elif export:
                reply = await node_actions.export(search, research.reader, node, record=True)
            else:
                return
        except sqlite3.Error:
            return  # state.db cannot be written: the search stopped and its notice says so
        self._say(reply)

    def _say(self, reply: node_actions.Reply) -> None:
        self.notify(reply.text, severity=reply.severity, title=reply.title, timeout=reply.timeout)

    def action_filter(self) -> None:
        suggestions = sorted(self.model.personas | set(STATUS_WORDS) | {"best"})

        def done(text: str | None) -> None:
            if text is None:
                return
            self.tree_view.set_filter(text)
            self.tree_view.border_title = self._tree_title()
            self.refresh_slots()
            if text:
                shown = sum(1 for n in self.model.rows if self.model.is_match(n))
                self.notify(f"filter {text!r}: {shown} matching nodes (/ then enter clears)")

        self.app.push_screen(
            PromptScreen(
                "filter the tree",
                "persona or status, e.g. explorer, crashed, running, pruned, boosted — "
                "comma-separated terms match any; empty clears",
                value=self.model.filter_text,
                suggestions=suggestions,
                id="filter-prompt",
            ),
            done,
        )

    def action_hint(self) -> None:
        if (search := self.research.need_search()) is None:
            return

        async def done(text: str | None) -> None:
            if not text:
                return
            try:
                await search.add_hint(text)
            except sqlite3.Error:
                return  # state.db cannot be written: the search stopped and says so
            self.notify(f"hint added — the agents see it from their next proposal:\n{text}")

        self.app.push_screen(
            PromptScreen(
                "hint for the agents",
                "a sentence every later prompt carries, e.g. 'try a larger learning rate'",
                placeholder="your hint",
                id="hint-prompt",
            ),
            done,
        )

    async def action_lessons(self) -> None:
        """The lessons note (app/screens/lessons.py): editable when this process runs the
        search, read-only while watching or once it stopped."""
        research = self.research
        if research.search is None or not research.reader.is_open:
            self.notify("the search is not open yet", severity="warning")
            return
        note = await research.reader.lessons_note()
        editable = not research.watching and not research.stopped and research.ready.is_set()

        async def done(text: str | None) -> None:
            if text is None or (search := research.need_search()) is None:
                return
            try:
                await search.set_lessons(text)
            except sqlite3.Error:
                return  # state.db cannot be written: the search stopped and says so
            self.notify("lessons note saved — the agents see it from their next proposal")

        every = research.search.config.search.lessons_every
        screen = LessonsScreen(note, every=every, editable=editable, id="lessons-screen")
        self.app.push_screen(screen, done)

    async def action_pause(self) -> None:
        if (search := self.research.need_search()) is None:
            return
        try:
            await search.set_paused(not search.paused)
        except sqlite3.Error:
            return  # state.db cannot be written: the search stopped and says so
        if search.paused:
            self.notify("paused: running experiments finish, no new ones start")
        else:
            self.notify("resumed")
        self.refresh_slots()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Watching another process's run, the footer offers no pause or hint (tui.py); a
        finished search, opened paused, offers `s` (go on) where pause was."""
        if action == "pause" and self.finished and self.research.search is not None:
            return not self.research.search.paused
        return not (action in ("pause", "hint") and self.research.watching)

    def action_help(self) -> None:
        if not isinstance(self.app.screen, HelpScreen):
            self.app.push_screen(HelpScreen())


def lift_toasts(screen: Screen[None], bar: Widget) -> None:
    """Toasts sit above the slots bar: as many rows up as there are from the bar's top to
    the screen's bottom (the bar, the footer, anything docked between); never over the
    run's totals."""
    if bar.region.height and screen.size.height > bar.region.y:
        lift = screen.size.height - bar.region.y
    else:  # not laid out yet: the bar and the footer
        lift = bar.outer_size.height + 1
    for rack in screen.query("#textual-toastrack"):
        if rack.styles.margin.bottom != lift:
            rack.styles.margin = (0, 0, lift, 0)
