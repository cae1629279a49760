"""Pilot tests: every key of the TUI against a real synthetic workspace with the real
scheduler running on the app's loop (mutator persona, a few experiments). Each action is
checked in the tree (the model and the row text) and, where it changes the run, in the
events table of state.db."""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from synthetic import ScriptedProposer, until
from textual.widgets import TextArea
from tui_helpers import events, make_app, settle, stored_nodes, wait_for

from autoresearch_tui.agents.prompt import build_task
from autoresearch_tui.app.screens.confirm import ConfirmScreen
from autoresearch_tui.app.screens.help import HelpScreen
from autoresearch_tui.app.screens.lessons import LessonsScreen
from autoresearch_tui.app.screens.prompt import PromptScreen
from autoresearch_tui.app.tui import ResearchApp
from autoresearch_tui.app.widgets.loss_chart import LossChart
from autoresearch_tui.app.widgets.slots_bar import SlotsBar
from autoresearch_tui.search.config import load_config
from autoresearch_tui.search.scheduler import Scheduler
from autoresearch_tui.search.slots import Slot

if TYPE_CHECKING:
    from textual.pilot import Pilot

SIZE = (120, 35)


def notes(app: ResearchApp) -> list[str]:
    return [n.message for n in app._notifications]


def row_text(app: ResearchApp, nid: str) -> str:
    return app.tree_view.label(nid).plain


def finished(app: ResearchApp, count: int) -> Callable[[], bool]:
    return lambda: app.model.finished_count >= count and not app.model.running_ids


async def select_experiment(pilot: Pilot[int], app: ResearchApp) -> str:
    """Move the cursor with j to the first non-root, non-rerun node; return its id."""
    for _ in range(len(app.model.rows)):
        nid = app.tree_view.cursor_id
        if nid is not None and app.model[nid].kind == "improve" and app.model[nid].commit:
            return nid
        await pilot.press("j")
    raise AssertionError("no experiment in the tree")


async def test_live_tree_pane_chart_log_and_slots(workspace: Path) -> None:
    app = make_app(workspace, max_experiments=5)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, finished(app, 5), what="5 experiments")
        model = app.model
        assert model.rows[0] == "n0000" and len(model.rows) == len(model)
        assert model.best_id is not None and "★" in row_text(app, model.best_id)
        nid = await select_experiment(pilot, app)
        await settle(pilot)
        node = model[nid]
        info = app.query_one("#node-info").render().plain
        value = model.value(nid)  # search/values.py's one text form, Δ vs parent and vs base
        assert nid in info and node.description in info and value.text() in info
        assert value.change_text() and value.base_text() in info
        diff = str(app.query_one("#diff-text").render())
        assert "@@" in diff and "train.py" in diff
        log = str(app.query_one("#log-text").render())
        assert "val_bpb" in log
        chart = app.query_one("#chart", LossChart)
        assert nid in str(chart.border_title) and app.points[nid]
        slots = app.query_one("#slots", SlotsBar)
        text = "\n".join(t.plain for t in slots._lines(118))
        assert "cpu0" in text and "cpu1" in text and "experiments" in text and "best" in text
        # the scheduler's run task lives on the app's loop
        assert app.run_task is not None and not app.run_task.done()


async def test_move_keys_and_jump_to_best(workspace: Path) -> None:
    app = make_app(workspace, max_experiments=3)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, finished(app, 3))
        tree = app.tree_view
        assert tree.cursor_id == "n0000"
        await pilot.press("j", "j")
        assert tree.cursor_id == app.model.rows[2]
        await pilot.press("k")
        assert tree.cursor_id == app.model.rows[1]
        await pilot.press("down", "down", "up")
        assert tree.cursor_id == app.model.rows[2]
        await pilot.press("end")
        assert tree.cursor_id == app.model.rows[-1]
        await pilot.press("home")
        assert tree.cursor_id == "n0000"
        await pilot.press("g")
        assert tree.cursor_id == app.model.best_id
        # collapse and expand keep the cursor on its node
        await pilot.press("home", "left")
        assert app.model.rows == ["n0000"] and tree.cursor_id == "n0000"
        assert f"+{len(app.model) - 1}" in row_text(app, "n0000")
        await pilot.press("right")
        assert len(app.model.rows) == len(app.model)


async def test_prune_and_unprune(workspace: Path) -> None:
    app = make_app(workspace, max_experiments=3)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, finished(app, 3))
        nid = await select_experiment(pilot, app)
        await pilot.press("p")
        await wait_for(pilot, lambda: app.model[nid].pruned, what="pruned")
        assert "✂" in row_text(app, nid)
        assert nid in app.model.pruned_eff and app.search.tree[nid].pruned
        assert [e["node"] for e in events(workspace, "prune")] == [nid]
        await pilot.press("p")
        await wait_for(pilot, lambda: not app.model[nid].pruned, what="unpruned")
        assert "✂" not in row_text(app, nid)
        assert [e["node"] for e in events(workspace, "unprune")] == [nid]
        # the base cannot be pruned
        await pilot.press("home", "p")
        await pilot.pause()
        assert not app.model["n0000"].pruned and len(events(workspace, "prune")) == 1


async def test_prune_stops_running_experiments(slow_workspace: Path) -> None:
    app = make_app(slow_workspace, max_experiments=2)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "n0000" in app.model and app.model["n0000"].has_metric, 30)
        await wait_for(
            pilot, lambda: any(app.model[n].kind == "improve" for n in app.model.running_ids), 30
        )
        nid = next(n for n in app.model.running_ids if app.model[n].kind == "improve")
        app.tree_view.select(nid)
        await pilot.press("p")
        await wait_for(pilot, lambda: nid not in app.model.running_ids, what="stopped")
        assert app.model[nid].pruned and app.model[nid].status == "ready"
        kinds = [(e["kind"], e["node"]) for e in events(slow_workspace)]
        assert ("prune", nid) in kinds and ("stopped", nid) in kinds


async def test_boost_and_unboost(workspace: Path) -> None:
    app = make_app(workspace, max_experiments=3)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, finished(app, 3))
        nid = await select_experiment(pilot, app)
        await pilot.press("b")
        await wait_for(pilot, lambda: app.model[nid].boost == 3.0, what="boost")
        assert "▲3" in row_text(app, nid) and "boost" in app.query_one("#node-info").render().plain
        await pilot.press("b")
        await wait_for(pilot, lambda: app.model[nid].boost == 1.0, what="unboost")
        assert "▲" not in row_text(app, nid)
        assert [(e["node"], e["data"]["boost"]) for e in events(workspace, "boost")] == [
            (nid, 3.0),
            (nid, 1.0),
        ]


async def test_rerun(workspace: Path) -> None:
    app = make_app(workspace, max_experiments=3)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, finished(app, 3))
        nid = await select_experiment(pilot, app)
        before = set(app.model.depth)
        await pilot.press("r")
        await wait_for(pilot, lambda: set(app.model.depth) - before, what="a re-run node")
        (new,) = set(app.model.depth) - before
        node = app.model[new]
        assert node.kind == "rerun" and node.parent == nid and node.commit == app.model[nid].commit
        assert app.model.row_of(new) is not None and app.tree_view.cursor_id == nid
        assert [(e["node"], e["data"]["of"]) for e in events(workspace, "rerun")][-1] == (new, nid)
        assert node.status == "ready"
        assert any("budget is spent" in m for m in notes(app))
        app.search.max_experiments = None  # more budget: the queued re-run starts
        app.search.wake()
        await wait_for(pilot, lambda: app.model[new].has_metric, what="the re-run to finish")


async def test_export_selected_and_best(workspace: Path) -> None:
    app = make_app(workspace, max_experiments=3)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, finished(app, 3))
        nid = await select_experiment(pilot, app)
        await pilot.press("e")
        path = workspace / ".autoresearch" / "exports" / f"{nid}.patch"
        await wait_for(pilot, path.exists, what="the patch file")
        await wait_for(pilot, lambda: events(workspace, "export"), what="the export event")
        assert any(str(path) in m for m in notes(app))
        check = subprocess.run(
            ["git", "apply", "--check", str(path)], cwd=workspace, capture_output=True
        )
        assert check.returncode == 0, check.stderr
        await pilot.press("E")
        best = app.model.best_id
        assert best is not None
        if best != "n0000":
            best_path = path.parent / f"{best}.patch"
            await wait_for(pilot, best_path.exists, what="the best patch")
            assert [e["node"] for e in events(workspace, "export")] == [nid, best]


async def test_hint(workspace: Path) -> None:
    app = make_app(workspace, max_experiments=2)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.ready.is_set())
        await pilot.press("h")
        assert isinstance(app.screen, PromptScreen)
        await pilot.press(*"try gelu", "enter")
        await wait_for(pilot, lambda: events(workspace, "hint"), what="the hint event")
        assert events(workspace, "hint")[0]["data"]["text"] == "try gelu"
        assert app.search.hints == ["try gelu"]
        await pilot.press("h", "escape")  # escape adds nothing
        await pilot.pause()
        assert len(events(workspace, "hint")) == 1


async def test_pause_and_resume(workspace: Path) -> None:
    app = make_app(workspace, max_experiments=30)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.model.finished_count >= 2)
        await pilot.press("space")
        await wait_for(pilot, lambda: events(workspace, "pause"), what="the pause event")
        assert app.search.paused
        slots = app.query_one("#slots", SlotsBar)
        assert "paused" in slots._totals.plain
        await wait_for(pilot, lambda: not app.model.running_ids, what="running ones to finish")
        count = len(app.model)
        await pilot.pause(0.5)  # an absence: no condition to wait for, so a fixed window
        assert len(app.model) == count  # nothing new while paused
        await pilot.press("space")
        await wait_for(pilot, lambda: events(workspace, "resume"), what="the resume event")
        assert not app.search.paused
        await wait_for(pilot, lambda: len(app.model) > count, what="new nodes after resume")


async def test_filter_by_persona_and_status(workspace: Path) -> None:
    app = make_app(workspace, max_experiments=5)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, finished(app, 5))
        total = len(app.model.rows)
        await pilot.press("slash")
        assert isinstance(app.screen, PromptScreen)
        await pilot.press(*"explorer", "enter")
        await pilot.pause()
        shown = app.model.rows
        assert shown and all(
            app.model[n].persona == "explorer" or not app.model.is_match(n) for n in shown
        )
        assert all(app.model.is_match(n) for n in shown if app.model[n].persona == "explorer")
        assert "filter: explorer" in str(app.tree_view.border_title)
        await pilot.press("slash", "ctrl+u", *"crashed", "enter")
        await pilot.pause()
        assert not any(app.model.is_match(n) for n in app.model.rows) or all(
            app.model[n].status == "crashed" for n in app.model.rows if app.model.is_match(n)
        )
        await pilot.press("slash", "ctrl+u", "enter")  # empty clears
        await pilot.pause()
        assert len(app.model.rows) >= total and not app.model.filter_text


async def test_help_screen_and_command_palette(workspace: Path) -> None:
    app = make_app(workspace, max_experiments=2)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, finished(app, 2))
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        nid = await select_experiment(pilot, app)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Boost", "enter")
        await wait_for(pilot, lambda: app.model[nid].boost == 3.0, what="boost from the palette")
        assert events(workspace, "boost")[0]["node"] == nid


async def test_quit_asks_while_running_and_saves_state(slow_workspace: Path) -> None:
    app = make_app(slow_workspace, max_experiments=2)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: bool(app.search and app.search.busy), 30, "a running run")
        running = set(app.search.busy)
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert not isinstance(app.screen, ConfirmScreen) and app.is_running
        await pilot.press("q")
        await pilot.press("y")
        await wait_for(pilot, lambda: not app.is_running, what="the app to exit")
    assert app.return_value == 0 and app.run_task is not None and app.run_task.done()
    kinds = [e["kind"] for e in events(slow_workspace)]
    assert kinds[-1] == "stop" and "stopped" in kinds
    nodes = stored_nodes(slow_workspace)
    assert all(nodes[n].status == "ready" for n in running)  # re-queued for the next start


async def test_resume_shows_the_same_tree_prunes_and_boosts(workspace: Path) -> None:
    app = make_app(workspace, max_experiments=3)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, finished(app, 3))
        nid = await select_experiment(pilot, app)
        await pilot.press("p", "b")
        await wait_for(pilot, lambda: app.model[nid].pruned and app.model[nid].boost == 3.0)
        await pilot.press("space")
        await wait_for(pilot, lambda: events(workspace, "pause"))
        await wait_for(pilot, lambda: not app.search.busy, what="running ones to finish")
        await pilot.press("q")  # nothing runs: no question
        await wait_for(pilot, lambda: not app.is_running, what="the app to exit")
    assert events(workspace)[-1]["kind"] == "stop"
    ids = set(app.model.depth)

    again = make_app(workspace, max_experiments=3)
    async with again.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: again.ready.is_set() and len(again.model) >= len(ids))
        assert ids <= set(again.model.depth)
        assert again.model[nid].pruned and again.model[nid].boost == 3.0
        assert "✂" in row_text(again, nid) and "▲3" in row_text(again, nid)
        assert again.search.paused  # a pause survives a restart
        assert [e["kind"] for e in events(workspace, "resume")]


async def test_after_the_search_stops_actions_say_so_and_export_still_works(
    workspace: Path,
) -> None:
    app = make_app(workspace, max_experiments=3)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, finished(app, 3), what="3 experiments")
        app.search.stop()  # as a full disk's StoreFailed does
        await wait_for(pilot, lambda: app.run_task.done(), what="the search to stop")
        nid = await select_experiment(pilot, app)
        await pilot.press("p", "b", "r", "space")
        assert sum("here again to resume it" in n for n in notes(app)) == 4
        await pilot.press("e")
        patch = workspace / ".autoresearch" / "exports" / f"{nid}.patch"
        await wait_for(pilot, patch.exists, what="the exported patch")
        assert app.is_running  # nothing raised into Textual
    assert events(workspace, "prune") == [] and events(workspace, "export") == []


class WaitsForALessonsNote(ScriptedProposer):
    """Every proposal after the first waits for the person's note: the ones in flight then
    were built before it, the next one after it (one slot: at most two in flight)."""

    app: ResearchApp
    calls = 0

    async def propose(self, request):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.calls >= 2:
            lessons = self.app.search.parts().lessons
            await until(lambda: lessons.current is not None, "the person's note", timeout=60)
        return await super().propose(request)


async def test_lessons_key_edits_the_note_the_next_prompt_sees(workspace: Path) -> None:
    scripted = WaitsForALessonsNote(
        [
            [("LR = 0.04", "LR = 0.06")],
            [("DEPTH = 8", "DEPTH = 10")],
            [("WARMUP = 0.1", "WARMUP = 0.15")],
            [('ACT = "relu"', 'ACT = "gelu"')],
            [("USE_BIAS = False", "USE_BIAS = True")],
        ]
    )

    def make_search(log: Callable[[str], None]) -> Scheduler:
        config = load_config(workspace, check_clean=False)
        search = dataclasses.replace(config.search, base_runs=1, confirm_runs=0, merge=False)
        config = dataclasses.replace(config, search=search)
        return Scheduler(config, [scripted], slots=[Slot("cpu0", threads=1)],
                         max_experiments=6, exit_when_idle=False)  # fmt: skip

    app = scripted.app = ResearchApp(make_search)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.ready.is_set())
        await pilot.press("L")
        await wait_for(pilot, lambda: isinstance(app.screen, LessonsScreen), what="the screen")
        area = app.screen.query_one(TextArea)
        assert area.text == "" and not area.read_only
        await pilot.press(*"gelu helps", "ctrl+s")
        await wait_for(pilot, lambda: events(workspace, "lessons"), what="the lessons event")
        (event,) = events(workspace, "lessons")
        assert (event["data"]["text"], event["data"]["source"]) == ("gelu helps", "user")
        assert not isinstance(app.screen, LessonsScreen)
        assert any("lessons note saved" in n for n in notes(app))
        # the next proposal's prompt shows the person's note
        await wait_for(pilot, lambda: len(scripted.requests) >= 4, what="the 4th proposal")
        assert scripted.requests[0].lessons is None
        later = [r for r in scripted.requests if r.lessons is not None]
        assert later, "no proposal after the save carried the note"
        task = build_task(later[0])
        assert "## Lessons so far (written by the person at " in task and "\ngelu helps" in task
        # it opens with the current note; escape leaves without saving
        await pilot.press("L")
        await wait_for(pilot, lambda: isinstance(app.screen, LessonsScreen), what="the screen")
        assert app.screen.query_one(TextArea).text == "gelu helps"
        await pilot.press("x", "escape")
        await pilot.pause()
        assert not isinstance(app.screen, LessonsScreen)
        assert len(events(workspace, "lessons")) == 1
        # the command palette opens it too
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Lessons", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, LessonsScreen), what="palette")
