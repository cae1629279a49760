"""What the TUI and the CLI show, honestly: the counts and a rate only once it means
something (from the tree's timestamps when watching), a footer that offers only what can
be done, toasts that never cover the totals, a finished search that waits for `s`, and an
export of the base that says why there is nothing to export."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tui_helpers import FIXED_NOW, events, make_app, snapshot_app, wait_for

from autoresearch_tui.app.tui import ResearchApp
from autoresearch_tui.search.config import load_config
from autoresearch_tui.search.counts import Counts
from autoresearch_tui.search.runlock import release, take_runner_lock

SIZE = (120, 35)
CLI = [sys.executable, "-m", "autoresearch_tui.app.cli"]


def totals(app: ResearchApp) -> str:
    return app.main.slots_bar._totals.plain


def notes(app: ResearchApp) -> list[str]:
    return [n.message for n in app._notifications]


def offered(app: ResearchApp) -> dict[str, str]:
    """The footer's keys: key -> action, for the bindings it shows."""
    return {k: b.binding.action for k, b in app.screen.active_bindings.items() if b.binding.show}


async def test_the_rate_waits_for_two_experiments_and_a_minute(populated: Path) -> None:
    # the populated run: six experiments finished between FIXED_NOW - 6305 and - 3305
    app = snapshot_app(populated)  # this process started at FIXED_NOW - 3723: one since
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.ready.is_set() and len(app.model) == 9)
        await wait_for(pilot, lambda: "—/h" in totals(app), what="no rate yet")
        assert totals(app).startswith("finished: 6 experiments — press s")  # a cap of 0
    app = make_app(
        populated, max_experiments=0, clock=lambda: FIXED_NOW, started_at=FIXED_NOW - 7200
    )
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: " · 3.0/h · " in totals(app), what="6 in two hours")


async def test_watching_the_rate_is_the_runs_and_the_footer_offers_what_watching_allows(
    populated: Path,
) -> None:
    state = load_config(populated, check_clean=False).state_dir
    lock = take_runner_lock(state)  # this process "runs" the search: the app watches it
    before = events(populated)
    try:
        app = make_app(populated, clock=lambda: FIXED_NOW + 99_999)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.watching and len(app.model) == 9, what="watching")
            # six finished from the first start (FIXED_NOW - 7200) to the last end (- 3305)
            rate = 6 / ((7200 - 3305) / 3600)
            await wait_for(pilot, lambda: f" · {rate:.1f}/h · " in totals(app), what="the rate")
            keys = offered(app)
            assert {"e", "E", "g", "L", "q"} <= set(keys), keys
            assert not {"p", "b", "r", "space", "h", "s"} & set(keys), keys
            await pilot.press("p")
            await pilot.press("space")
            said = lambda: [n for n in notes(app) if n.startswith("read-only: pid")]  # noqa: E731
            await wait_for(pilot, lambda: len(said()) == 2, what="p and space refused")
            assert events(populated) == before  # the watcher wrote nothing
    finally:
        release(lock)


async def test_toasts_never_cover_the_totals(populated: Path) -> None:
    app = snapshot_app(populated)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: app.ready.is_set() and len(app.model) == 9)
        bar = app.main.slots_bar
        app.notify("a long notification " * 8, timeout=60)
        await wait_for(pilot, lambda: list(app.screen.query("Toast")), what="a toast")

        def toast_over_the_bar() -> bool:  # what is drawn on the bar's cells, as one sees it
            cells = (
                (x, y)
                for x in range(bar.region.right)
                for y in range(bar.region.y, bar.region.bottom)
            )
            return any(
                type(app.screen.get_widget_at(*c)[0]).__name__.startswith("Toast") for c in cells
            )

        # (A toast's region may reach past the rack's bottom when several overflow it; the
        # rack clips them, so the test reads the cells, not the regions.)
        await wait_for(
            pilot, lambda: not toast_over_the_bar(), what="the bar's cells free of toasts"
        )
        assert bar.region.height >= 2 and any(
            type(app.screen.get_widget_at(x, bar.region.y - 1)[0]).__name__.startswith("Toast")
            for x in range(bar.region.right)
        )  # the toasts sit right above the bar, not hidden away


async def test_a_finished_search_opens_waiting_and_s_goes_on(workspace: Path) -> None:
    first = make_app(workspace, max_experiments=2)
    async with first.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: first.main.finished, timeout=60, what="the cap")
        assert "finished: 2 of 2 experiments — press s for 10 more" in totals(first)
        assert offered(first)["s"] == "go_on"
    again = make_app(workspace, max_experiments=None)  # `autoresearch-tui DIR`: no flag
    async with again.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: again.ready.is_set() and again.main.finished)
        search = again.search
        assert search is not None and search.paused and search.max_experiments == 2
        line = "finished: 2 of 2 experiments — press s for 10 more"
        await wait_for(pilot, lambda: line in notes(again), what="the finished line's toast")
        assert Counts.of(search.tree).experiments == 2 and not search.busy  # nothing started
        assert offered(again)["s"] == "go_on" and "space" not in offered(again)  # s, not pause
        await pilot.press("s")
        await wait_for(pilot, lambda: search.started >= 3, timeout=60, what="one more")
        assert search.max_experiments == 12 and not search.paused
        assert events(workspace, "cap")[-1]["data"] == {"total": 12, "more": 10}
        # The ten run (synthetic runs are quick); at the new cap `s` is offered again.
        await wait_for(pilot, lambda: again.main.finished, timeout=60, what="the new cap")
        assert Counts.of(search.tree).experiments == 12 and offered(again)["s"] == "go_on"


def test_export_of_the_base_says_there_is_nothing_to_export(populated: Path) -> None:
    out = subprocess.run([*CLI, "export", str(populated), "n0000"], capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.count("\n") == 1
    assert "n0000 has no change to export (it is the base)" in out.stderr
    assert f"autoresearch-tui export {populated} best" in out.stderr
