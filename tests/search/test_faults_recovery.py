"""Faults the runner must survive (issue 15's table, the recovery rows): git notes that
cannot be written (a stale lock), an experiment that kills the runner, a workspace that
becomes unwritable, a worktree removed mid-run. Each fault is injected into the real
engine: a real git workspace, the real store, the real scheduler (and, for the
unwritable workspace, the real headless CLI in a process of its own)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from synthetic import InProcess, ScriptedProposer, git, make_workspace, until

from autoresearch_tui.search.config import load_config
from autoresearch_tui.search.events import Event, Notice
from autoresearch_tui.search.executor import Executor, Job
from autoresearch_tui.search.gitops import NOTES_REF
from autoresearch_tui.search.local_executor import LocalExecutor
from autoresearch_tui.search.model import Node
from autoresearch_tui.search.opening import open_run
from autoresearch_tui.search.policies import make_policy
from autoresearch_tui.search.runlock import release
from autoresearch_tui.search.runs import BaseFailed
from autoresearch_tui.search.sandbox import bwrap_problem
from autoresearch_tui.search.scheduler import Scheduler
from autoresearch_tui.search.slots import Slot
from autoresearch_tui.search.store import Store

NO_BWRAP = bwrap_problem()
MODES = ["none", pytest.param("bwrap", marks=pytest.mark.skipif(bool(NO_BWRAP), reason=NO_BWRAP))]
EDITS = [
    [("LR = 0.04", "LR = 0.05")],
    [("DEPTH = 8", "DEPTH = 9")],
    [("WARMUP = 0.1", "WARMUP = 0.3")],
]


def measure(job: Job) -> float:
    return 1.0 + len(job.files["train.py"]) * 1e-6  # distinct edits, distinct values


def scheduler(
    ws: Path, script: list, notices: list[str] | None = None, executor: Executor | None = None,
    budget: int | None = None, policy: str = "ratchet",
) -> Scheduler:  # fmt: skip
    """A sequential search (one slot) of `script`'s edits, run in process (or by
    `executor`), to `budget` experiments in the tree (default: as many as edits)."""
    config = load_config(ws, check_clean=False)
    config = dataclasses.replace(
        config, search=dataclasses.replace(config.search, base_runs=1, confirm_runs=0, merge=False)
    )

    def listen(event: Event) -> None:
        if isinstance(event, Notice) and notices is not None:
            notices.append(event.text)

    return Scheduler(
        config, [ScriptedProposer(script)], policy=make_policy(policy),
        slots=[Slot("cpu0", threads=1) if executor else Slot("sim0")],
        max_experiments=len(script) if budget is None else budget, executor=executor or InProcess(measure), listeners=[listen],
    )  # fmt: skip


def notes(ws: Path) -> dict[str, str]:
    """commit -> its note under refs/notes/autoresearch."""
    listed = git(ws, "notes", "--ref", NOTES_REF, "list").split()
    commits = listed[1::2]
    return {c: git(ws, "notes", "--ref", NOTES_REF, "show", c).strip() for c in commits}


def stored(ws: Path) -> dict[str, Node]:
    store = Store(ws / ".autoresearch" / "state.db", readonly=True)
    try:
        return {n.id: n for n in store.load_nodes()}
    finally:
        store.close()


# -- a stale refs/notes/autoresearch.lock ----------------------------------------------
def test_a_stale_notes_lock_loses_no_result_and_the_notes_follow(tmp_path: Path) -> None:
    """Row "stale refs/notes/autoresearch.lock": every result is saved, the search ends
    (no hang), one warning names the lock and the fix; once the lock is gone the next
    start writes the missing notes, and the resumed search's own notes are written."""
    ws = make_workspace(tmp_path / "ws")
    lock = ws / ".git" / "refs" / "notes" / "autoresearch.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text("")
    said: list[str] = []
    s = scheduler(ws, EDITS[:2], said)
    asyncio.run(asyncio.wait_for(s.run(), 30))
    nodes = stored(ws)
    ran = [n for n in nodes.values() if n.finished_at]
    assert len(ran) == 3 and all(n.status == "done" and n.metric for n in ran), nodes
    warned = [t for t in said if "autoresearch.lock" in t]
    assert len(warned) == 1, said
    assert "rm .git/refs/notes/autoresearch.lock" in warned[0], warned[0]
    assert notes(ws) == {}

    said.clear()  # a start with the lock still there opens, says so, and loses nothing
    s = scheduler(ws, [], said, budget=2)
    asyncio.run(asyncio.wait_for(s.run(), 30))
    assert [t for t in said if "autoresearch.lock" in t] == warned, said
    assert notes(ws) == {} and len([n for n in stored(ws).values() if n.finished_at]) == 3

    lock.unlink()
    s = scheduler(ws, EDITS[2:], budget=3)
    asyncio.run(asyncio.wait_for(s.run(), 30))
    nodes = stored(ws)
    ran = [n for n in nodes.values() if n.finished_at]
    assert len(ran) == 4
    written = notes(ws)
    for node in ran:
        assert written.get(node.commit) == f"val_bpb: {node.metric}", (node.id, written)


def test_a_note_that_failed_is_written_after_the_next_run(tmp_path: Path) -> None:
    """The lock goes while the search runs: the notes that failed are written with the
    next finished run's, before any restart."""
    ws = make_workspace(tmp_path / "ws")
    lock = ws / ".git" / "refs" / "notes" / "autoresearch.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text("")
    said: list[str] = []

    class Unlock(list[str]):  # the person removes the lock when told
        def append(self, text: str) -> None:
            super().append(text)
            if "autoresearch.lock" in text:
                lock.unlink(missing_ok=True)

    said = Unlock()
    s = scheduler(ws, EDITS[:2], said)
    asyncio.run(asyncio.wait_for(s.run(), 30))
    assert any("autoresearch.lock" in t for t in said), said
    ran = [n for n in stored(ws).values() if n.finished_at]
    assert len(ran) == 3
    written = notes(ws)
    assert all(written.get(n.commit) == f"val_bpb: {n.metric}" for n in ran), written


# -- an experiment that kills the runner -----------------------------------------------
def die_running(ws: Path, node_id: str) -> None:
    """One start of the runner that dies while `node_id` runs: the real opening code,
    then the node left `running` as a killed runner leaves it."""
    config = load_config(ws, check_clean=False)
    run = open_run(config, 0)
    try:
        node = next(n for n in run.nodes if n.id == node_id)
        node.status, node.slot, node.pid = "running", "cpu0", 999_999
        run.store.save_node(node)
        run.store.add_points(node_id, [(1, 2.0, 0.1, 0.5)])
    finally:
        run.store.close()
        release(run.lock)


def add_child(ws: Path) -> str:
    """A child of the base, ready to run (its own commit and branch)."""
    config = load_config(ws, check_clean=False)
    run = open_run(config, 0)
    try:
        source = (ws / "train.py").read_text().replace("LR = 0.04", "LR = 0.05")
        commit = run.git.commit_files(
            run.base_commit, {"train.py": source}, "LR 0.05", run.branch("n0001"), "t"
        )
        child = Node(
            id="n0001", parent="n0000", status="ready", kind="improve", persona="explorer",
            description="LR = 0.04 -> LR = 0.05", branch=run.branch("n0001"), commit=commit,
        )  # fmt: skip
        run.store.save_node(child)
        root = next(n for n in run.nodes if n.id == "n0000")
        root.status, root.metric, root.finished_at = "done", 1.0, 1.0
        run.store.save_node(root)
        return commit
    finally:
        run.store.close()
        release(run.lock)


def test_an_experiment_that_killed_the_runner_twice_is_crashed(tmp_path: Path) -> None:
    """Row "an experiment that kills the runner": re-queued after the first death, marked
    crashed after the second (the count survives in state.db), and the search goes on."""
    ws = make_workspace(tmp_path / "ws")
    add_child(ws)
    die_running(ws, "n0001")  # the first death
    die_running(ws, "n0001")  # the start after it re-queued it; the second death
    config = load_config(ws, check_clean=False)
    run = open_run(config, 0)  # the third start
    try:
        node = next(n for n in run.nodes if n.id == "n0001")
        assert node.status == "crashed", node
        assert node.reason == "the runner died while it ran, twice"
        assert node.finished_at and not node.pid and not node.slot
        kinds = [e["kind"] for e in run.store.events() if e["node"] == "n0001"]
        assert kinds.count("requeue") == 1, kinds
    finally:
        run.store.close()
        release(run.lock)
    s = scheduler(ws, EDITS[1:2], budget=2)  # the crashed node counts as an experiment
    asyncio.run(asyncio.wait_for(s.run(), 30))
    nodes = stored(ws)
    assert nodes["n0001"].status == "crashed"
    assert notes(ws)[nodes["n0001"].commit] == "crashed: the runner died while it ran, twice"
    assert [n.status for n in nodes.values() if n.id not in ("n0000", "n0001")] == ["done"]


def test_one_death_only_requeues(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    add_child(ws)
    die_running(ws, "n0001")
    s = scheduler(ws, EDITS[1:2])  # a budget of one experiment: the re-queued node
    asyncio.run(asyncio.wait_for(s.run(), 30))
    node = stored(ws)["n0001"]
    assert node.status == "done", node


def test_a_base_that_killed_the_runner_twice_is_refused(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    config = load_config(ws, check_clean=False)
    release((run := open_run(config, 0)).lock)
    run.store.close()
    die_running(ws, "n0000")
    die_running(ws, "n0000")
    with pytest.raises(BaseFailed, match="the runner died while it ran, twice"):
        open_run(config, 0)


# -- a workspace that becomes unwritable -----------------------------------------------
READ_ONLY_TRAIN = textwrap.dedent(
    """\
    import os, subprocess
    LR = 0.04
    DEPTH = 8
    state = os.environ["AR_STATE_DIR"]
    if os.environ["AR_NODE"] == "n0002":  # the second child makes .autoresearch read-only
        if os.geteuid() == 0:  # the runner's own mount namespace (unshare -m)
            subprocess.run(["mount", "--bind", state, state], check=True)
            subprocess.run(["mount", "-o", "remount,bind,ro", state], check=True)
        else:
            subprocess.run(["chmod", "-R", "a-w", state], check=True)
    print("val_bpb:", 1 + LR + DEPTH / 1000)
    """
)
READ_ONLY_TOML = textwrap.dedent(
    """\
    [target]
    editable  = ["train.py"]
    readonly  = ["prepare.py"]
    run       = "python train.py"
    metric    = "val_bpb"
    timeout_s = 30

    [search]
    sandbox   = "none"  # the run must reach the runner's mount namespace
    base_runs = 1
    merge     = false
    slots     = 1

    [[agents]]
    persona = "explorer"
    backend = "mutator"
    """
)


def read_only_wrapper() -> list[str]:
    """How to run the CLI so that a run can make .autoresearch read-only: as root (where
    chmod does not stop writes) a private mount namespace; as another user, nothing."""
    if os.geteuid() != 0:
        return []
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        pytest.skip("as root only a read-only mount stops writes, and unshare/mount are absent")
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "true"], check=False)
    if probe.returncode != 0:
        pytest.skip("as root only a read-only mount stops writes; unshare -m is not allowed here")
    return ["unshare", "-m", "--propagation", "private"]


def test_a_workspace_that_becomes_unwritable_stops_the_search(tmp_path: Path) -> None:
    """Row "`.autoresearch` read-only mid-run": the search stops at the first write that
    fails, with one line naming the path and the fix, exit code 1; no node is crashed or
    failed by it, and a start once it is writable again resumes the search."""
    wrapper = read_only_wrapper()
    ws = make_workspace(tmp_path / "ws", train=READ_ONLY_TRAIN, toml=READ_ONLY_TOML)
    state = ws / ".autoresearch"
    cli = [sys.executable, "-m", "autoresearch_tui.app.cli", "run", str(ws), "--headless"]
    try:
        done = subprocess.run(
            [*wrapper, *cli, "--max-experiments", "6"],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(state)], check=False)
    errors = [line for line in done.stderr.splitlines() if line.startswith("autoresearch-tui:")]
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert len(errors) == 1, done.stderr
    assert f"cannot write {state}" in errors[0], errors[0]
    assert "make it writable and run again" in errors[0], errors[0]
    nodes = stored(ws)
    assert nodes["n0002"].status == "done", nodes["n0002"]
    broken = [n for n in nodes.values() if n.status in ("crashed", "failed", "invalid")]
    assert not broken, [(n.id, n.status, n.reason) for n in broken]
    assert "GitCommandError" not in done.stdout + done.stderr

    waiting = [n.id for n in nodes.values() if n.status == "ready"]
    assert len(waiting) == 1, nodes  # the node the stop re-queued
    again = subprocess.run(  # three experiments in all: the re-queued one runs
        [*cli, "--max-experiments", "3"], capture_output=True, text=True, timeout=120, check=False
    )
    assert again.returncode == 0, (again.stdout, again.stderr)
    nodes = stored(ws)
    assert nodes[waiting[0]].status == "done", nodes[waiting[0]]
    assert not [n for n in nodes.values() if n.status in ("crashed", "failed", "invalid")]


# -- a worktree removed mid-run --------------------------------------------------------
WAITING_TRAIN = textwrap.dedent(
    """\
    import os, sys, time
    WAIT = False
    if WAIT:
        print("waiting", flush=True)
        deadline = time.monotonic() + 20
        while os.path.exists("train.py"):  # until the worktree is gone under it
            if time.monotonic() > deadline:
                sys.exit("never removed")
            time.sleep(0.05)
    print("val_bpb: 1.0", flush=True)
    """
)


@pytest.mark.parametrize("sandbox", MODES)
def test_a_worktree_removed_mid_run_says_so(tmp_path: Path, sandbox: str) -> None:
    """Row "worktree removed mid-run": the node is invalid because its worktree was
    removed, not because "readonly file prepare.py was changed"; the search goes on."""
    toml = READ_ONLY_TOML.replace('"none"  #', f'"{sandbox}"  #')
    ws = make_workspace(tmp_path / "ws", train=WAITING_TRAIN, toml=toml)
    script = [[("WAIT = False", "WAIT = True")], [("import os", "import os  # 2")]]
    s = scheduler(ws, script, executor=LocalExecutor())
    worktree = ws / ".autoresearch" / "worktrees" / "n0001"
    log = ws / ".autoresearch" / "logs" / "n0001.log"

    async def main() -> None:
        task = asyncio.create_task(s.run())
        await until(lambda: log.exists() and "waiting" in log.read_text(), "n0001 to wait")
        shutil.rmtree(worktree)
        await asyncio.wait_for(task, 60)

    asyncio.run(main())
    node = s.tree["n0001"]
    assert node.status in ("invalid", "crashed"), node
    assert node.reason == "the worktree .autoresearch/worktrees/n0001 was removed during the run"
    assert s.tree["n0002"].status == "done", s.tree["n0002"]


def test_a_prepared_worktree_removed_before_its_run_is_checked_out_again(tmp_path: Path) -> None:
    """A worktree checked out ahead (while the slot trains) and removed before its run:
    the run gets a new one and counts; only the run whose worktree went is invalid."""
    ws = make_workspace(tmp_path / "ws", train=WAITING_TRAIN, toml=READ_ONLY_TOML)
    script = [[("WAIT = False", "WAIT = True")], [("import os", "import os  # 2")]]
    s = scheduler(ws, script, executor=LocalExecutor(), policy="best-first")
    worktrees = ws / ".autoresearch" / "worktrees"
    log = ws / ".autoresearch" / "logs" / "n0001.log"

    async def main() -> None:
        task = asyncio.create_task(s.run())
        await until(lambda: log.exists() and "waiting" in log.read_text(), "n0001 to wait")
        await until(lambda: (worktrees / "n0002" / "train.py").exists(), "n0002 checked out")
        shutil.rmtree(worktrees / "n0002")
        shutil.rmtree(worktrees / "n0001")
        await asyncio.wait_for(task, 60)

    asyncio.run(main())
    assert s.tree["n0001"].reason.startswith("the worktree"), s.tree["n0001"]
    assert s.tree["n0002"].status == "done", s.tree["n0002"]


def test_which_errors_mean_an_unwritable_workspace(tmp_path: Path) -> None:
    """Git's and Python's words for a write the workspace refused name the folder; an
    error elsewhere, or one that is not about writing, is not one."""
    import errno

    from git import GitCommandError

    from autoresearch_tui.search.recovery import unwritable

    ws = make_workspace(tmp_path / "ws")
    (ws / ".autoresearch" / "worktrees").mkdir(parents=True)
    wt = "'.autoresearch/worktrees/n0003/.git'"
    said = {
        f"Preparing worktree (detached HEAD 5ce8dca)\nfatal: could not create leading "
        f"directories of {wt}: Read-only file system": "worktrees (Read-only file system)",
        f"fatal: could not create leading directories of {wt}: Permission denied": (
            "worktrees (Permission denied)"
        ),
        "fatal: could not create leading directories of '/etc/x/.git': Permission denied": "",
        f"fatal: {wt} already exists": "",
    }
    for stderr, named in said.items():
        line = unwritable(GitCommandError(["git", "worktree"], 128, stderr.encode()), ws)
        if named:
            assert (
                line == f"cannot write {ws}/.autoresearch/{named}: make it writable and run again"
            )
        else:
            assert line == "", line
    log = ws / ".autoresearch" / "logs" / "n0003.log"
    line = unwritable(OSError(errno.ENOSPC, "No space left on device", str(log)), ws)
    assert (
        line
        == f"cannot write {ws}/.autoresearch (No space left on device): free disk space and run again"
    )
    assert unwritable(OSError(errno.ENOSPC, "No space left on device"), ws) == ""  # no path
    assert unwritable(OSError(errno.ENOENT, "No such file", str(log)), ws) == ""
