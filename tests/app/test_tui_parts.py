"""The TUI's plumbing: the scheduler bridge (coalescing), log tails, the launch code and
the demo workspace."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from synthetic import TOML, make_workspace
from tui_helpers import eventually, wait_for

from autoresearch_tui.app.bridge import NodesChanged, ProgressTick, SearchBridge, SearchNotice
from autoresearch_tui.app.demo import demo_agents, demo_search, prepare_demo
from autoresearch_tui.app.launch import workspace_for
from autoresearch_tui.app.run_reader import read_tail
from autoresearch_tui.app.tui import ResearchApp
from autoresearch_tui.search.events import NodeChanged, Notice, Progress
from autoresearch_tui.search.model import Node


async def test_bridge_coalesces_nodes_and_progress() -> None:
    posted: list = []
    bridge = SearchBridge(posted.append, every_s=0.05)
    for i in range(100):  # a burst: one message, the latest snapshot of each node
        bridge(NodeChanged(Node(id=f"n{i % 10:04d}", parent=None, metric=float(i))))
    assert [type(m) for m in posted] == [NodesChanged]
    nodes = bridge.take_nodes()
    assert len(nodes) == 10 and {n.metric for n in nodes} == set(map(float, range(90, 100)))
    posted.clear()
    for step in range(50):  # high-rate progress: every point kept, one tick
        bridge(
            Progress(
                "n0001", "cpu0", step * 0.1, step * 2.0, [(step, 3.0 - step / 100, 0.0)], ["x"]
            )
        )
    assert [type(m) for m in posted] == [ProgressTick]
    live = bridge.take_progress()["n0001"]
    assert len(live.points) == 50 and live.percent == 98.0 and live.new_lines == 50
    bridge(Progress("n0001", "cpu0", 5.0, 99.0, [], []))  # the next tick waits its turn
    assert len(posted) == 1
    await eventually(lambda: len(posted) == 2, what="the next tick, 0.05 s after the last")
    assert [type(m) for m in posted] == [ProgressTick, ProgressTick]
    bridge(Notice("budget reached", "warning"))
    assert isinstance(posted[-1], SearchNotice) and posted[-1].level == "warning"


def test_read_tail_treats_carriage_returns_as_lines(tmp_path: Path) -> None:
    log = tmp_path / "n0001.log"
    log.write_text(
        "".join(f"step {i:05d} | loss: {3 - i / 100:.2f}\r" for i in range(300))
        + "\nval_bpb: 1.0\n"
    )
    tail = read_tail(log, lines=5)
    assert tail.splitlines() == [
        *(f"step {i:05d} | loss: {3 - i / 100:.2f}" for i in range(296, 300)),
        "val_bpb: 1.0",
    ]
    assert read_tail(tmp_path / "missing.log") == ""


def test_workspace_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert workspace_for(None) is None  # no workspace here: the demo
    (tmp_path / "autoresearch.toml").write_text("")
    assert workspace_for(None) == tmp_path
    assert workspace_for("/elsewhere") == Path("/elsewhere")


def test_demo_agents_follow_the_api_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert [a.label for a in demo_agents()] == ["explorer@mutator"]
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert [a.label for a in demo_agents()] == ["architect@openai"]
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    assert [a.label for a in demo_agents()] == ["architect@anthropic"]


async def test_demo_workspace_is_prepared_in_a_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no workspace, the app comes up at once and prepares the demo in a worker
    (init_workspace is replaced by the synthetic target to keep this fast; it waits for the
    test to have seen the app up, showing the preparation, before it finishes)."""
    import autoresearch_tui.trainer.workspace as workspace_module

    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    calls: list[Path] = []
    seen = threading.Event()

    def fake_init(
        path: Path, preset: str = "cpu", log: Callable[[str], None] = print, **kw: object
    ) -> Path:
        calls.append(path)
        assert preset == "cpu"
        log("preparing data: 1/1")
        assert seen.wait(30), "the test never saw the app up while the demo was prepared"
        run = json.dumps(workspace_module.run_command())  # as the built-in trainer's
        return make_workspace(path, toml=TOML.replace('"python train.py"', run))

    monkeypatch.setattr(workspace_module, "init_workspace", fake_init)
    demo = tmp_path / "cache" / "demo"
    app = ResearchApp(
        lambda log: demo_search(demo, log), preparing="preparing the demo workspace …"
    )
    try:
        async with app.run_test(size=(120, 35)) as pilot:
            tree = app.tree_view
            await wait_for(pilot, lambda: "1/1" in tree.empty_text, what="the preparation's log")
            assert "preparing the demo" in tree.empty_text and not app.ready.is_set()
            seen.set()
            await wait_for(pilot, lambda: app.model.finished_count >= 2, 30, "the demo search")
            assert app.search is not None
            assert [p.spec.label for p in app.search.proposers] == ["explorer@mutator"]
            assert app.search.config.root == demo.resolve()
            await app.stop_search()
    finally:
        seen.set()
    assert calls == [demo] and (tmp_path / "cache" / "demo.ready").exists()
    # a second start reuses it (and resumes its run)
    prepare_demo(demo, print)
    assert calls == [demo]


async def test_new_nodes_keep_the_cursor_line_and_folds() -> None:
    """The viewer alone (no search): nodes arrive through the bridge as the scheduler
    sends them; the selected node stays on its screen line, folds stay folded."""
    from autoresearch_tui.app.bench.tui import synthetic_nodes

    nodes = synthetic_nodes(400, seed=5)
    app = ResearchApp(None, clock=lambda: 0.0)
    async with app.run_test(size=(120, 35)) as pilot:
        for n in nodes[:300]:
            app.bridge(NodeChanged(n))
        await pilot.pause()
        tree = app.tree_view
        folded = next(
            n for n in app.model.rows[5:] if app.model.kids.get(n) and app.model.hidden_below(n) < 4
        )
        tree.select(folded)
        await pilot.press("left")  # collapse it
        assert folded in app.model.collapsed
        await pilot.press("end", *["k"] * 10)
        above = tree.cursor_row
        assert above is not None
        selected, line = tree.cursor_id, above - round(tree.scroll_y)
        for n in nodes[300:]:  # one per tick, many above the cursor
            app.bridge(NodeChanged(n))
            await pilot.pause()
        row = tree.cursor_row
        assert tree.cursor_id == selected and row is not None and row > above  # rows came in above
        assert row - round(tree.scroll_y) == line
        assert folded in app.model.collapsed
        assert app.model.rows == [r for r in app.model.rows if app.model.row_of(r) is not None]
        assert len(app.model) == 400
