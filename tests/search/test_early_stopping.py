"""Early stopping in the running search: the real scheduler, real subprocess runs printing
`step N (p%) | loss: X`, a real git repository and state.db (search/early_stopping.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from curves import BAD, CURVES_TOML, GOOD, SCHEDULE, SLOTS, AfterNoise, curves_workspace
from synthetic import ScriptedProposer

from autoresearch_tui.search.config import ConfigError, load_config, state_db_path
from autoresearch_tui.search.early_stop import progress_points
from autoresearch_tui.search.early_stopping import (
    comparable_parent,
    curve_noise,
    early_stops,
    not_judged,
    run_to_end,
)
from autoresearch_tui.search.model import Node
from autoresearch_tui.search.scheduler import Scheduler
from autoresearch_tui.search.store import Store
from autoresearch_tui.search.tree import Tree


def searched(ws: Path, script: list, max_experiments: int) -> Scheduler:
    proposer = AfterNoise(script)
    search = Scheduler(load_config(ws, check_clean=False), [proposer], slots=SLOTS,
                       max_experiments=max_experiments, seed=1)  # fmt: skip
    proposer.search = search
    asyncio.run(search.run())
    return search


def by_change(search: Scheduler, change: list[tuple[str, str]]) -> Node:
    return next(n for n in search.tree if n.description.startswith(change[0][0]))


def test_a_losing_run_is_stopped_a_winning_and_an_exempt_one_run_to_the_end(
    tmp_path: Path,
) -> None:
    ws = curves_workspace(tmp_path / "ws")
    search = searched(ws, [BAD, GOOD, SCHEDULE], 3)
    bad, good, schedule = (by_change(search, c) for c in (BAD, GOOD, SCHEDULE))
    assert bad.status == "stopped" and bad.metric is None and not bad.has_metric
    assert bad.reason.startswith("stopped at ") and "vs parent" in bad.reason
    assert good.status == "done" and schedule.status == "done"  # worse, but exempt
    parent = search.tree[bad.parent or ""]
    assert bad.run_seconds is not None and parent.run_seconds is not None
    assert bad.run_seconds < parent.run_seconds  # the slot was freed early
    # Its partial curve stays; the log says why it ended.
    store = Store(state_db_path(ws), readonly=True)
    rows = store.point_rows(bad.id)
    assert rows and 40.0 <= max(r[3] for r in rows) < 100.0
    # Each point is stored with the progress it was printed with, however they were batched.
    assert [r[3] for r in store.point_rows(good.id)] == [5.0 * (i + 1) for i in range(20)]
    log = (ws / ".autoresearch" / "logs" / f"{bad.id}.log").read_text()
    assert "(early stop)" in log and "val_bpb" not in log
    # Never a value, a best, a parent or a noise sample; the run counts as one that ran.
    assert search.tree.best() is good
    assert all(n.parent != bad.id for n in search.tree)
    assert all(bad.id not in group for group in search.tree.noise_groups())
    assert search.started == 3
    stops = early_stops(search.tree)
    assert stops.runs == 1 and stops.saved_s == pytest.approx(parent.run_seconds - bad.run_seconds)
    notes = store.events("finished")
    assert any(e["node"] == bad.id and e["data"]["status"] == "stopped" for e in notes)


def test_off_by_default_nothing_is_stopped(tmp_path: Path) -> None:
    ws = curves_workspace(tmp_path / "ws", CURVES_TOML.replace("early_stop = true\n", ""))
    search = searched(ws, [BAD], 1)
    assert by_change(search, BAD).status == "done"


def test_r_on_a_stopped_node_runs_it_to_the_end_with_no_early_stop(tmp_path: Path) -> None:
    ws = curves_workspace(tmp_path / "ws")
    search = searched(ws, [BAD], 1)
    bad = by_change(search, BAD)
    assert bad.status == "stopped"

    async def again() -> Scheduler:
        config = load_config(ws, check_clean=False)
        resumed = Scheduler(config, [ScriptedProposer([])], slots=SLOTS, max_experiments=1)
        await resumed.open()
        assert resumed.tree[bad.id].status == "stopped"  # reopened from state.db
        await run_to_end(resumed.parts().ctx, bad.id)
        assert resumed.tree[bad.id].full_run and resumed.tree[bad.id].status == "ready"
        await resumed.run()
        return resumed

    resumed = asyncio.run(again())
    node = resumed.tree[bad.id]
    assert node.status == "done" and node.has_metric and node.full_run
    assert len(Store(state_db_path(ws), readonly=True).point_rows(bad.id)) == 20
    assert early_stops(resumed.tree).runs == 0


def test_config_reads_the_settings_and_names_the_fix(tmp_path: Path) -> None:
    ws = curves_workspace(tmp_path / "ws")
    config = load_config(ws, check_clean=False)
    assert config.early_stop.enabled and config.early_stop.after == 0.4
    assert config.early_stop.margin == 1.0
    toml = ws / "autoresearch.toml"
    for line, words in [
        ("early_stop = 1", "early_stop must be true or false"),
        ("early_stop_after = 1.5", "early_stop_after must be a fraction"),
        ('early_stop_margin = "big"', "early_stop_margin must be a number"),
        ("early_stop_margin = -1", "like 1.0"),
    ]:
        toml.write_text(CURVES_TOML.replace("early_stop = true", line))
        with pytest.raises(ConfigError, match=words) as err:
            load_config(ws, check_clean=False)
        assert "\n" not in str(err.value)


# -- the parts, on trees made by hand ------------------------------------------------------
def _done(node_id: str, parent: str | None, metric: float, kind: str = "improve") -> Node:
    return Node(node_id, parent, status="done", kind=kind, metric=metric,  # type: ignore[arg-type]
                started_at=0.0, finished_at=100.0)  # fmt: skip


def test_who_is_never_judged() -> None:
    from autoresearch_tui.search.early_config import EarlyStopConfig

    tree = Tree("min", [_done("n0000", None, 1.0, "root"), _done("n0001", "n0000", 1.1, "rerun")])
    child = Node("n0002", "n0000", status="ready")
    rerun = Node("n0003", "n0000", status="ready", kind="rerun")
    orphan = Node("n0005", "n0004", status="ready")
    tree.add(Node("n0004", "n0000", status="crashed"))
    for node in (child, rerun, orphan):
        tree.add(node)
    on = EarlyStopConfig(enabled=True)
    assert not_judged(tree, child, EarlyStopConfig()) == "early stopping is off"
    assert not_judged(tree, child, on) == ""
    assert not_judged(tree, tree["n0000"], on) == "the base"
    assert not_judged(tree, rerun, on) == "a re-run"
    assert not_judged(tree, orphan, on) == "no measured parent"  # a debug child, say
    child.full_run = True
    assert not_judged(tree, child, on) == "run to the end on request"


def test_a_merge_is_judged_against_its_better_measured_parent() -> None:
    tree = Tree("min", [_done("n0000", None, 1.0, "root")])
    tree.add(_done("n0001", "n0000", 0.9))
    tree.add(_done("n0002", "n0000", 0.8))
    merge = Node("n0003", "n0001", kind="merge", other_parents=["n0002"])
    tree.add(merge)
    assert comparable_parent(tree, merge) is tree["n0002"]


def test_curve_noise_is_the_pooled_sd_at_matched_progress() -> None:
    line = [(p / 20, 2.0 - p / 20) for p in range(1, 21)]
    shifted = [(p, loss + 0.1) for p, loss in line]
    assert curve_noise([[line, shifted]], 0.4) == pytest.approx(0.1 / 2**0.5)
    assert curve_noise([[line]], 0.4) is None  # one run of a commit: no spread
    rows = [(i, 1.0, i * 0.5, 0.0) for i in range(4)]  # no (p%): elapsed over the budget
    assert progress_points(rows, 2.0)[-1] == (0.75, 1.0)
