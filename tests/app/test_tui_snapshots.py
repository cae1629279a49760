"""SVG snapshots (pytest-textual-snapshot) at 120x35 of the main screen, the help screen
and a pruned/boosted tree. Deterministic: a pre-populated run (fixed ids, run name,
metrics, points, logs, commit dates), a frozen clock, and nothing left for the scheduler
to start (max_experiments=0). Update with `pytest tests/app --snapshot-update`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tui_helpers import FIXED_NOW, settle, snapshot_app, wait_for

from autoresearch_tui.search.events import NodeChanged, Progress
from autoresearch_tui.search.model import Node

if TYPE_CHECKING:
    from textual.pilot import Pilot

SnapCompare = Callable[..., bool]  # pytest-textual-snapshot's fixture

SIZE = (120, 35)


async def _ready(pilot: Pilot[int]) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: app.ready.is_set() and len(app.model) == 9, what="the run")
    app.clear_notifications()
    await wait_for(pilot, lambda: not app.screen.query("Toast"), what="the toasts to go")
    await settle(pilot)


async def _selection_loaded(pilot: Pilot[int]) -> None:
    """After a cursor move: wait out the selection's debounce, then its loads."""
    main = pilot.app.main
    await settle(pilot)  # the Highlighted message: the load is scheduled
    await wait_for(pilot, lambda: not main.selection_pending, what="the selection's loads")
    await settle(pilot)


def test_main_screen(populated: Path, snap_compare: SnapCompare) -> None:
    """The best node selected: info, loss chart vs parent, diff, log; one slot running."""

    async def run_before(pilot: Pilot[int]) -> None:
        await _ready(pilot)
        app = pilot.app
        # a live experiment on cpu0, as the scheduler would report it
        running = Node(
            id="n0009", parent="n0004", status="running", persona="explorer",
            backend="mutator", description="WARMUP 0.1 -> 0.15", slot="cpu0",
            created_at=FIXED_NOW - 60, started_at=FIXED_NOW - 42,
        )  # fmt: skip
        app.bridge(NodeChanged(running))
        app.bridge(Progress("n0009", "cpu0", 42.0, 35.0, [(0, 2.6, 1.0), (1, 2.3, 2.0)], []))
        await pilot.pause()
        app.tree_view.select("n0004")
        await _selection_loaded(pilot)

    assert snap_compare(snapshot_app(populated), terminal_size=SIZE, run_before=run_before)


def test_help_screen(populated: Path, snap_compare: SnapCompare) -> None:
    async def run_before(pilot: Pilot[int]) -> None:
        await _ready(pilot)
        pilot.app.tree_view.select("n0004")  # the chart behind the help: drawn and loaded
        await _selection_loaded(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(snapshot_app(populated), terminal_size=SIZE, run_before=run_before)


def test_pruned_and_boosted_tree(populated: Path, snap_compare: SnapCompare) -> None:
    """n0003's subtree pruned (dimmed, ✂), n0004 boosted (▲3) and best (★); the cursor on
    the pruned node; a crashed and a queued node."""

    async def run_before(pilot: Pilot[int]) -> None:
        await _ready(pilot)
        # Nothing runs and the cap (0) is reached: opened paused, the footer offers `s`.
        await wait_for(pilot, lambda: any(k.key == "s" for k in pilot.app.query("FooterKey")),
                       what="the footer to offer s (10 more)")  # fmt: skip
        pilot.app.tree_view.select("n0003")
        await _selection_loaded(pilot)

    assert snap_compare(snapshot_app(populated), terminal_size=SIZE, run_before=run_before)
