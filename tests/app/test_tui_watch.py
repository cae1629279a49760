"""The TUI on a workspace whose search another process runs (`run --headless` in another
pane): it watches that search read-only from state.db, and writes nothing."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from textual.widgets import TextArea
from tui_helpers import events, make_app, stored_nodes, wait_db, wait_for

from autoresearch_tui.app.screens.lessons import LessonsScreen
from autoresearch_tui.app.widgets.slots_bar import SlotsBar
from autoresearch_tui.search.config import state_db_path
from autoresearch_tui.search.model import FINISHED

if TYPE_CHECKING:
    from autoresearch_tui.app.tui import ResearchApp

CLI = [sys.executable, "-m", "autoresearch_tui.app.cli"]


def notes(app: ResearchApp) -> list[str]:
    return [n.message for n in app._notifications]


async def test_a_second_tui_watches_the_running_search_read_only(slow_workspace: Path) -> None:
    runner = subprocess.Popen(
        [*CLI, "run", str(slow_workspace), "--headless", "--slots", "2", "--max-experiments", "6"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_db(state_db_path(slow_workspace),
                "select count(*) from nodes where status='running'",
                "the headless runner to start an experiment", timeout=60)  # fmt: skip
        app = make_app(slow_workspace)
        async with app.run_test(size=(120, 35)) as pilot:
            await wait_for(pilot, lambda: app.watching == runner.pid, what="watch mode")
            assert f"watching pid {runner.pid}" in app.sub_title
            await wait_for(pilot, lambda: bool(app.model.running_ids), what="a running node")
            first = set(app.model.running_ids)
            slots = app.query_one("#slots", SlotsBar)
            assert any(nid in "\n".join(t.plain for t in slots._lines(118)) for nid in first)
            # the tree follows the runner: what ran when we started finishes here too
            await wait_for(
                pilot,
                lambda: any(app.model[n].status in FINISHED for n in first),
                timeout=60,
                what="a watched experiment to finish",
            )
            # actions belong to the runner: refused, nothing written
            await pilot.press("j", "p")
            await pilot.press("space")
            assert sum("read-only: pid" in n for n in notes(app)) == 2
            assert events(slow_workspace, "prune") == [] and events(slow_workspace, "pause") == []
            # the lessons note is shown read-only: ctrl+s saves nothing
            await pilot.press("L")
            await wait_for(pilot, lambda: isinstance(app.screen, LessonsScreen), what="lessons")
            assert app.screen.query_one(TextArea).read_only
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: any("read-only here" in n for n in notes(app)))
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, LessonsScreen))
            assert events(slow_workspace, "lessons") == []
            # export is read-only: it works
            for _ in range(len(app.model.rows)):
                nid = app.tree_view.cursor_id
                if nid is not None and app.model[nid].kind == "improve" and app.model[nid].commit:
                    break
                await pilot.press("j")
            assert nid is not None and app.model[nid].commit
            await pilot.press("e")
            patch = slow_workspace / ".autoresearch" / "exports" / f"{nid}.patch"
            await wait_for(pilot, patch.exists, what="the exported patch")
            runner.send_signal(signal.SIGINT)
            runner.wait(timeout=60)
            await wait_for(
                pilot, lambda: any("has stopped" in n for n in notes(app)), what="the stop notice"
            )
            assert "was watching" in app.sub_title
        assert events(slow_workspace, "export") == []  # the watcher wrote nothing
        assert not any(n.status == "running" for n in stored_nodes(slow_workspace).values())
        assert runner.returncode in (0, 130), runner.stderr.read() if runner.stderr else ""
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
