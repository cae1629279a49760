"""The TUI and runs: a failed base is said and quitting exits 1; a kept (archived) run
opens read-only, as watch mode shows another process's run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from synthetic import TRAIN_PY, git, make_workspace
from tui_helpers import make_app, wait_for

from autoresearch_tui.agents.proposer import AgentSpec
from autoresearch_tui.app.launch import Overrides, build_search
from autoresearch_tui.app.tui import ResearchApp
from autoresearch_tui.search.config import load_config
from autoresearch_tui.search.runs import config_for_run, run_names
from autoresearch_tui.search.store import Store

CLI = [sys.executable, "-m", "autoresearch_tui.app.cli"]


def notes(app: ResearchApp) -> list[str]:
    return [n.message for n in app._notifications]


async def test_a_failed_base_is_said_and_quitting_exits_1(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", train=TRAIN_PY.replace("crash=False", "crash=True"))
    app = make_app(ws)
    async with app.run_test(size=(120, 35)) as pilot:
        await wait_for(pilot, lambda: app.stopped, timeout=60, what="the search to stop")
        assert app.failed
        assert any(n.startswith("the base n0000 crashed: exit code 1") for n in notes(app))
        await pilot.press("q")
        await wait_for(pilot, lambda: app.return_value is not None, what="the app to exit")
    assert app.return_value == 1


async def test_a_kept_run_opens_read_only(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    run = [*CLI, "run", str(ws), "--headless", "--max-experiments", "2", "--slots", "1"]
    subprocess.run(run, check=True, capture_output=True, timeout=120)
    (ws / "prepare.py").write_text("TIME_BUDGET = 2\n")
    git(ws, "commit", "-qam", "a new base")
    subprocess.run(run, check=True, capture_output=True, timeout=120)
    (old,) = run_names(load_config(ws, check_clean=False))
    config = config_for_run(load_config(ws, check_clean=False), old)
    store = Store(config.db_path, readonly=True)
    kept = {n.id: n.status for n in store.load_nodes()}
    events = len(store.events())
    store.close()
    viewer = Overrides(agents=[AgentSpec("explorer", "mutator")])
    app = ResearchApp(lambda log: build_search(config, viewer, exit_when_idle=False), archived=old)
    async with app.run_test(size=(120, 35)) as pilot:
        await wait_for(pilot, lambda: len(app.model.rows) == len(kept), what="the kept run's tree")
        assert f"run {old} · archived, read-only" in app.sub_title
        assert {nid: app.model[nid].status for nid in kept} == kept
        await pilot.press("j", "p")
        assert any(f"read-only: run {old} is archived" in n for n in notes(app))
        await pilot.press("q")
        await wait_for(pilot, lambda: app.return_value is not None, what="the app to exit")
    assert app.return_value == 0
    store = Store(config.db_path, readonly=True)
    assert len(store.events()) == events  # nothing written
    store.close()
