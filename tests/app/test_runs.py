"""The real CLI on runs: a failed base exits 1 and a fix starts a new run (the old one is
kept and listed), the exit codes, the one-runner lock, and state files that are refused."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from synthetic import TRAIN_PY, git, make_workspace
from tui_helpers import wait_db

from autoresearch_tui.search.config import state_db_path

CLI = [sys.executable, "-m", "autoresearch_tui.app.cli"]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)


def one_error_line(out: subprocess.CompletedProcess[str]) -> str:
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("autoresearch-tui: error: ")
    return out.stderr


def nodes(db: Path) -> list[tuple[str, str | None, str, str]]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute("select id, parent, kind, status from nodes order by id").fetchall()
    finally:
        con.close()


def test_a_failed_base_exits_1_and_a_fix_starts_a_new_run(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", train=TRAIN_PY.replace("crash=False", "crash=True"))
    old_base = git(ws, "rev-parse", "HEAD").strip()
    first = cli("run", str(ws), "--headless", "--max-experiments", "3")
    assert first.returncode == 1, first.stderr
    line = one_error_line(first)
    assert "the base n0000 crashed: exit code 1: RuntimeError: synthetic crash" in line
    assert "see .autoresearch/logs/n0000.log; fix train.py, commit, and run again" in line
    old = json.loads(cli("status", str(ws), "--json").stdout)["run"]

    # HEAD unchanged: the base still fails; no child of it runs
    before = nodes(state_db_path(ws))
    again = cli("run", str(ws), "--headless", "--max-experiments", "3")
    assert again.returncode == 1 and "the base n0000 still fails (crashed" in one_error_line(again)
    assert nodes(state_db_path(ws)) == before and again.stdout == ""

    (ws / "train.py").write_text(TRAIN_PY)
    git(ws, "commit", "-qam", "fix the crash")
    new_base = git(ws, "rev-parse", "HEAD").strip()
    fixed = cli("run", str(ws), "--headless", "--max-experiments", "1", "--slots", "1")
    assert fixed.returncode == 0, fixed.stderr
    moved = f"HEAD moved from {old_base[:7]} to {new_base[:7]}: new run "
    assert moved in fixed.stdout and f"the old run is kept as {old}" in fixed.stdout
    status = json.loads(cli("status", str(ws), "--json").stdout)
    assert status["run"] != old and status["base"]["commit"] == new_base
    assert status["base"]["metric"] is not None and status["experiments"] >= 1
    # the old run: listed, readable by name, its logs and branches kept apart
    listed = cli("runs", str(ws)).stdout.splitlines()
    assert listed[1].startswith(status["run"]) and "current" in listed[1]
    assert listed[2].startswith(old) and "base crashed" in listed[2] and len(listed) == 3
    kept = json.loads(cli("status", str(ws), "--run", old, "--json").stdout)
    assert kept["run"] == old and kept["base"]["commit"] == old_base
    assert next(n for n in kept["nodes"] if n["id"] == "n0000")["status"] == "crashed"
    archived = ws / ".autoresearch" / "runs" / old
    assert "synthetic crash" in (archived / "logs" / "n0000.log").read_text()
    assert "synthetic crash" not in (ws / ".autoresearch" / "logs" / "n0000.log").read_text()
    assert f"autoresearch/{old}/n0000" in git(ws, "branch", "--list", f"autoresearch/{old}/*")
    base = cli("export", str(ws), "n0000", "--run", old)  # read from the kept run: the base
    assert base.returncode == 1 and "n0000 has no change to export (it is the base)" in base.stderr
    report = cli("report", str(ws), "--run", old)
    assert report.returncode == 0 and str(archived / "report") in report.stdout
    unknown = cli("status", str(ws), "--run", "nope")
    assert unknown.returncode == 2
    assert f"no run nope in {ws} — known runs: {status['run']}, {old}" in one_error_line(unknown)


def test_exit_codes_and_a_lock_no_deleted_file_defeats(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    ok = cli("run", str(ws), "--headless", "--max-experiments", "1", "--slots", "1")
    assert ok.returncode == 0, ok.stderr
    usage = cli("run", str(ws), "--headless", "--max-experiments", "-1")
    assert usage.returncode == 2 and "--max-experiments must be >= 0" in one_error_line(usage)
    (ws / "autoresearch.toml").write_text(
        (ws / "autoresearch.toml").read_text() + "\n[surch]\nx = 1\n"
    )
    config = cli("status", str(ws))
    assert config.returncode == 2 and "unknown key top level.surch" in one_error_line(config)
    git(ws, "checkout", "autoresearch.toml")

    train = ws / "train.py"
    train.write_text(TRAIN_PY.replace("hang_s=0.0", "hang_s=30.0"))
    git(ws, "commit", "-qam", "slow runs")
    runner = subprocess.Popen([*CLI, "run", str(ws), "--headless", "--slots", "1"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        wait_db(state_db_path(ws), "select count(*) from nodes where status='running' and pid > 0",
                "the base running", timeout=60)  # fmt: skip
        for name in ("runner.pid", "runner.lock"):  # what an experiment could delete
            (ws / ".autoresearch" / name).unlink(missing_ok=True)
        second = cli("run", str(ws), "--headless")
        assert second.returncode == 2 and second.stdout == ""
        assert f"another autoresearch-tui (pid {runner.pid}) is running" in one_error_line(second)
        assert json.loads(cli("status", str(ws), "--json").stdout)["runner_pid"] == runner.pid
        runner.send_signal(signal.SIGTERM)
        out, err = runner.communicate(timeout=60)
    finally:
        runner.kill()
    assert runner.returncode == 130, err
    assert "HEAD moved from" in out  # the slow commit moved HEAD: a new run was started


def test_an_empty_foreign_or_missing_state_db_next_to_logs_is_refused(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    assert (
        cli("run", str(ws), "--headless", "--max-experiments", "1", "--slots", "1").returncode == 0
    )
    db, logs = state_db_path(ws), ws / ".autoresearch" / "logs"
    before = {p.name: p.read_bytes() for p in logs.iterdir()}
    db.with_name("state.db-wal").unlink(missing_ok=True)
    db.write_bytes(b"")  # truncated to 0 bytes
    empty = cli("run", str(ws), "--headless", "--max-experiments", "1")
    assert empty.returncode == 1 and empty.stdout == ""
    assert f"{db} is empty (0 bytes) next to an earlier run's logs" in one_error_line(empty)
    assert f"`mv {logs} {logs}.old` to start a new run" in empty.stderr
    db.unlink()
    con = sqlite3.connect(db)
    con.execute("create table accounts (id int)")
    con.commit()
    con.close()
    foreign = cli("run", str(ws), "--headless", "--max-experiments", "1")
    assert foreign.returncode == 1
    assert "is not a state.db of autoresearch-tui (tables ['accounts'])" in one_error_line(foreign)
    db.unlink()
    gone = cli("run", str(ws), "--headless", "--max-experiments", "1")
    assert gone.returncode == 1 and f"{db} is gone" in one_error_line(gone)
    assert {p.name: p.read_bytes() for p in logs.iterdir()} == before  # nothing appended
    assert not db.exists()
