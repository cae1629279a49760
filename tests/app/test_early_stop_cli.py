"""Early stopping through the real program: `run --headless` (mutator, subprocess runs)
stops losing runs; after `kill -9` of the runner a stopped node stays stopped, with its
partial curve, in `status --json` (the early-stop accounting), in `report` and in a
reopened search (search/early_stopping.py); the headless run's summary says the early
stops with `status --json`'s numbers."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from synthetic import make_workspace
from tui_helpers import wait_db

from autoresearch_tui.agents.mutator import Mutator
from autoresearch_tui.agents.proposer import AgentSpec
from autoresearch_tui.search.config import load_config, state_db_path
from autoresearch_tui.search.early_stopping import EarlyStops
from autoresearch_tui.search.scheduler import Scheduler
from autoresearch_tui.search.slots import Slot
from autoresearch_tui.search.store import Store

CLI = [sys.executable, "-m", "autoresearch_tui.app.cli"]

# Every change the mutator makes (it scales A or B by 20% or more) is worse all along the
# curve; the pace of the curve lives in the readonly prepare.py, out of the mutator's reach.
TRAIN_PY = textwrap.dedent(
    '''\
    """Every change of A or B raises the whole loss curve."""
    import os
    import random
    import time

    from prepare import PAUSE_S, STEPS

    A = 1.0
    B = 2.0

    rng = random.Random(int(os.environ.get("AR_SEED", "0")))
    final = 1.0 + 2 * (abs(A - 1.0) + abs(B - 2.0) / 2) + rng.gauss(0, 0.01)
    for step in range(STEPS):
        progress = (step + 1) / STEPS
        print(f"step {step} ({progress * 100:.1f}%) | loss: {final + 2 * (1 - progress):.5f}")
        time.sleep(PAUSE_S)
    print(f"val_bpb: {final:.6f}")
    '''
)
TOML = textwrap.dedent(
    """\
    [target]
    editable  = ["train.py"]
    readonly  = ["prepare.py"]
    run       = "python train.py"
    metric    = "val_bpb"
    timeout_s = 60

    [search]
    slots = 1
    base_runs = 2
    confirm_runs = 0
    merge = false
    sandbox = "none"
    early_stop = true
    """
)


def cli(*args: str) -> str:
    out = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_a_stopped_node_survives_kill_9_in_status_report_and_a_resumed_search(
    tmp_path: Path,
) -> None:
    ws = make_workspace(tmp_path / "ws", train=TRAIN_PY, toml=TOML)
    (ws / "prepare.py").write_text("STEPS = 20\nPAUSE_S = 0.1\n")
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam",
                    "pace"], cwd=ws, check=True)  # fmt: skip
    proc = subprocess.Popen([*CLI, "run", str(ws), "--headless", "--agents",
                             "explorer@mutator", "--max-experiments", "30", "--seed", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    db = state_db_path(ws)
    try:
        wait_db(db, "select (select count(*) from nodes where status='stopped') >= 1 and "
                "(select count(*) from nodes where status='running' and pid > 0) >= 1",
                "a stopped run, and the next one running", timeout=90)  # fmt: skip
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    store = Store(db, readonly=True)
    stopped = {n.id: n for n in store.load_nodes() if n.status == "stopped"}
    points = {nid: store.point_rows(nid) for nid in stopped}
    store.close()
    assert stopped and all(rows and rows[-1][3] < 100.0 for rows in points.values())

    status = json.loads(cli("status", str(ws), "--json"))
    assert status["early_stops"]["runs"] == len(stopped)
    assert status["early_stops"]["slot_seconds_saved"] > 0.5  # runs of about 2 s
    assert {n["id"] for n in status["nodes"] if n["status"] == "stopped"} == set(stopped)
    assert all(n["metric"] is None for n in status["nodes"] if n["status"] == "stopped")
    out = tmp_path / "report"
    cli("report", str(ws), "--output", str(out))
    assert f"early stops: {len(stopped)} run" in (out / "report.md").read_text()

    async def resume() -> Scheduler:
        config = load_config(ws, check_clean=False)
        search = Scheduler(config, [Mutator(AgentSpec("explorer"))],
                           slots=[Slot("cpu0", threads=1)], exit_when_idle=True)  # fmt: skip
        await search.open()
        search.stop()  # reopened only: nothing more runs
        await search.run()
        return search

    search = asyncio.run(resume())
    for nid, node in stopped.items():
        again = search.tree[nid]
        assert again.status == "stopped" and again.reason == node.reason
        assert again.metric is None and not again.has_metric
    store = Store(db, readonly=True)
    assert {nid: store.point_rows(nid) for nid in stopped} == points
    store.close()


def test_the_headless_summary_says_the_early_stops_as_status_json_does(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", train=TRAIN_PY, toml=TOML)
    (ws / "prepare.py").write_text("STEPS = 20\nPAUSE_S = 0.1\n")
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam",
                    "pace"], cwd=ws, check=True)  # fmt: skip
    out = cli("run", str(ws), "--headless", "--agents", "explorer@mutator",
              "--max-experiments", "4", "--seed", "2")  # fmt: skip
    status = json.loads(cli("status", str(ws), "--json"))["early_stops"]
    assert status["runs"] >= 1, out  # every change is worse: the judged ones are stopped
    stops = EarlyStops(status["runs"], status["slot_seconds_saved"])
    summary = out[out.index("\nrun ") :]  # the final summary, after the per-run lines
    assert stops.line() in summary.splitlines(), summary
    assert f"early stops: {status['runs']} run" in stops.line()
