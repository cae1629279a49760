"""The real program end to end: headless runs, status, export, Ctrl-C and kill -9."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from synthetic import TOML, alive, git, marked_pids, true_metric
from tui_helpers import wait_db

from autoresearch_tui.agents.mutator import Mutator
from autoresearch_tui.agents.proposer import AgentSpec
from autoresearch_tui.search.config import load_config, state_db_path
from autoresearch_tui.search.scheduler import Scheduler
from autoresearch_tui.search.slots import Slot

CLI = [sys.executable, "-m", "autoresearch_tui.app.cli"]


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)
    if check:
        assert out.returncode == 0, out.stderr
    return out


def slow_workspace(ws: Path, hang_s: float) -> None:
    """Every run sleeps `hang_s`, and the runner forks python under bash (a grandchild)."""
    train = ws / "train.py"
    train.write_text(train.read_text().replace("hang_s=0.0", f"hang_s={hang_s}"))
    (ws / "autoresearch.toml").write_text(
        TOML.replace('"python train.py"', '"python train.py; true"')
    )
    git(ws, "commit", "-qam", "slow runs")


def experiment_pids(run: str) -> list[int]:
    """Live processes started by the engine for `run` (found by their environment)."""
    return marked_pids(f"AR_RUN={run}")


def test_headless_run_status_and_export_reproduce_the_metric(
    workspace: Path, tmp_path: Path
) -> None:
    out = cli("run", str(workspace), "--headless", "--agents", "explorer@mutator",
              "--max-experiments", "15", "--slots", "2", "--seed", "4")  # fmt: skip
    lines = out.stdout.splitlines()
    header = next(line for line in lines if line.startswith("run "))  # after a sandbox warning
    assert "policy best-first" in header
    finished = [line for line in lines if line.startswith("n0") and " <- n" in line]
    assert len(finished) >= 15
    for line in (line for line in finished if "val_bpb" in line):  # search/values.py's text
        if "(run " in line:  # a calibration run or re-run: a sample, never a change
            assert re.search(r"val_bpb [\d.]+ \(run \d+ of n\d{4}\)", line), line
            assert "Δ" not in line, line  # (it may finish before the base: no best yet)
            continue
        assert "| best n" in line, line
        if line.startswith("n0000"):
            assert re.search(r"val_bpb [\d.]+ \((1 run|mean of \d+)\): base ", line), line
        else:
            assert re.search(r"\), Δ [-+][\d.]+ (better|worse|equal) vs n\d{4}: ", line), line
    assert "experiments" in lines[-3] and "export it" in lines[-1]

    status = json.loads(cli("status", str(workspace), "--json").stdout)
    assert status["base"]["commit"] == git(workspace, "rev-parse", "HEAD").strip()
    best = status["best"]
    assert best["metric"] == min(n["metric"] for n in status["nodes"] if n["metric"] is not None)
    for field in ("id", "parent", "status", "metric", "persona", "description", "pruned", "boost"):
        assert all(field in n for n in status["nodes"])
    assert "n0000" in cli("status", str(workspace)).stdout

    patch = tmp_path / "best.patch"
    cli("export", str(workspace), "best", "-o", str(patch))
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(workspace), str(clone)], check=True)
    subprocess.run(["git", "apply", str(patch)], cwd=clone, check=True)
    run = subprocess.run([sys.executable, "train.py"], cwd=clone, capture_output=True, text=True)
    metric = float(run.stdout.strip().splitlines()[-2].split()[-1])
    assert metric == best["metric"]
    # Independently: the formula of the patched constants.
    ns: dict = {}
    exec(
        "\n".join(line for line in (clone / "train.py").read_text().splitlines()
                  if line.split(" ")[0] in ("LR", "DEPTH", "WARMUP", "USE_BIAS", "ACT")),
        ns,
    )  # fmt: skip
    assert (
        abs(true_metric(ns["LR"], ns["DEPTH"], ns["WARMUP"], ns["USE_BIAS"], ns["ACT"]) - metric)
        < 1e-6
    )

    series = cli("export", str(workspace), best["id"], "--series").stdout
    depth = int(
        git(
            workspace,
            "rev-list",
            "--count",
            "--first-parent",  # a merge: one mail
            f"{status['base']['commit']}..{best['commit']}",
        )
    )
    assert series.count("\nSubject: [PATCH") == depth >= 1
    am = tmp_path / "am"
    subprocess.run(["git", "clone", "-q", str(workspace), str(am)], check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "am", "-q"], input=series,
                   text=True, cwd=am, check=True)  # fmt: skip
    assert (am / "train.py").read_text() == (clone / "train.py").read_text()

    bad = cli("export", str(workspace), "n9999", check=False)
    assert bad.returncode == 2 and "no node n9999" in bad.stderr


def test_a_damaged_state_db_is_a_one_line_error(workspace: Path) -> None:
    db = state_db_path(workspace)
    db.parent.mkdir()
    db.write_bytes(b"not a database, e.g. a half-copied file" * 200)
    out = cli("run", str(workspace), "--headless", "--max-experiments", "1", check=False)
    assert out.returncode == 1 and out.stderr.count("\n") == 1, out.stderr
    assert "cannot open" in out.stderr and "to start a new run" in out.stderr
    for command in ("status", "export", "report"):
        out = cli(command, str(workspace), check=False)
        assert out.returncode == 1 and out.stderr.count("\n") == 1, out.stderr
        assert "cannot read" in out.stderr and "file is not a database" in out.stderr


def test_status_before_any_run_says_what_to_do(workspace: Path) -> None:
    out = cli("status", str(workspace), check=False)
    assert out.returncode == 2 and "no search has run here yet" in out.stderr


def test_ctrl_c_stops_cleanly_and_requeues(workspace: Path) -> None:
    slow_workspace(workspace, 20.0)
    proc = subprocess.Popen([*CLI, "run", str(workspace), "--headless", "--slots", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    db = state_db_path(workspace)
    try:
        wait_db(db, "select count(*) >= 2 from nodes where status='running' and pid > 0",
                "two experiments running at once", timeout=30)  # fmt: skip
    except AssertionError:
        proc.kill()
        raise
    run = sqlite3.connect(db).execute("select value from meta where key='run'").fetchone()[0]
    assert experiment_pids(run)
    second = cli("run", str(workspace), "--headless", check=False)  # one runner per workspace
    assert second.returncode == 2 and second.stdout == ""
    assert second.stderr.startswith("autoresearch-tui: error: another autoresearch-tui (pid ")
    assert second.stderr.count("\n") == 1
    assert len(experiment_pids(run)) >= 2  # the first one's experiments were not touched
    assert f"runner: pid {proc.pid} is running this search" in cli("status", str(workspace)).stdout
    assert json.loads(cli("status", str(workspace), "--json").stdout)["runner_pid"] == proc.pid
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert experiment_pids(run) == []
    rows = sqlite3.connect(db).execute("select status from nodes").fetchall()
    assert {r[0] for r in rows} <= {"ready", "done"} and ("ready",) in rows
    assert len(git(workspace, "worktree", "list").splitlines()) == 1


def test_resume_after_kill_9_loses_nothing_and_leaves_no_strays(workspace: Path) -> None:
    # Without the sandbox (where bwrap cannot run) a killed runner's experiments outlive it
    # until the next start kills them; in the sandbox they die with it (test_containment).
    slow_workspace(workspace, 1.5)
    toml = workspace / "autoresearch.toml"
    toml.write_text(toml.read_text().replace("[search]", '[search]\nsandbox = "none"'))
    git(workspace, "commit", "-qam", "no sandbox")
    proc = subprocess.Popen([*CLI, "run", str(workspace), "--headless", "--slots", "2",
                             "--max-experiments", "40"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    db = state_db_path(workspace)
    try:
        wait_db(db, "select (select count(*) from nodes where status='done' and kind='improve')"
                " >= 2 and (select count(*) from nodes where status='running' and pid > 0) >= 1",
                "2 improvements done and 1 running", timeout=60)  # fmt: skip
    except AssertionError:
        proc.kill()
        raise
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    con = sqlite3.connect(db)
    finished = dict(con.execute("select id, metric from nodes where status='done'").fetchall())
    run = con.execute("select value from meta where key='run'").fetchone()[0]
    strays = experiment_pids(run)
    assert strays, "the killed runner's experiment should still be alive before the resume"
    status = cli("status", str(workspace)).stdout
    assert "runner: none — the " in status and "marked running stopped with it" in status

    async def resume() -> Scheduler:
        config = load_config(workspace, check_clean=False)
        search = Scheduler(config, [Mutator(AgentSpec("explorer"))], slots=[Slot("cpu0", threads=1)],
                        max_experiments=1)  # fmt: skip
        await search.open()
        deadline = time.monotonic() + 1.0  # SIGKILL is delivered asynchronously
        while any(alive(p) for p in strays) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [p for p in strays if alive(p)] == []  # killed on open, long before they end
        await search.run()
        return search

    search = asyncio.run(resume())
    for node_id, metric in finished.items():
        assert search.tree[node_id].status == "done" and search.tree[node_id].metric == metric
    assert not any(n.status == "running" for n in search.tree)
    assert experiment_pids(run) == []
    assert len(git(workspace, "worktree", "list").splitlines()) == 1
    assert not any((workspace / ".autoresearch" / "worktrees").iterdir())
