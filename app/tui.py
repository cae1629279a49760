"""The Textual TUI: `autoresearch-tui [DIR]` (open_tui) and `run DIR` (run_tui).

The scheduler (`search.scheduler.Search`) runs as a task on the app's own event loop.
Its listener, `SearchBridge`, buffers what it hears and posts coalesced messages:
node changes are applied as one batch per message, progress (loss points, log lines,
elapsed time) at most four times a second, keeping every point and the latest figures
per node. Slow reads (git diffs, log tails, loss points from state.db) run on two
threads of the app's own, never on the loop; the store is opened read-only (WAL), the
scheduler stays its only writer.

When another process already runs the search in the workspace (`run --headless` in
another pane), the app watches it instead: it polls state.db once a second and shows
the same tree, curves, logs and slots, read-only.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from rich.syntax import Syntax
from rich.text import Text
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Header

from autoresearch_tui.app.screens.confirm import ConfirmScreen
from autoresearch_tui.app.screens.help import HelpScreen
from autoresearch_tui.app.screens.prompt import PromptScreen
from autoresearch_tui.app.widgets.format import fmt_count, fmt_delta, fmt_duration, fmt_metric
from autoresearch_tui.app.widgets.loss_chart import Series
from autoresearch_tui.app.widgets.node_pane import NodePane
from autoresearch_tui.app.widgets.search_tree import SearchTree
from autoresearch_tui.app.widgets.slots_bar import SlotRow, SlotsBar
from autoresearch_tui.app.widgets.tree_model import BULK, STATUS_WORDS, Changes, TreeModel
from autoresearch_tui.search.config import CONFIG_NAME, Config
from autoresearch_tui.search.events import Event, NodeChanged, Notice, Progress
from autoresearch_tui.search.model import Node
from autoresearch_tui.search.runlock import WorkspaceBusy
from autoresearch_tui.search.scheduler import Search
from autoresearch_tui.search.store import StoreFailed

T = TypeVar("T")
BOOST = 3.0  # b toggles a node between this and 1.0
PROGRESS_EVERY_S = 0.25  # at most four progress refreshes a second
SELECT_DEBOUNCE_S = 0.06  # load diff/log/points once the cursor rests this long
DIFF_MAX_LINES = 600
LOG_TAIL_BYTES = 32_768
LOG_TAIL_LINES = 200
TOTALS_EVERY_S = 5.0  # tokens and cost from the calls table
POINTS_CACHE = 400  # nodes whose loss points are kept in memory
WATCH_EVERY_S = 1.0  # state.db polls while watching another process's search
WATCH_OPEN_TRIES = 20  # every 0.5 s: a runner that just took the lock writes state.db soon


# -- messages from the scheduler -----------------------------------------------------------
class NodesChanged(Message):
    """Some nodes changed; the app takes them all from the bridge in one batch."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, NodesChanged)


class ProgressTick(Message):
    """Running nodes reported progress; the app takes it all from the bridge."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ProgressTick)


class SearchNotice(Message):
    def __init__(self, text: str, level: str) -> None:
        super().__init__()
        self.text = text
        self.level = level


@dataclass
class LiveProgress:
    """The latest progress of one running node, and what arrived since the last tick."""

    slot: str = ""
    elapsed: float = 0.0
    percent: float = 0.0
    points: list[tuple[int, float]] = field(default_factory=list)
    new_lines: int = 0


class SearchBridge:
    """The scheduler's listener: buffers events on the loop and posts few messages."""

    def __init__(self, post: Callable[[Message], Any], every_s: float = PROGRESS_EVERY_S):
        self.post = post
        self.every_s = every_s
        self._nodes: dict[str, Node] = {}
        self._progress: dict[str, LiveProgress] = {}
        self._nodes_posted = False
        self._progress_posted = False
        self._last_progress = 0.0

    def __call__(self, event: Event) -> None:
        if isinstance(event, NodeChanged):
            self._nodes[event.node.id] = event.node
            if not self._nodes_posted:
                self._nodes_posted = True
                self.post(NodesChanged())
        elif isinstance(event, Progress):
            live = self._progress.setdefault(event.node_id, LiveProgress())
            live.slot, live.elapsed, live.percent = event.slot, event.elapsed, event.progress
            live.points.extend((step, loss) for step, loss, _ in event.points)
            live.new_lines += len(event.lines)
            self._schedule_progress()
        elif isinstance(event, Notice):
            self.post(SearchNotice(event.text, event.level))

    def _schedule_progress(self) -> None:
        if self._progress_posted:
            return
        self._progress_posted = True
        wait = self._last_progress + self.every_s - time.monotonic()
        if wait <= 0:
            self.post(ProgressTick())
        else:
            asyncio.get_running_loop().call_later(wait, self.post, ProgressTick())

    def take_nodes(self) -> list[Node]:
        nodes = list(self._nodes.values())
        self._nodes.clear()
        self._nodes_posted = False
        return nodes

    def take_progress(self) -> dict[str, LiveProgress]:
        progress, self._progress = self._progress, {}
        self._progress_posted = False
        self._last_progress = time.monotonic()
        return progress


# -- the app ------------------------------------------------------------------------------
class ResearchApp(App[int]):
    """One screen: tree | node pane (info, loss chart, diff, log), slots bar, footer."""

    CSS_PATH = "tui.tcss"
    TITLE = "autoresearch-tui"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "pause", "Pause"),
        Binding("h", "hint", "Hint"),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        make_search: Callable[[Callable[[str], None]], Search] | None = None,
        *,
        start: bool = True,
        preparing: str = "",
        clock: Callable[[], float] = time.time,
        boost: float = BOOST,
    ) -> None:
        super().__init__()
        self.make_search = make_search
        self.start_search = start
        self.preparing = preparing
        self.clock = clock
        self.boost = boost
        self.search: Search | None = None
        self.run_task: asyncio.Task[None] | None = None
        self.model = TreeModel()
        self.bridge = SearchBridge(self.post_message)
        self.metric_name = "metric"
        self.live: dict[str, LiveProgress] = {}
        self.points: dict[str, dict[int, float]] = {}
        self.session_finished = 0
        self.call_totals: dict[str, float] = {}
        self.ready = asyncio.Event()
        self._store: Any = None  # read-only Store, used on the store thread only
        self._repo: Any = None  # git.Repo, used on the git thread only
        self._store_thread = ThreadPoolExecutor(1, thread_name_prefix="tui-store")
        self._git_thread = ThreadPoolExecutor(1, thread_name_prefix="tui-git")
        self._select_timer: Timer | None = None
        self._quitting = False
        self.watching = 0  # pid of the process whose search this app only shows
        self._watched: dict[str, tuple] = {}  # node versions at the last poll (store thread)
        self._watch_ended = False  # the watched process has exited
        self._watch_error = False  # the last poll could not read state.db
        self.tree_view = SearchTree(self.model, clock=clock, id="tree")
        self._slots_bar = SlotsBar(id="slots")
        self.pane = NodePane(id="pane")

    # -- layout --------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="⑂")
        with Horizontal(id="main"):
            yield self.tree_view
            yield self.pane
        yield self._slots_bar
        yield Footer(compact=True)

    def on_mount(self) -> None:
        tree = self.tree_view
        tree.border_title = "tree"
        tree.empty_text = self.preparing or "opening the workspace…"
        tree.focus()
        self.pane.diff_view.border_title = "diff vs parent"
        self.pane.log_view.border_title = "log"
        self.set_interval(1.0, self._tick)
        self.set_interval(TOTALS_EVERY_S, self._load_call_totals)
        if self.make_search is not None:
            self.run_worker(self._open, name="open", group="open", exit_on_error=False)
        self._refresh_slots()

    def on_resize(self) -> None:
        self.screen.set_class(self.size.height < 30, "-short")  # 80x24: no chart

    async def _open(self) -> None:
        """Build and open the search (off the loop where it blocks), then run it."""
        assert self.make_search is not None
        if self.preparing:
            self.notify(self.preparing, title="autoresearch-tui", timeout=8)

        def log(line: str) -> None:
            self.call_from_thread(self._prepare_log, line)

        try:
            search = await asyncio.to_thread(self.make_search, log)
        except Exception as exc:  # a workspace error: say it, keep the app up
            self._fail(f"could not open the workspace: {exc}")
            return
        self.search = search
        config = search.config
        self.metric_name = config.target.metric
        self.model.goal = self.model.tree.goal = config.target.goal
        search.listeners.append(self.bridge)
        self.tree_view.empty_text = "opening the run…"
        try:
            await search.open()
        except WorkspaceBusy as busy:
            await self._watch(search, busy.pid)
            return
        except Exception as exc:
            self._fail(f"could not open the run: {exc}")
            return
        self.model.tree.required_samples = search.tree.required_samples
        self.sub_title = f"{config.root.name} · run {search.run_name}"
        await self._io(self._store_thread, self._open_readers, config)
        if await self._io(self._store_thread, self._last_pause_event) == "pause":
            search.paused = True  # a pause survives a restart
            self.notify("the search was paused when it last stopped — space resumes it")
        self.ready.set()
        if self.start_search:
            self.run_task = asyncio.create_task(search.run())
            self.run_task.add_done_callback(self._run_done)
        self._refresh_slots()
        self._load_call_totals()

    # -- watching another process's search ------------------------------------------------
    async def _watch(self, search: Search, pid: int) -> None:
        """Show the search that process `pid` runs here, read-only, from state.db."""
        config = search.config
        for attempt in range(WATCH_OPEN_TRIES):  # the runner may not have written it yet
            try:
                meta = await self._io(self._store_thread, self._open_watched, config)
                break
            except (sqlite3.Error, OSError) as exc:
                if attempt == WATCH_OPEN_TRIES - 1:
                    self._fail(f"could not read the run that pid {pid} runs: {exc}")
                    return
                await asyncio.sleep(0.5)
        search.run_name, search.base_commit = meta
        holder = f"pid {pid}" if pid else "another process"
        self.sub_title = f"{config.root.name} · run {search.run_name} · watching {holder}"
        self.watching = pid or -1
        self.tree_view.empty_text = "reading the run…"
        self.notify(
            f"{holder} runs this search: watching it read-only. Prune, boost, hints and "
            "pause belong to that process; quit it and start here to take over.",
            timeout=12,
        )
        await self._poll_watched()
        self.set_interval(WATCH_EVERY_S, self._poll_watched, name="watch")

    def _open_watched(self, config: Config) -> tuple[str, str]:
        """Open the readers (once) and read the run's name and base commit."""
        if self._store is None:
            self._open_readers(config)
        return self._store.get_meta("run") or "", self._store.get_meta("base") or ""

    async def _poll_watched(self) -> None:
        if self._store is None:
            return
        try:
            changed = await self._io(self._store_thread, self._watched_changes)
        except (sqlite3.Error, OSError) as exc:  # moved aside, a damaged file: say it once
            if not self._watch_error:
                self._watch_error = True
                self.notify(f"could not read the watched run: {exc}", severity="error")
            return
        self._watch_error = False
        if changed:
            self.apply_nodes(changed)
        running = [n for n in self._charted_ids() if n in self.model.running_ids]
        if running:
            await self._load_points(running)
        selected = self.tree_view.cursor_id
        if selected is not None and selected in self.model.running_ids:
            await self._load_log(selected)
        if self.watching > 0 and not self._watch_ended and not pid_alive(self.watching):
            self._watch_ended = True
            self.notify(self._read_only_text(), timeout=30)
            self.sub_title = self.sub_title.replace("watching", "was watching")

    def _watched_changes(self) -> list[Node]:
        """The nodes that changed since the last poll (on the store thread: a narrow query,
        then only those rows; "proposing" nodes, which come and go, show from "ready")."""
        versions = self._store.node_versions()
        changed = [nid for nid, v in versions.items() if self._watched.get(nid) != v]
        self._watched = versions
        nodes = self._store.load_nodes(changed) if changed else []
        return [n for n in nodes if n.status != "proposing"]

    def _read_only_text(self) -> str:
        if self._watch_ended:
            return f"pid {self.watching} has stopped: start autoresearch-tui here to resume"
        holder = f"pid {self.watching}" if self.watching > 0 else "another process"
        return f"read-only: {holder} runs this search — act there, or quit it and start here"

    def _fail(self, text: str) -> None:
        self.tree_view.empty_text = text
        self.tree_view.refresh()
        self.notify(text, severity="error", timeout=30)

    def _prepare_log(self, line: str) -> None:
        self.tree_view.empty_text = f"{self.preparing}\n{line}"
        self.tree_view.refresh()

    def _run_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self._quitting:
            return
        if isinstance(exc := task.exception(), StoreFailed):
            self.notify(f"the search stopped: {exc}", severity="error", timeout=3600)
        elif exc is not None:
            self.notify(f"the search stopped: {exc!r}", severity="error", timeout=60)
        else:
            self.notify("the search has stopped", timeout=10)

    def _open_readers(self, config: Config) -> None:
        import git

        from autoresearch_tui.search.store import Store

        self._store = Store(config.state_dir / "state.db", readonly=True)
        self._repo = git.Repo(config.root)

    def _last_pause_event(self) -> str:
        """The last of the person's pause/resume events. (The scheduler also writes a
        "resume" event when it reopens a run; that one carries the run's name.)"""
        events = [
            e["kind"]
            for e in self._store.events()
            if e["kind"] == "pause" or (e["kind"] == "resume" and "run" not in e["data"])
        ]
        return events[-1] if events else ""

    async def _io(self, pool: ThreadPoolExecutor, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    # -- scheduler messages ----------------------------------------------------------------
    def on_nodes_changed(self, message: NodesChanged) -> None:
        self.apply_nodes(self.bridge.take_nodes())

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
        self.session_finished += sum(1 for nid in changes.finished if nid not in added)
        tree = self.tree_view
        tree.nodes_changed(changes)
        tree.border_title = self._tree_title()
        selected = tree.cursor_id
        touched = added | set(changes.changed)
        if selected is not None and selected in touched:
            self._show_info()
            if selected in set(changes.changed):
                self._schedule_selection_load(0.0)
        elif changes.best_changed:
            self._show_info()
            self._update_chart()
        self._refresh_slots()
        if len(nodes) > BULK:
            # A resumed run's nodes live as long as the app: keep them out of the full
            # garbage collections, which otherwise stall a key press by ~100 ms at 5,000.
            gc.freeze()
        return changes

    def on_progress_tick(self, message: ProgressTick) -> None:
        progress = self.bridge.take_progress()
        self.apply_progress(progress)

    def apply_progress(self, progress: dict[str, LiveProgress]) -> None:
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
                self.run_worker(partial(self._load_log, nid), group="log", exclusive=True)
        if replot:
            self._update_chart()
        self._refresh_slots()

    def on_search_notice(self, message: SearchNotice) -> None:
        severity = {"warning": "warning", "error": "error"}.get(message.level, "information")
        self.notify(message.text, severity=severity, timeout=15 if severity != "information" else 6)  # type: ignore[arg-type]

    # -- the selected node -----------------------------------------------------------------
    def on_search_tree_highlighted(self, message: SearchTree.Highlighted) -> None:
        self._show_info()
        self._schedule_selection_load(SELECT_DEBOUNCE_S)

    def _show_info(self) -> None:
        self.pane.info.show(self.model, self.tree_view.cursor_id, self.metric_name, self.clock())

    def _schedule_selection_load(self, delay: float) -> None:
        if self._select_timer is not None:
            self._select_timer.stop()
            self._select_timer = None
        if delay <= 0:
            self._load_selection()
        else:
            self._select_timer = self.set_timer(delay, self._load_selection, name="select")

    def _load_selection(self) -> None:
        nid = self.tree_view.cursor_id
        if nid is None or self.search is None or self._repo is None:
            self._update_chart()
            return
        self.run_worker(partial(self._load_diff, nid), group="diff", exclusive=True)
        self.run_worker(partial(self._load_log, nid), group="log", exclusive=True)
        ids = self._charted_ids()
        self.run_worker(partial(self._load_points, ids), group="points", exclusive=True)
        self._update_chart()

    def _charted_ids(self) -> list[str]:
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
        ids = self._charted_ids()
        chart = self.pane.chart
        if not ids:
            chart.show("loss", [])
            return
        nid = ids[0]
        series = [Series(nid, self._curve(nid), "bold yellow")]
        parent = self.model[nid].parent
        if parent is not None and parent in ids:
            series.append(Series(f"parent {parent}", self._curve(parent), "dodger_blue1"))
        best = self.model.best_id
        if best is not None and best != nid:
            series.append(Series(f"best {best}", self._curve(best), "green"))
        elif best == nid:
            series[0] = Series(f"{nid} (best)", series[0].points, "bold green")
        chart.show("loss" if any(s.points for s in series) else "loss: no points yet", series)

    def _curve(self, nid: str) -> tuple[tuple[int, float], ...]:
        return tuple(sorted(self.points.get(nid, {}).items()))

    async def _load_points(self, ids: list[str]) -> None:
        wanted = [n for n in ids if n not in self.points or n in self.model.running_ids]
        if not wanted or self._store is None:
            return
        loaded = await self._io(
            self._store_thread, lambda: {n: self._store.load_points(n) for n in wanted}
        )
        for nid, rows in loaded.items():
            curve = self.points.setdefault(nid, {})
            for step, loss in rows:
                curve.setdefault(step, loss)
        while len(self.points) > POINTS_CACHE:
            victim = next(n for n in self.points if n not in self.model.running_ids)
            self.points.pop(victim)
        self._update_chart()

    async def _load_diff(self, nid: str) -> None:
        node = self.model[nid]
        parent = self.model.get(node.parent)
        diff_view = self.pane.diff_view
        if node.kind == "root":
            diff_view.border_title = "base commit"
            diff_view.show(Text(f"{node.commit}\nthe base commit: every node is a change of it"))
            return
        if node.kind == "rerun":
            diff_view.border_title = "diff vs parent"
            diff_view.show(Text(f"a seed repeat of {node.parent}: same commit, seed {node.seed}"))
            return
        if not node.commit or parent is None or not parent.commit:
            diff_view.border_title = "diff vs parent"
            reply = self.search.log_dir / f"{nid}.reply.md" if self.search else None
            where = f"\nthe agent's reply: {reply}" if reply is not None and reply.exists() else ""
            diff_view.show(Text(f"no commit ({node.status}: {node.reason or '-'}){where}"))
            return
        diff_view.border_title = f"diff {parent.id} → {nid}"
        text = await self._io(self._git_thread, self._diff_text, parent.commit, node.commit)
        if self.tree_view.cursor_id == nid:
            diff_view.show(text)

    def _diff_text(self, old: str, new: str) -> Text:
        try:
            diff = self._repo.git.diff(old, new)
        except Exception as exc:  # a commit gone from the repository
            return Text(f"git diff failed: {exc}")
        lines = diff.splitlines()
        more = len(lines) - DIFF_MAX_LINES
        if more > 0:
            diff = "\n".join(lines[:DIFF_MAX_LINES])
        text = Syntax(diff or "(no change)", "diff", theme="ansi_dark").highlight(diff)
        text.rstrip()
        if more > 0:
            text.append(f"\n… {more} more lines (e exports the whole patch)", "italic")
        return text

    async def _load_log(self, nid: str) -> None:
        if self.search is None:
            return
        path = self.search.log_path(nid)
        text = await self._io(self._git_thread, read_tail, path)
        if self.tree_view.cursor_id == nid:
            log_view = self.pane.log_view
            log_view.border_title = f"log · {path.name}" if text else "log"
            log_view.show(text or "(no log yet)")

    # -- totals and slots ------------------------------------------------------------------
    def _tick(self) -> None:
        self.tree_view.tick()
        selected = self.tree_view.cursor_id
        if selected is not None and selected in self.model.running_ids:
            self._show_info()
        self._refresh_slots()

    def _tree_title(self) -> str:
        title = f"tree · {len(self.model)} nodes"
        if self.model.filter_text:
            title += f" · filter: {self.model.filter_text}"
        return title

    def _refresh_slots(self) -> None:
        rows = []
        search = self.search
        running = self.model.running()
        timeout = search.config.target.timeout_s if search else 0.0
        now = self.clock()
        names = [slot.name for slot in search.slots] if search and not self.watching else []
        for name in names or sorted(running):
            nid = running.get(name)
            if nid is None:
                rows.append(SlotRow(name))
                continue
            node = self.model[nid]
            live = self.live.get(nid)
            elapsed = now - node.started_at if node.started_at else (live.elapsed if live else 0)
            percent = live.percent if live and live.percent > 0 else 0.0
            if not percent and timeout:
                percent = min(100.0, 100.0 * elapsed / timeout)
            rows.append(SlotRow(name, nid, node.persona, percent, elapsed))
        self._slots_bar.show(rows, self._totals_text())

    def _totals_text(self) -> Text:
        model, search = self.model, self.search
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
            elapsed = max(0.0, self.clock() - search.started_at)
            rate = self.session_finished / (elapsed / 3600) if elapsed > 60 else 0.0
            text.append(f" · {rate:.1f}/h")
            tokens = (self.call_totals.get("input_tokens") or 0) + (
                self.call_totals.get("output_tokens") or 0
            )
            cost = max(search.cost_usd, self.call_totals.get("cost_usd") or 0.0)
            text.append(f" · {fmt_count(tokens)} tokens · ${cost:.2f}")
            text.append(f" · {fmt_duration(elapsed)}")
            if search.paused:
                text.append(" · ⏸ paused (space resumes)", "bold yellow")
        return text

    def _load_call_totals(self) -> None:
        if self._store is None:
            return

        async def load() -> None:
            totals = await self._io(self._store_thread, self._store.call_totals)
            self.call_totals = totals.get("", {})
            self._refresh_slots()

        self.run_worker(load, group="totals", exclusive=True)

    # -- actions -------------------------------------------------------------------------
    def _need_search(self) -> Search | None:
        if self.watching:
            self.notify(self._read_only_text(), severity="warning")
            return None
        if self.search is None or not self.ready.is_set():
            self.notify("the search is not open yet", severity="warning")
            return None
        if self._search_stopped():
            self.notify(
                "the search has stopped — start autoresearch-tui here again to resume it",
                severity="warning",
            )
            return None
        return self.search

    def _search_stopped(self) -> bool:
        return self.run_task is not None and self.run_task.done()

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
        if action in ("export", "export_best") and (self.watching or self._search_stopped()):
            await self.export(nid)  # read-only: works while watching, or once stopped
            return
        if (search := self._need_search()) is None:
            return
        try:
            await self._node_action(search, action, nid)
        except sqlite3.Error:
            pass  # state.db cannot be written: the search stopped and its notice says so

    async def _node_action(self, search: Search, action: str, nid: str) -> None:
        node = self.model[nid]
        if action == "prune":
            if node.kind == "root":
                self.notify(
                    "the base cannot be pruned — space pauses the search", severity="warning"
                )
                return
            await search.prune(nid, not node.pruned)
            self.notify(f"{'unpruned' if node.pruned else 'pruned'} {nid} and its subtree")
        elif action == "boost":
            boost = 1.0 if node.boost != 1.0 else self.boost
            await search.set_boost(nid, boost)
            self.notify(f"{nid} boost {boost:g}" + (" (unboosted)" if boost == 1.0 else ""))
        elif action == "rerun":
            try:
                new = await search.rerun(nid)
            except ValueError as exc:
                self.notify(str(exc), severity="warning")
                return
            spent = search.max_experiments is not None and search.started >= search.max_experiments
            note = " — it waits: the experiment budget is spent" if spent else ""
            self.notify(f"queued {new.id}: a re-run of {nid} (seed {new.seed}){note}")
        elif action in ("export", "export_best"):
            await self.export(nid)

    async def export(self, nid: str) -> Path | None:
        """Write the node's patch against the base to .autoresearch/exports/<node>.patch."""
        search = self.search
        assert search is not None
        node = self.model[nid]
        if node.kind == "root" or not node.commit:
            self.notify(
                f"{nid} has no change to export ({node.kind}/{node.status})", severity="warning"
            )
            return None
        path = search.config.state_dir / "exports" / f"{nid}.patch"
        editable = search.config.target.editable
        try:
            await self._io(
                self._git_thread, self._write_patch, search.base_commit, node.commit, editable, path
            )
        except Exception as exc:
            self.notify(f"export failed: {exc}", severity="error")
            return None
        if not self.watching and not self._search_stopped():  # a watcher writes nothing
            with contextlib.suppress(sqlite3.Error):  # a failing store says so itself
                await search.record("export", nid, path=str(path))
        self.notify(
            f"exported {nid} → {path}\napply with: git apply {path}", title="export", timeout=12
        )
        return path

    def _write_patch(self, base: str, commit: str, editable: list[str], path: Path) -> None:
        patch = self._repo.git.diff(
            "--binary", base, commit, "--", *editable, strip_newline_in_stdout=False
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(patch)

    def action_filter(self) -> None:
        suggestions = sorted(self.model.personas | set(STATUS_WORDS) | {"best"})

        def done(text: str | None) -> None:
            if text is None:
                return
            self.tree_view.set_filter(text)
            self.tree_view.border_title = self._tree_title()
            self._refresh_slots()
            if text:
                shown = sum(1 for n in self.model.rows if self.model.is_match(n))
                self.notify(f"filter {text!r}: {shown} matching nodes (/ then enter clears)")

        self.push_screen(
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
        if (search := self._need_search()) is None:
            return

        async def done(text: str | None) -> None:
            if not text:
                return
            try:
                await search.add_hint(text)
            except sqlite3.Error:
                return  # state.db cannot be written: the search stopped and says so
            self.notify(f"hint added — the agents see it from their next proposal:\n{text}")

        self.push_screen(
            PromptScreen(
                "hint for the agents",
                "a sentence every later prompt carries, e.g. 'try a larger learning rate'",
                placeholder="your hint",
                id="hint-prompt",
            ),
            done,
        )

    async def action_pause(self) -> None:
        if (search := self._need_search()) is None:
            return
        try:
            await search.set_paused(not search.paused)
        except sqlite3.Error:
            return  # state.db cannot be written: the search stopped and says so
        if search.paused:
            self.notify("paused: running experiments finish, no new ones start")
        else:
            self.notify("resumed")
        self._refresh_slots()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        running = len(self.search.busy) if self.search is not None else 0
        if running:

            async def answer(yes: bool | None) -> None:
                if yes:
                    await self._quit()

            self.push_screen(
                ConfirmScreen(
                    f"{running} experiment(s) running. Quit? They are stopped and re-run on "
                    "the next start; the tree, prunes and boosts are saved either way.",
                    yes="Quit",
                    no="Stay",
                ),
                answer,
            )
            return
        await self._quit()

    async def _quit(self) -> None:
        if self._quitting:
            return
        self._quitting = True
        if self.search is not None and self.search.busy:
            self.notify("stopping the running experiments…")
        await self.stop_search()
        self.exit(0)

    async def stop_search(self) -> None:
        """Stop the scheduler and wait until its state is saved (store closed)."""
        search, task = self.search, self.run_task
        if search is None:
            return
        self._quitting = True
        search.stop()
        if task is None and self.ready.is_set():
            task = self.run_task = asyncio.create_task(search.run())  # closes the store
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)
        self._close_readers()

    def _close_readers(self) -> None:
        store, self._store = self._store, None
        if store is not None:
            self._store_thread.submit(store.close)
        self._store_thread.shutdown(wait=False)
        self._git_thread.shutdown(wait=False)

    async def on_unmount(self) -> None:
        if self.run_task is not None and not self.run_task.done():
            await self.stop_search()
        elif self._store is not None:
            self._close_readers()

    # -- command palette -------------------------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        tree = self.tree_view
        yield SystemCommand("Prune / unprune", "Prune the selected subtree (p)", tree.action_prune)
        yield SystemCommand("Boost / unboost", "Boost the selected node (b)", tree.action_boost)
        yield SystemCommand(
            "Re-run", "Re-run the selected node with another seed (r)", tree.action_rerun
        )
        yield SystemCommand(
            "Export node", "Export the selected node as a patch (e)", tree.action_export
        )
        yield SystemCommand(
            "Export best", "Export the best node as a patch (E)", tree.action_export_best
        )
        yield SystemCommand(
            "Jump to best", "Move the cursor to the best node (g)", tree.action_jump_best
        )
        yield SystemCommand(
            "Filter", "Filter the tree by persona or status (/)", self.action_filter
        )
        yield SystemCommand("Hint", "Add a hint for the agents (h)", self.action_hint)
        yield SystemCommand(
            "Pause / resume", "Pause or resume new experiments (space)", self.action_pause
        )
        yield SystemCommand("Help", "Keys and marks (?)", self.action_help)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def read_tail(path: Path, max_bytes: int = LOG_TAIL_BYTES, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a log (`\\r` counts as a line break, like the scheduler's parser)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            data = fh.read()
    except OSError:
        return ""
    text = data.decode(errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    kept = [line for line in text.split("\n") if line.strip()]
    if size > max_bytes and kept:
        kept = kept[1:]  # the first line is probably cut
    return "\n".join(kept[-lines:])


# -- entry points -------------------------------------------------------------------------
def run_tui(
    config: Config,
    proposers: list,
    *,
    policy: Any = None,
    slots: list | None = None,
    seed: int | None = None,
    max_experiments: int | None = None,
) -> int:
    """`autoresearch-tui run DIR` without --headless: the same search, in the TUI."""

    def make_search(log: Callable[[str], None]) -> Search:
        return Search(
            config, proposers, policy=policy, slots=slots, seed=seed,
            max_experiments=max_experiments, exit_when_idle=False,
        )  # fmt: skip

    return ResearchApp(make_search).run() or 0


def open_tui(directory: Path | str | None) -> int:
    """`autoresearch-tui [DIR]`: DIR, else the workspace in the current directory, else the
    demo workspace (created on first use, in a worker, while the UI is already up)."""
    from autoresearch_tui.agents.factory import build_proposers
    from autoresearch_tui.search.config import load_config

    directory = workspace_for(directory)
    if directory is None:
        demo = demo_dir()
        app = ResearchApp(
            lambda log: demo_search(demo, log),
            preparing=f"preparing the demo workspace in {demo} …",
        )
        return app.run() or 0
    root = Path(directory)
    config = load_config(root, check_clean=not (root / ".autoresearch" / "state.db").exists())
    proposers = build_proposers(config.agents, config.root)
    return run_tui(config, proposers)


def workspace_for(directory: Path | str | None) -> Path | None:
    """DIR if given, else the current directory if it is a workspace, else None (demo)."""
    if directory is not None:
        return Path(directory)
    if (Path.cwd() / CONFIG_NAME).is_file():
        return Path.cwd()
    return None


def demo_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("autoresearch-tui")) / "demo"


def demo_agents() -> list:
    """One LLM persona when an API key is set, else the offline mutator."""
    from autoresearch_tui.agents.proposer import AgentSpec

    if os.environ.get("ANTHROPIC_API_KEY"):
        return [AgentSpec("architect", "anthropic")]
    if os.environ.get("OPENAI_API_KEY"):
        return [AgentSpec("architect", "openai")]
    return [AgentSpec("explorer", "mutator")]


def prepare_demo(path: Path, log: Callable[[str], None]) -> Path:
    """Create (or finish) the demo workspace: cpu preset, data prepared."""
    from autoresearch_tui.trainer.workspace import init_workspace, run_prepare

    marker = path.parent / f"{path.name}.ready"
    if (path / CONFIG_NAME).is_file():
        if not marker.exists():  # an earlier start stopped while preparing the data
            run_prepare(path, log)
            marker.touch()
        return path
    if path.exists():
        shutil.rmtree(path)  # a half-written demo of ours, from an interrupted start
    path.parent.mkdir(parents=True, exist_ok=True)
    init_workspace(path, preset="cpu", log=log)
    marker.touch()
    return path


def demo_search(path: Path, log: Callable[[str], None]) -> Search:
    from autoresearch_tui.agents.factory import build_proposers
    from autoresearch_tui.agents.proposer import AgentSpec
    from autoresearch_tui.search.config import load_config

    prepare_demo(path, log)
    config = load_config(path, check_clean=not (path / ".autoresearch" / "state.db").exists())
    try:
        proposers = build_proposers(demo_agents(), config.root)
    except Exception as exc:  # an LLM backend that cannot start: the mutator still can
        log(f"LLM agent unavailable ({exc}); using the offline mutator")
        proposers = build_proposers([AgentSpec("explorer", "mutator")], config.root)
    return Search(config, proposers, exit_when_idle=False)
