"""The Textual app: the search's life in the TUI (open, run, watch, stop, quit).

The scheduler (`search.scheduler.Scheduler`) runs as a task on the app's own event loop; its
listener, the bridge (`app/bridge.py`), posts coalesced messages that the app hands to the
main screen (`app/screens/main.py`), which owns the layout and what it shows. Slow reads
go through the run's reader (`app/run_reader.py`) on threads of its own, never the loop;
the store is opened read-only (WAL), the scheduler stays its only writer.

When another process already runs the search in the workspace (`run --headless` in
another pane), the app watches it instead: it polls state.db once a second and shows the
same tree, curves, logs and slots, read-only. Starting the TUI from the command line is
`app/launch.py`'s job. See docs/ARCHITECTURE.md §7 The TUI.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.screen import Screen

from autoresearch_tui.app.bridge import NodesChanged, ProgressTick, SearchBridge, SearchNotice
from autoresearch_tui.app.node_actions import go_on
from autoresearch_tui.app.run_reader import RunReader, pid_alive
from autoresearch_tui.app.screens.confirm import ConfirmScreen
from autoresearch_tui.app.screens.main import BOOST, MainScreen
from autoresearch_tui.app.screens.status import finished_text
from autoresearch_tui.app.widgets.search_tree import SearchTree
from autoresearch_tui.app.widgets.tree_model import TreeModel
from autoresearch_tui.search.counts import GO_ON
from autoresearch_tui.search.runlock import WorkspaceBusy
from autoresearch_tui.search.runs import base_failure
from autoresearch_tui.search.scheduler import Scheduler
from autoresearch_tui.search.store import StoreFailed

WATCH_EVERY_S = 1.0  # state.db polls while watching another process's search
WATCH_OPEN_TRIES = 20  # every 0.5 s: a runner that just took the lock writes state.db soon
SEVERITY: dict[str, SeverityLevel] = {"warning": "warning", "error": "error"}  # of a Notice


class ResearchApp(App[int]):
    """The TUI of one search: `make_search(log)` builds it (in a thread: it may prepare a
    workspace, saying how with `log`); None shows only what the bridge is given."""

    CSS_PATH = "tui.tcss"
    TITLE = "autoresearch-tui"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("s", "go_on", f"{GO_ON} more"),  # once the cap is reached (check_action)
        # Watching, the keys that would act leave the footer; pressed, these say why.
        *(Binding(key, "refused", show=False) for key in ("p", "b", "r", "space", "h")),
    ]

    def __init__(
        self,
        make_search: Callable[[Callable[[str], None]], Scheduler] | None = None,
        *,
        start: bool = True,
        preparing: str = "",
        clock: Callable[[], float] = time.time,
        boost: float = BOOST,
        archived: str = "",
    ) -> None:
        super().__init__()
        self.archived = archived  # an archived run's name: shown read-only, never opened
        self.failed = False  # the base or the search failed: quitting exits with 1
        self.make_search = make_search
        self.start_search = start
        self.preparing = preparing
        self.search: Scheduler | None = None
        self.run_task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()  # the search is open (and runs, if start)
        self.reader = RunReader()
        self.main = MainScreen(clock=clock, preparing=preparing, boost=boost)
        self.bridge = SearchBridge(self.post_message)
        self.watching = 0  # pid of the process whose search this app only shows
        self._watch_ended = False  # the watched process has exited
        self._watch_error = False  # the last poll could not read state.db
        self._quitting = False

    # What the tests and the benchmark read: the main screen's model and views.
    @property
    def model(self) -> TreeModel:
        return self.main.model

    @property
    def tree_view(self) -> SearchTree:
        return self.main.tree_view

    @property
    def points(self) -> dict[str, dict[int, float]]:
        return self.main.points

    def get_default_screen(self) -> Screen[None]:
        return self.main

    def on_mount(self) -> None:
        if self.make_search is not None:
            self._open()

    # -- opening and running the search ---------------------------------------------------
    @work(name="open", group="open", exit_on_error=False)
    async def _open(self) -> None:
        """Build and open the search (off the loop where it blocks), then run it."""
        assert self.make_search is not None
        if self.preparing:
            self.notify(self.preparing, title="autoresearch-tui", timeout=8)

        def log(line: str) -> None:
            self.call_from_thread(self.main.show_text, f"{self.preparing}\n{line}")

        try:
            search = await asyncio.to_thread(self.make_search, log)
        except Exception as exc:  # a workspace error: say it, keep the app up
            self._fail(f"could not open the workspace: {exc}")
            return
        self.search = search
        config = search.config
        self.main.metric_name = config.target.metric
        self.model.goal = self.model.tree.goal = config.target.goal
        search.listeners.append(self.bridge)
        if self.archived:
            await self._watch(search, 0)
            return
        self.main.show_text("opening the run…")
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
        if search.parts().running.sandbox == "none" and config.contain.sandbox != "none":
            # bwrap could not run (search/sandbox.py): said once, here too
            self.sub_title += " · no sandbox"
        await self.reader.open(config)
        if await self.reader.last_pause_event() == "pause":
            search.paused = True  # a pause survives a restart
            self.notify("the search was paused when it last stopped — space resumes it")
        if line := finished_text(search):  # its cap is reached: it waits for `s`
            search.paused = True
            self.notify(line, timeout=30)
        self.ready.set()
        if self.start_search:
            self.run_task = asyncio.create_task(search.run())
            self.run_task.add_done_callback(self._run_done)
        self.main.refresh_slots()
        self.main.load_call_totals()

    def _fail(self, text: str) -> None:
        self.failed = True
        self.main.show_text(text)
        self.notify(text, severity="error", timeout=30)

    def _run_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self._quitting:
            return
        exc = task.exception()
        self.failed = exc is not None
        if self.search is not None and (
            line := base_failure(self.search.config, self.search.tree.root)
        ):
            self.failed = True
            self.notify(line, severity="error", timeout=3600)
        elif isinstance(exc, StoreFailed):
            self.notify(f"the search stopped: {exc}", severity="error", timeout=3600)
        elif exc is not None:
            self.notify(f"the search stopped: {exc!r}", severity="error", timeout=60)
        else:
            self.notify("the search has stopped", timeout=10)

    # -- watching another process's search ------------------------------------------------
    async def _watch(self, search: Scheduler, pid: int) -> None:
        """Show the search that process `pid` runs here, read-only, from state.db."""
        config = search.config
        for attempt in range(WATCH_OPEN_TRIES):  # the runner may not have written it yet
            try:
                await self.reader.open(config)
                meta = await self.reader.run_meta()
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
        self.tree_view.read_only = True  # the footer offers what watching allows
        self.main.refresh_bindings()
        self.main.show_text("reading the run…")
        if self.archived:
            self.sub_title = f"{config.root.name} · run {self.archived} · archived, read-only"
        self.notify(self._read_only_text() if self.archived else (
            f"{holder} runs this search: watching it read-only. Prune, boost, hints and "
            "pause belong to that process; quit it and start here to take over."
        ), timeout=12)  # fmt: skip
        await self._poll_watched()
        self.set_interval(WATCH_EVERY_S, self._poll_watched, name="watch")

    async def _poll_watched(self) -> None:
        if not self.reader.is_open:
            return
        try:
            changed = await self.reader.changed_nodes()
        except (sqlite3.Error, OSError) as exc:  # moved aside, a damaged file: say it once
            if not self._watch_error:
                self._watch_error = True
                self.notify(f"could not read the watched run: {exc}", severity="error")
            return
        self._watch_error = False
        self.main.show_watched(changed)
        if self.watching > 0 and not self._watch_ended and not pid_alive(self.watching):
            self._watch_ended = True
            self.notify(self._read_only_text(), timeout=30)
            self.sub_title = self.sub_title.replace("watching", "was watching")

    def _read_only_text(self) -> str:
        if self.archived:
            return f"read-only: run {self.archived} is archived (its base changed)"
        if self._watch_ended:
            return f"pid {self.watching} has stopped: start autoresearch-tui here to resume"
        holder = f"pid {self.watching}" if self.watching > 0 else "another process"
        return f"read-only: {holder} runs this search — act there, or quit it and start here"

    # -- the scheduler's messages ---------------------------------------------------------
    def on_nodes_changed(self, message: NodesChanged) -> None:
        self.main.apply_nodes(self.bridge.take_nodes())

    def on_progress_tick(self, message: ProgressTick) -> None:
        self.main.apply_progress(self.bridge.take_progress())

    def on_search_notice(self, message: SearchNotice) -> None:
        severity = SEVERITY.get(message.level, "information")
        self.notify(message.text, severity=severity, timeout=6 if severity == "information" else 15)

    # -- may the person act on the search? -------------------------------------------------
    @property
    def stopped(self) -> bool:
        """The search ran and has stopped (a full disk, an error, its budget)."""
        return self.run_task is not None and self.run_task.done()

    def need_search(self) -> Scheduler | None:
        """The search, if this process runs it and it goes on; else say why not."""
        if self.watching:
            self.notify(self._read_only_text(), severity="warning")
            return None
        if self.search is None or not self.ready.is_set():
            self.notify("the search is not open yet", severity="warning")
            return None
        if self.stopped:
            self.notify(
                "the search has stopped — start autoresearch-tui here again to resume it",
                severity="warning",
            )
            return None
        return self.search

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "go_on":
            return self.main.finished and not self.watching
        return bool(self.watching) if action == "refused" else True

    def action_refused(self) -> None:
        self.need_search()  # watching: says why not

    async def action_go_on(self) -> None:
        """s on a finished search: GO_ON more experiments, saved as `--more` saves them."""
        if (search := self.need_search()) is None:
            return
        try:
            reply = await go_on(search, GO_ON)
        except sqlite3.Error:
            return  # state.db cannot be written: the search stopped and says so
        self.notify(reply.text)
        self.main.refresh_slots()

    # -- quitting ------------------------------------------------------------------------
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
        self.exit(1 if self.failed else 0)

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
        self.reader.close()

    async def on_unmount(self) -> None:
        if self.run_task is not None and not self.run_task.done():
            await self.stop_search()
        else:
            self.reader.close()

    # -- command palette -----------------------------------------------------------------
    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        tree, main = self.tree_view, self.main
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
            "Filter", "Filter the tree by persona or status (/)", main.action_filter
        )
        yield SystemCommand("Hint", "Add a hint for the agents (h)", main.action_hint)
        yield SystemCommand(
            "Lessons", "Read or edit the lessons note the agents see (L)", main.action_lessons
        )
        yield SystemCommand(
            "Pause / resume", "Pause or resume new experiments (space)", main.action_pause
        )
        yield SystemCommand("Help", "Keys and marks (?)", main.action_help)
