"""Pilot test: a run stopped early in the TUI (search/early_stopping.py): its own mark and
words in the tree, its reason in the node pane, the slot time saved in the status bar,
and `r`, which runs it again to the end with no early stop. The real scheduler runs real
subprocesses on the app's loop."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from curves import BAD, SLOTS, AfterNoise, curves_workspace
from tui_helpers import events, settle, wait_for

from autoresearch_tui.app.tui import ResearchApp
from autoresearch_tui.app.widgets.slots_bar import SlotsBar
from autoresearch_tui.search.config import load_config
from autoresearch_tui.search.scheduler import Scheduler

SIZE = (140, 35)


def curves_app(ws: Path) -> ResearchApp:
    def make_search(log: Callable[[str], None]) -> Scheduler:
        proposer = AfterNoise([BAD])
        search = Scheduler(load_config(ws, check_clean=False), [proposer], slots=SLOTS,
                           max_experiments=1, seed=1, exit_when_idle=False)  # fmt: skip
        proposer.search = search
        return search

    return ResearchApp(make_search)


async def test_a_stopped_run_shows_its_mark_reason_and_saving_and_r_runs_it_to_the_end(
    tmp_path: Path,
) -> None:
    ws = curves_workspace(tmp_path / "ws")
    app = curves_app(ws)
    async with app.run_test(size=SIZE) as pilot:

        def stopped() -> list[str]:
            return [n for n in app.model.rows if app.model[n].status == "stopped"]

        await wait_for(pilot, stopped, timeout=60, what="a run stopped early")
        (nid,) = stopped()
        row = app.tree_view.label(nid).plain
        assert "⏹" in row and "stopped at " in row and "vs parent" not in row
        app.tree_view.select(nid)
        await settle(pilot)
        info = app.query_one("#node-info").render().plain
        assert app.model[nid].reason in info and "r runs it to the end" in info
        bar = "\n".join(t.plain for t in app.query_one("#slots", SlotsBar)._lines(138))
        assert "early stops: 1 run, " in bar and "slot-hours saved" in bar

        await pilot.press("r")
        await wait_for(pilot, lambda: app.model[nid].status != "stopped", what="r to requeue")
        assert app.model[nid].full_run
        assert any(e["node"] == nid and e["data"].get("full_run") for e in events(ws, "rerun"))
        app.search.max_experiments = 2  # the budget was spent on its first run
        app.search.wake()
        await wait_for(pilot, lambda: app.model[nid].has_metric, timeout=60, what="its full run")
        assert "⏹" not in app.tree_view.label(nid).plain
        assert app.model[nid].status == "done"
