"""One number per node, everywhere (issue 16): for one seeded run in a real workspace (real
git commits, a real state.db) with calibration runs, a confirmation re-run, a crash, a
merge and an unconfirmed best, every surface shows the same value, Δ, verdict and counts:
the TUI (tree rows, node pane, status bar, read through Pilot), `status` and `status
--json`, the report (report.md and the plot's lines), and a prompt built by the real
Proposing and memory code. The expected figures are worked out by hand below, not by
search/values.py."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from synthetic import TRAIN_PY, make_workspace
from tui_helpers import FIXED_NOW, make_app, settle, wait_for

from autoresearch_tui.agents.factory import build_proposers
from autoresearch_tui.agents.prompt import build_prompt
from autoresearch_tui.app.report import Facts, best_so_far, finished_in_order, measured_points
from autoresearch_tui.search.config import load_config, state_db_path
from autoresearch_tui.search.gitops import GitWorkspace
from autoresearch_tui.search.model import Node
from autoresearch_tui.search.scheduler import Scheduler
from autoresearch_tui.search.snapshot import load_snapshot
from autoresearch_tui.search.store import Store

CLI = [sys.executable, "-m", "autoresearch_tui.app.cli"]
CAP = 7  # the experiments in the seeded run: nothing more starts


@dataclass(frozen=True)
class Seed:
    """One node of the seeded run and what every surface must say about it."""

    persona: str
    parent: str | None
    metric: float | None  # its own run
    kind: str = "improve"
    edits: tuple[tuple[str, str], ...] = ()
    merged: str = ""  # a merge's second parent
    # expected: value (the mean of its runs), runs, Δ vs reference, word, reference, verdict
    value: str = ""
    runs: int = 0
    delta: str = ""
    word: str = ""
    ref: str = ""
    verdict: str = ""
    sample: str = ""  # a re-run: "run 2 of n0000"


# The base runs 1.100, 1.104, 1.096 (mean 1.100); n0003 runs 1.050 and 1.052 (mean 1.051).
# Pooled sd = sqrt((0.000032 + 0.000002) / 3) = 0.00337, so the spread is 0.0067.
RUN = {
    "n0000": Seed("base", None, 1.100, "root", value="1.1000", runs=3, verdict="base"),
    "n0001": Seed("base", "n0000", 1.104, "rerun", sample="run 2 of n0000"),
    "n0002": Seed("base", "n0000", 1.096, "rerun", sample="run 3 of n0000"),
    "n0003": Seed("explorer", "n0000", 1.050, edits=(("LR = 0.04", "LR = 0.08"),),
                  value="1.0510", runs=2, delta="-0.0490", word="better", ref="n0000",
                  verdict="confirmed"),
    "n0004": Seed("explorer", "n0003", 1.052, "rerun", sample="run 2 of n0003"),
    # vs its parent's mean 1.051 (its first run, 1.050, would make it look worse)
    "n0005": Seed("explorer", "n0003", 1.049, edits=(("DEPTH = 8", "DEPTH = 9"),),
                  value="1.0490", runs=1, delta="-0.0020", word="better", ref="n0003",
                  verdict="within noise"),
    "n0006": Seed("optimizer", "n0000", None, edits=(("USE_BIAS = False", "USE_BIAS = True"),),
                  verdict="unmeasured"),
    "n0007": Seed("optimizer", "n0003", 1.080, edits=(("WARMUP = 0.1", "WARMUP = 0.5"),),
                  value="1.0800", runs=1, delta="+0.0290", word="worse", ref="n0003",
                  verdict="worse"),
    "n0008": Seed("architect", "n0000", 1.070, edits=(("ACT = \"relu\"", "ACT = \"gelu\""),),
                  value="1.0700", runs=1, delta="-0.0300", word="better", ref="n0000",
                  verdict="unconfirmed"),
    # the best: a merge, measured against its better parent (n0003), run once
    "n0009": Seed("merger", "n0003", 1.020, "merge", merged="n0008",
                  edits=(("ACT = \"relu\"", "ACT = \"gelu\""),), value="1.0200", runs=1,
                  delta="-0.0310", word="better", ref="n0003", verdict="unconfirmed"),
}  # fmt: skip
BEST = "n0009"
HEADLINE = "best n0009 1.0200 (1 run) · Δ vs base -0.0800 (-7.3%) better · unconfirmed"
STATUS_BAR_BEST = "best n0009 1.0200, Δ vs base -0.0800 better?"
COUNTS = "7 of 7 experiments (1 re-run) + 3 base runs"
MARKS = {"confirmed": "✓", "unconfirmed": "?", "within noise": "≈"}


def value_text(s: Seed) -> str:
    """The one text form of a measured node, as the README states it."""
    runs = f"mean of {s.runs}" if s.runs > 1 else "1 run"
    change = f", Δ {s.delta} {s.word} vs {s.ref}" if s.delta else ""
    return f"{s.value} ({runs}){change}: {s.verdict}"


def sample_text(nid: str) -> str:
    s = RUN[nid]
    return f"{s.metric:.4f} ({s.sample})"


def row_text(s: Seed) -> str:
    """The tree row's narrow form: value×runs, Δ with its word, the verdict's mark."""
    runs = f"×{s.runs}" if s.runs > 1 else ""
    change = f" {s.delta} {s.word}" if s.delta else ""
    return f"{s.value}{runs}{change}{MARKS.get(s.verdict, '')}"


def cells(s: Seed) -> str:
    """The report's table cells: value | runs | Δ with word and reference | verdict."""
    change = f"{s.delta} {s.word} vs {s.ref}" if s.delta else "-"
    return f"{s.value} | {s.runs} | {change} | {s.verdict}"


def measured() -> list[str]:
    return [nid for nid, s in RUN.items() if s.value]


def seed_run(ws: Path) -> Path:
    """Write the run through the Store, each node with a real commit."""
    make_workspace(ws)
    db = state_db_path(ws)
    git = GitWorkspace(ws, db.parent)
    base = git.head_commit()
    store = Store(db)
    for key, value in (("run", "seeded"), ("base", base), ("seed", "0")):
        store.set_meta(key, value)
    store.set_meta("created_at", str(FIXED_NOW - 7200))
    commits: dict[str, str] = {}
    logs = db.parent / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for i, (nid, s) in enumerate(RUN.items()):
        if s.kind == "rerun" or s.parent is None:
            commit = commits[s.parent] if s.parent else base
        else:
            source = TRAIN_PY
            lineage = [*RUN[s.parent].edits, *s.edits] if s.parent != "n0000" else s.edits
            for old, new in lineage:
                source = source.replace(old, new) if old in source else source
            commit = git.commit_files(
                commits[s.parent], {"train.py": source}, f"{nid}: change",
                f"autoresearch/seeded/{nid}", s.persona,
                other_parents=[commits[s.merged]] if s.merged else [],
            )  # fmt: skip
        commits[nid] = commit
        start = FIXED_NOW - 7000 + 300 * i
        node = Node(
            id=nid, parent=s.parent, status="done" if s.metric is not None else "crashed",
            kind=s.kind, persona=s.persona, backend="mutator",  # type: ignore[arg-type]
            description=" ".join(f"{o} -> {n}" for o, n in s.edits) or f"re-run of {s.parent}",
            branch=f"autoresearch/seeded/{nid}", commit=commit, metric=s.metric,
            reason="" if s.metric is not None else "RuntimeError: synthetic crash",
            seed=i, created_at=start, started_at=start, finished_at=start + 60,
            other_parents=[s.merged] if s.merged else [],
        )  # fmt: skip
        store.save_node(node)
        tail = f"val_bpb:          {s.metric:.6f}" if s.metric is not None else "RuntimeError"
        (logs / f"{nid}.log").write_text(f"step 00000 (100.0%) | loss: 2.0\n---\n{tail}\n")
    store.add_event("start", "", run="seeded", base=base)
    store.close()
    return ws


@pytest.fixture
def seeded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE"):
        monkeypatch.setenv(var, "2026-01-01T00:00:00+0000")
    return seed_run(tmp_path / "ws")


def cli(*args: str, stream: str = "stdout") -> str:
    env = {**os.environ, "COLUMNS": "300"}  # one line per node, however long
    out = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    return str(getattr(out, stream))


def check_tui(ws: Path) -> None:
    """Tree rows, the node pane of every node, the status bar: read through Pilot."""
    app = make_app(ws, max_experiments=CAP, clock=lambda: FIXED_NOW, sandbox="none")

    async def drive() -> None:
        async with app.run_test(size=(160, 50)) as pilot:
            await wait_for(pilot, lambda: app.ready.is_set() and len(app.model) == len(RUN))
            await settle(pilot)
            for nid, s in RUN.items():
                row = app.tree_view.label(nid).plain.rstrip()
                own = sample_text(nid) if s.sample else row_text(s) if s.value else "crashed"
                assert row.endswith(own + (" ★" if nid == BEST else "")), (nid, row)
                app.tree_view.select(nid)
                await settle(pilot)
                await wait_for(pilot, lambda: not app.main.selection_pending, what="the pane")
                pane = app.query_one("#node-info").render().plain  # type: ignore[attr-defined]
                if s.sample:
                    of = RUN[s.parent or ""]
                    runs = f"mean of {of.runs}" if of.runs > 1 else "1 run"
                    assert f"val_bpb {sample_text(nid)} · {s.parent}: {of.value} ({runs})" in pane
                    assert "Δ" not in pane, pane  # a sample, never a change
                elif s.value:
                    assert f"val_bpb {value_text(s)}" in pane, (nid, pane)
                else:
                    assert "crashed: RuntimeError: synthetic crash" in pane
            bar = app.main.slots_bar.render().plain.splitlines()[-1]
            # the counts as search/counts.py words them (a finished search says so first)
            assert "7 of 7 experiments" in bar and f" · {STATUS_BAR_BEST} · " in bar, bar
            await pilot.press("q")

    asyncio.run(drive())


def check_status(ws: Path) -> None:
    text = cli("status", str(ws))
    for nid, s in RUN.items():
        shown = sample_text(nid) if s.sample else value_text(s) if s.value else "-"
        assert f"{nid} {s.persona} {shown}" in text, (nid, text)
    assert COUNTS in text and f"{HEADLINE} (val_bpb)" in text
    data = json.loads(cli("status", str(ws), "--json"))
    nodes = {n["id"]: n for n in data["nodes"]}
    for nid, s in RUN.items():
        n = nodes[nid]
        assert n["verdict"] == ("sample" if s.sample else s.verdict)
        if s.value:
            assert f"{n['value']:.4f}" == s.value and n["runs"] == s.runs
            assert n["text"] == value_text(s) and n["metric_mean"] == n["value"]
        if s.delta:
            assert f"{n['delta']:+.4f}" == s.delta and n["delta_vs"] == s.ref
            assert n["better"] is (s.word == "better") and n["delta_parent"] == n["delta"]
        else:
            assert n["delta"] is None and n["delta_parent"] is None
    assert data["best"]["id"] == BEST and data["confirmed_best"]["id"] == "n0003"
    said = cli("export", str(ws), "best", "-o", str(ws.parent / "best.patch"), stream="stderr")
    best = value_text(RUN[BEST])
    assert f"{BEST} is not a confirmed gain: {best} (" in said, said
    assert f"({BEST}, val_bpb {best})" in said, said
    counts = data["counts"]
    assert (data["experiments"], counts["reruns"], counts["base_runs"], counts["cap"]) == (
        7, 1, 3, CAP,
    )  # fmt: skip


def check_report(ws: Path, tmp: Path) -> None:
    cli("report", str(ws), "-o", str(tmp))
    md = (tmp / "report.md").read_text()
    assert f"- **{HEADLINE}** — " in md and f"**{COUNTS}**" in md
    assert "- **base** 1.1000 (mean of 3): 1.1000, 1.1040, 1.0960" in md
    assert f"| 1 | n0003 | n0000 | explorer | {cells(RUN['n0003'])} |" in md  # confirmed gains
    for nid in ("n0000", "n0003", "n0009"):  # the best's lineage
        assert f"| {nid} | {RUN[nid].persona} | {cells(RUN[nid])} |" in md, nid
    assert f"| n0009 | n0003 + n0008 | {cells(RUN['n0009'])} |" in md  # merges
    for nid in measured():  # top nodes
        if nid != "n0000":
            assert f"| {nid} | {RUN[nid].persona} | {cells(RUN[nid])} |" in md, nid
    # the plot: the best-so-far line ends at the best's value, as the headline says
    snap = load_snapshot(load_config(ws, check_clean=False))
    order = finished_in_order(snap)
    _, ys = best_so_far(measured_points(order), len(order) - 1, "min", Facts.of(snap).values)
    assert f"{ys[-1]:.4f}" == RUN[BEST].value


def check_prompt(ws: Path) -> None:
    """A prompt for a child of the best, built by the real Proposing and memory code."""
    config = load_config(ws, check_clean=False)
    s = Scheduler(config, build_proposers(config.agents, config.root), max_experiments=CAP)
    asyncio.run(s.run())  # opens the run; the cap is reached, so nothing starts
    request = s.parts().proposing.request(Node(id="n9999", parent=BEST), {"train.py": ""}, None)
    lines = build_prompt(request, "P", "B").task.splitlines()
    results = [line for line in lines if line.startswith("- n")]
    assert "- n0000 base: 1.1000 (mean of 3)" in results
    for nid in measured():
        if nid != "n0000":
            assert any(
                line.startswith(f"- {nid} [{RUN[nid].persona}]")
                and line.endswith(f": {value_text(RUN[nid])}")
                for line in results
            ), (nid, results)
    assert any(line.startswith("- n0006 [optimizer]") and "crashed: " in line for line in results)
    assert not any(line.startswith(("- n0001", "- n0002", "- n0004")) for line in results)
    assert any(line.startswith("Best so far (confirmed): n0003 val_bpb 1.0510 (mean of 2) — ")
               for line in lines)  # fmt: skip
    assert any(
        line.startswith(
            "Better but not confirmed: n0009 val_bpb 1.0200 (1 run), Δ -0.0310 better vs "
            "n0003 (unconfirmed: "
        )
        for line in lines
    )


def test_every_surface_shows_the_same_value_delta_verdict_and_counts(
    seeded: Path, tmp_path: Path
) -> None:
    check_tui(seeded)
    check_status(seeded)
    check_report(seeded, tmp_path / "report")
    check_prompt(seeded)
