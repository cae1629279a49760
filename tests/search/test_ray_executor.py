"""The Ray executor against a real local Ray cluster: the same outcomes as the local
executor (done, crashed, timeout, invalid, nan), live output, and a stop that kills the
remote command."""

from __future__ import annotations

import asyncio
import math
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import ray
from synthetic import TOML, ScriptedProposer, git, make_workspace, marked_pids, set_knob, until

from autoresearch_tui.search.config import load_config, state_db_path
from autoresearch_tui.search.contain import Isolation
from autoresearch_tui.search.policies import make_policy
from autoresearch_tui.search.ray_executor import pack, remote_run, slots_on
from autoresearch_tui.search.sandbox import bwrap_problem
from autoresearch_tui.search.scheduler import Scheduler
from autoresearch_tui.search.store import Store

RAY_TOML = TOML.replace("slots  = 2", 'slots  = 2\nexecutor = "ray"\nray_address = "local"')


@pytest.fixture(scope="module")
def cluster() -> None:
    ray.init(address="local", num_cpus=4, object_store_memory=200 * 2**20,
             include_dashboard=False, log_to_driver=False)  # fmt: skip
    yield
    ray.shutdown()


def ray_workspace(tmp_path: Path, timeout_s: int = 30) -> Path:
    toml = RAY_TOML.replace("timeout_s = 30", f"timeout_s = {timeout_s}")
    return make_workspace(tmp_path / "ws", toml=toml)


def test_outcomes_on_ray_match_the_local_executor(cluster: None, tmp_path: Path) -> None:
    ws = ray_workspace(tmp_path, timeout_s=3)
    script = [
        set_knob("crash", True),
        set_knob("hang_s", 60.0),
        set_knob("touch_readonly", True),
        set_knob("nan", True),
        [("LR = 0.04", "LR = 0.08")],
    ]
    config = load_config(ws, check_clean=False)
    s = Scheduler(config, [ScriptedProposer(script)], policy=make_policy("ratchet"),
                  max_experiments=5)  # fmt: skip
    assert [slot.name for slot in s.slots] == ["ray-cpu0", "ray-cpu1"]
    start = time.monotonic()
    asyncio.run(s.run())
    assert time.monotonic() - start < 60  # the 60 s hang was killed at the 3 s timeout
    by_desc = {n.description.split(" -> ")[0]: n for n in s.tree if n.kind == "improve"}
    crash, hang = by_desc["crash=False"], by_desc["hang_s=0.0"]
    assert crash.status == "crashed" and "synthetic crash" in crash.reason
    assert (hang.status, hang.reason) == ("timeout", "killed after the 3s timeout")
    # In the worker's sandbox the write is refused; without one, the check after the run
    # sees the changed file.
    touched = by_desc["touch_readonly=False"]
    assert (touched.status, touched.reason) == (
        "invalid",
        "readonly file prepare.py: the run tried to change it (read-only)"
        if not bwrap_problem()
        else "readonly file prepare.py was changed by the run",
    )
    assert (by_desc["nan=False"].status, by_desc["nan=False"].reason) == (
        "crashed",
        "val_bpb is nan",
    )
    lr = by_desc["LR = 0.04"]
    assert lr.status == "done" and math.isclose(
        lr.metric, 1.0 + 0.1 * 0.25 + 0.01 + 0.02, abs_tol=1e-6
    )
    # the output came back: the log (with where it ran) and the loss points
    logs = ws / ".autoresearch" / "logs"
    log = (logs / f"{lr.id}.log").read_text()
    assert log.startswith("[autoresearch-tui] running on ") and log.count("step") == 5
    assert [p[0] for p in Store(state_db_path(ws)).load_points(lr.id)] == list(range(5))
    assert "killed after the 3s timeout" in (logs / f"{hang.id}.log").read_text()
    assert marked_pids(f"AR_NODE={hang.id}") == []  # the hung command's group is gone
    assert len(git(ws, "worktree", "list").splitlines()) == 1


def test_a_prune_cancels_the_ray_task_and_kills_its_command(cluster: None, tmp_path: Path) -> None:
    ws = ray_workspace(tmp_path)
    # The pruned run goes back to the queue and no longer counts toward the cap: the
    # second proposal is the experiment that ends the search.
    proposer = ScriptedProposer([set_knob("hang_s", 60.0), [("LR = 0.04", "LR = 0.05")]])

    async def scenario() -> Scheduler:
        config = load_config(ws, check_clean=False)
        s = Scheduler(config, [proposer], max_experiments=1)
        task = asyncio.create_task(s.run())
        await until(
            lambda: any(
                n.status == "running" and n.pid and "hang_s" in n.description for n in s.tree
            ),
            "the hanging experiment to run on Ray",
            60,
        )
        hung = next(n for n in s.tree if "hang_s" in n.description)
        marker = f"AR_NODE={hung.id}"
        assert marked_pids(marker)  # it runs, in a Ray worker's process group
        await s.prune(hung.id)
        await until(lambda: not marked_pids(marker), "the pruned command to die", 15)
        await task
        return s

    s = asyncio.run(scenario())
    hung = next(n for n in s.tree if "hang_s" in n.description)
    assert hung.pruned and hung.status == "ready" and hung.reason == "stopped before it finished"


def test_an_unreachable_cluster_is_a_one_line_error(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", toml=RAY_TOML.replace('"local"', '"127.0.0.1:9"'))
    out = subprocess.run(
        [sys.executable, "-m", "autoresearch_tui.app.cli", "run", str(ws), "--headless"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert (
        out.stderr.count("\n") == 1
        and "cannot reach the Ray cluster at '127.0.0.1:9'" in out.stderr
    )


def test_slots_fit_one_machine_each() -> None:
    two = [{"CPU": 4.0}, {"CPU": 2.0}]
    assert [(s.name, s.threads) for s in slots_on(two, "x", None, 0)] == [
        ("ray-cpu0", 2), ("ray-cpu1", 2),  # one per machine, as many threads as the smaller
    ]  # fmt: skip
    assert {s.threads for s in slots_on(two, "x", 4, 0)} == {1}
    with pytest.raises(ValueError, match="smallest Ray machine has 2 CPUs"):
        slots_on(two, "x", None, 3)
    gpus = [{"CPU": 16.0, "GPU": 8.0}, {"CPU": 16.0, "GPU": 8.0}]
    assert [s.remote for s in slots_on(gpus, "x", None, 0)] == ["gpu"] * 16
    with pytest.raises(ValueError, match="no machine with a CPU"):
        slots_on([], "x", None, 0)


ATTACK = (
    "echo SECRET=${HF_TOKEN:-gone} MINE=${MY_DROP:-gone}; "
    "cat STATE/state.db 2>/dev/null || echo no-state; "
    "echo x >> prepare.py 2>/dev/null || echo readonly-refused; "
    "echo x > OUTSIDE/written 2>/dev/null || echo outside-refused; "
    "echo ok > out.txt && echo wrote-workdir"
)


@pytest.mark.parametrize("sandbox", ["none", "auto"])
def test_the_worker_contains_the_run_as_the_local_executor_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: str
) -> None:
    """The Ray task itself (remote_run, called here without a cluster): on a worker where
    bwrap runs, "auto" sandboxes the run like a local one; secrets and `env_drop` names
    never reach it in either mode."""
    worktree, state, outside = tmp_path / "wt", tmp_path / "state", tmp_path / "outside"
    for folder in (worktree, state, outside):
        folder.mkdir()
    (worktree / "prepare.py").write_text("DATA = 1\n")
    (state / "state.db").write_text("the tree")
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    monkeypatch.setenv("MY_DROP", "dropped")
    isolation = Isolation(
        sandbox=sandbox, hidden=(str(state),), visible=(str(tmp_path),), drop=frozenset({"MY_DROP"})
    )
    command = ATTACK.replace("STATE", str(state)).replace("OUTSIDE", str(outside))
    events = list(remote_run(pack(worktree), command, {}, 30, ["prepare.py"], isolation))
    out = b"".join(data for kind, data in events if kind == "out").decode()
    returncode, timed_out, _, files = events[-1][1]
    assert events[-1][0] == "end" and (returncode, timed_out) == (0, False), out
    assert "SECRET=gone MINE=gone" in out and "wrote-workdir" in out
    contained = sandbox == "auto" and not bwrap_problem()
    assert ("the tree" in out) is not contained, out
    assert ("readonly-refused" in out) is contained, out
    assert ("outside-refused" in out) is contained, out
    assert (files["prepare.py"] == b"DATA = 1\n") is contained  # sent back as it is now
    if sandbox == "auto" and bwrap_problem():
        assert "[autoresearch-tui] no sandbox on " in out


def test_bwrap_demanded_on_a_worker_without_it_refuses_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    worktree, path = tmp_path / "wt", tmp_path / "bin"
    worktree.mkdir()
    path.mkdir()
    for tool in ("bash", "setpriv"):  # what a run needs, not bwrap
        if found := shutil.which(tool):
            (path / tool).symlink_to(found)
    monkeypatch.setenv("PATH", str(path))  # a "worker" without bwrap
    bwrap_problem.cache_clear()
    try:
        events = list(remote_run(pack(worktree), "echo ran", {}, 30, [], Isolation("bwrap")))
    finally:
        bwrap_problem.cache_clear()
    out = b"".join(data for kind, data in events if kind == "out").decode()
    assert events[-1][1][0] == 126 and "ran" not in out.split()
    assert '[search] sandbox = "bwrap" but on ' in out and "bwrap is not installed" in out
