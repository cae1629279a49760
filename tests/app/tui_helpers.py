"""Helpers for the TUI tests: the app on a real synthetic workspace with the real
scheduler, a pre-populated deterministic run for the snapshots, small Pilot helpers."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from synthetic import TRAIN_PY, make_workspace

from autoresearch_tui.agents.factory import build_proposers
from autoresearch_tui.app.tui import ResearchApp
from autoresearch_tui.search.config import load_config, state_db_path
from autoresearch_tui.search.gitops import GitWorkspace
from autoresearch_tui.search.model import Node
from autoresearch_tui.search.scheduler import Scheduler
from autoresearch_tui.search.slots import Slot
from autoresearch_tui.search.store import Store

if TYPE_CHECKING:
    from textual.pilot import Pilot

CPU2 = [Slot("cpu0", threads=1), Slot("cpu1", threads=1)]
FIXED_NOW = 1_767_225_600.0  # 2026-01-01 00:00 UTC: the frozen clock of the snapshots


def make_app(
    workspace: Path,
    *,
    max_experiments: int | None = 6,
    slots: list[Slot] | None = None,
    clock: Callable[[], float] = time.time,
    started_at: float | None = None,
    seed: int = 0,
    sandbox: str | None = None,
) -> ResearchApp:
    """The TUI on `workspace` with the mutator and the real scheduler (not yet running);
    `sandbox` overrides `[search] sandbox`."""

    def make_search(log: Callable[[str], None]) -> Scheduler:
        config = load_config(workspace, check_clean=False)
        if sandbox is not None:
            config = replace(config, contain=replace(config.contain, sandbox=sandbox))
        search = Scheduler(
            config,
            build_proposers(config.agents, config.root),
            slots=slots or CPU2,
            max_experiments=max_experiments,
            seed=seed,
            exit_when_idle=False,
        )
        if started_at is not None:
            search.started_at = started_at
        return search

    return ResearchApp(make_search, clock=clock)


async def wait_for(
    pilot: Pilot[int], predicate: Callable[[], object], timeout: float = 20.0, what: str = ""
) -> None:
    """Let the app (and the scheduler on its loop) run until `predicate()` holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        await pilot.pause(0.05)


async def eventually(predicate: Callable[[], object], timeout: float = 5.0, what: str = "") -> None:
    """Let the event loop run (no app needed) until `predicate()` holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        await asyncio.sleep(0.01)


async def settle(pilot: Pilot[int]) -> None:
    """Wait for the app's workers (diff, log, points loads) and a repaint."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def wait_db(db: Path, query: str, what: str, timeout: float) -> None:
    """Poll state.db, which another process writes, until `query` (one value) is true."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
                if con.execute(query).fetchone()[0]:
                    return
        except sqlite3.DatabaseError:  # not created yet, or its tables not yet
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} in {db}")
        time.sleep(0.1)


def events(workspace: Path, kind: str | None = None) -> list[dict]:
    """The run's events table, read through a second (read-only) connection."""
    store = Store(state_db_path(workspace), readonly=True)
    try:
        return store.events(kind)
    finally:
        store.close()


def stored_nodes(workspace: Path) -> dict[str, Node]:
    store = Store(state_db_path(workspace), readonly=True)
    try:
        return {n.id: n for n in store.load_nodes()}
    finally:
        store.close()


# -- a deterministic, pre-populated run for the snapshot tests -----------------------------
def _edit(source: str, *pairs: tuple[str, str]) -> str:
    for old, new in pairs:
        assert old in source, old
        source = source.replace(old, new)
    return source


def populate(ws: Path) -> Path:
    """Make a workspace with a finished run in state.db: fixed ids, run name, metrics,
    points, logs and real commits (set GIT_*_DATE for fixed hashes)."""
    ws = make_workspace(ws)
    db = state_db_path(ws)
    state = db.parent
    git = GitWorkspace(ws, state)
    base = git.head_commit()
    store = Store(db)
    store.set_meta("run", "snap")
    store.set_meta("base", base)
    store.set_meta("created_at", str(FIXED_NOW - 7200))
    store.set_meta("seed", "0")
    train = TRAIN_PY
    plan = [
        # id, parent, persona, description, edits, status, metric, extra
        (
            "n0001",
            "n0000",
            "base",
            "re-run of n0000 (seed 1)",
            None,
            "done",
            1.105,
            {"kind": "rerun", "seed": 1},
        ),
        (
            "n0002",
            "n0000",
            "explorer",
            "LR 0.04 -> 0.08",
            [("LR = 0.04", "LR = 0.08")],
            "done",
            1.055,
            {},
        ),
        (
            "n0003",
            "n0000",
            "architect",
            "DEPTH 8 -> 16",
            [("DEPTH = 8", "DEPTH = 16")],
            "done",
            1.0800,
            {"pruned": True},
        ),
        (
            "n0004",
            "n0002",
            "explorer",
            'ACT "relu" -> "gelu"',
            [("LR = 0.04", "LR = 0.08"), ('ACT = "relu"', 'ACT = "gelu"')],
            "done",
            1.035,
            {
                "boost": 3.0,
                "rationale": "gelu is smoother near zero; the bowl's minimum is at gelu.",
            },
        ),
        (
            "n0005",
            "n0002",
            "optimizer",
            "USE_BIAS False -> True",
            [("LR = 0.04", "LR = 0.08"), ("USE_BIAS = False", "USE_BIAS = True")],
            "crashed",
            None,
            {"reason": "RuntimeError: synthetic crash"},
        ),
        (
            "n0006",
            "n0003",
            "architect",
            "WARMUP 0.1 -> 0.2",
            [("DEPTH = 8", "DEPTH = 16"), ("WARMUP = 0.1", "WARMUP = 0.2")],
            "done",
            1.07,
            {},
        ),
        (
            "n0007",
            "n0004",
            "explorer",
            "re-run of n0004 (seed 1)",
            None,
            "done",
            1.0352,
            {"kind": "rerun", "seed": 1},
        ),
        (
            "n0008",
            "n0004",
            "explorer",
            "DEPTH 8 -> 12",
            [
                ("LR = 0.04", "LR = 0.08"),
                ('ACT = "relu"', 'ACT = "gelu"'),
                ("DEPTH = 8", "DEPTH = 12"),
            ],
            "ready",
            None,
            {},
        ),
    ]
    commits = {"n0000": base}
    root = Node(id="n0000", parent=None, status="done", kind="root", persona="base",
                description="base commit", branch="autoresearch/snap/n0000", commit=base,
                metric=1.105, created_at=FIXED_NOW - 7200, started_at=FIXED_NOW - 7200,
                finished_at=FIXED_NOW - 7100)  # fmt: skip
    store.save_node(root)
    for i, (nid, parent, persona, desc, edits, status, metric, extra) in enumerate(plan):
        if edits is None:
            commit = commits[parent]
        else:
            source = _edit(train, *edits)
            commit = git.commit_files(
                base, {"train.py": source}, desc, f"autoresearch/snap/{nid}", persona
            )
        commits[nid] = commit
        t0 = FIXED_NOW - 7000 + i * 600
        finished = status in ("done", "crashed")
        node = Node(
            id=nid, parent=parent, status=status, kind=extra.pop("kind", "improve"),
            persona=persona, backend="mutator", description=desc, branch=f"autoresearch/snap/{nid}",
            commit=commit, metric=metric, created_at=t0, started_at=t0 if finished else None,
            finished_at=t0 + 95 if finished else None, **extra,
        )  # fmt: skip
        store.save_node(node)
        if finished:
            final = metric if metric is not None else 1.2
            store.add_points(
                nid,
                [
                    (s, final + (5 - s) * 0.3, s * 10.0, (s + 1) * 20.0)
                    for s in range(5 if metric else 3)
                ],
            )
            logs = state / "logs"
            logs.mkdir(parents=True, exist_ok=True)
            lines = [
                f"step {s:05d} ({(s + 1) * 20:.1f}%) | loss: {final + (5 - s) * 0.3:.6f}"
                for s in range(5)
            ]
            tail = (
                ["---", f"val_bpb:          {metric:.6f}"]
                if metric
                else ["RuntimeError: synthetic crash"]
            )
            (logs / f"{nid}.log").write_text("\n".join(lines + tail) + "\n")
    store.add_points(
        "n0000", [(s, 1.105 + (5 - s) * 0.3, s * 10.0, (s + 1) * 20.0) for s in range(5)]
    )
    store.add_event("start", "", run="snap", base=base)
    store.add_event("prune", "n0003")
    store.add_event("boost", "n0004", boost=3.0)
    store.close()
    return ws


def snapshot_app(ws: Path) -> ResearchApp:
    """The app on the populated run, with the clock frozen and nothing left to start; no
    sandbox, so the title is the same on a machine where bwrap cannot run."""
    return make_app(
        ws, max_experiments=0, clock=lambda: FIXED_NOW, started_at=FIXED_NOW - 3723, sandbox="none"
    )
