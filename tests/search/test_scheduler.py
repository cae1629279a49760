"""The real engine on a real git repo with real subprocesses (the synthetic target)."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import math
import time
from pathlib import Path

import git as gitpython
from synthetic import TOML, ScriptedProposer, alive, git, set_knob, until, wait_until

from autoresearch_tui.agents.mutator import Mutator
from autoresearch_tui.agents.proposer import AgentSpec, ProposalFailed
from autoresearch_tui.search.config import load_config, state_db_path
from autoresearch_tui.search.events import NodeChanged, Notice
from autoresearch_tui.search.model import FINISHED
from autoresearch_tui.search.policies import make_policy
from autoresearch_tui.search.processes import experiment_env, group_alive
from autoresearch_tui.search.scheduler import Scheduler
from autoresearch_tui.search.slots import Slot
from autoresearch_tui.search.store import Store

CPU2 = [Slot("cpu0", threads=1), Slot("cpu1", threads=1)]


def search(ws: Path, proposers, **kw) -> Scheduler:
    kw.setdefault("slots", CPU2)
    return Scheduler(load_config(ws, check_clean=False), proposers, **kw)


def run(s: Scheduler) -> Scheduler:
    asyncio.run(s.run())
    return s


def test_mutator_run_builds_branches_notes_and_cleans_up(workspace: Path) -> None:
    repo = gitpython.Repo(workspace)
    head, branch = repo.head.commit.hexsha, repo.active_branch.name
    s = run(search(workspace, [Mutator(AgentSpec("explorer"))], max_experiments=12, seed=3))
    nodes = list(s.tree)
    calibration = [n for n in nodes if n.kind == "rerun" and n.parent == "n0000"]
    ran = [n for n in nodes if n.kind != "root" and n not in calibration and n.finished_at]
    assert len(ran) == 12 and all(n.status == "done" for n in ran)  # the cap, exactly
    assert all(n.status in ("done", "ready") for n in nodes)  # ready: queued as the cap hit
    done = [n for n in ran if n.kind == "improve"]
    assert done
    for node in done:
        assert node.branch == f"autoresearch/{s.run_name}/{node.id}"
        assert repo.commit(node.branch).hexsha == node.commit
        assert repo.commit(node.commit).parents[0].hexsha == s.tree[node.parent].commit
        assert (
            float(
                repo.git.notes("--ref", "refs/notes/autoresearch", "show", node.commit).split(": ")[
                    1
                ]
            )
            == node.metric
        )
        msg = repo.commit(node.commit).message
        assert (
            msg.startswith(node.description)
            and f"parent: {node.parent}" in msg
            and "persona: explorer" in msg
        )
    # The person's checkout is untouched; no worktree is left behind.
    assert repo.head.commit.hexsha == head and repo.active_branch.name == branch
    assert not repo.is_dirty(untracked_files=True)
    assert len(repo.git.worktree("list").splitlines()) == 1
    assert not any((workspace / ".autoresearch" / "worktrees").iterdir())
    # Logs and loss points for every experiment.
    store = Store(state_db_path(workspace))
    assert [p[0] for p in store.load_points(done[0].id)] == [0, 1, 2, 3, 4]
    assert (workspace / ".autoresearch" / "logs" / f"{done[0].id}.log").read_text().count(
        "step"
    ) == 5
    assert store.db["nodes"].count == len(nodes)
    assert store.db.execute("pragma journal_mode").fetchone()[0] == "wal"


def test_failure_modes_are_recorded_and_the_search_goes_on(workspace: Path) -> None:
    (workspace / "autoresearch.toml").write_text(TOML.replace("timeout_s = 30", "timeout_s = 2"))
    git(workspace, "commit", "-qam", "short timeout")
    script = [
        set_knob("crash", True),
        set_knob("hang_s", 60.0),
        set_knob("touch_readonly", True),
        set_knob("nan", True),
        [('print(f"val_bpb:          {final:.6f}")', 'print("no metric here")')],
        ProposalFailed("the model said nothing useful", reply="???"),
        [("LR = 0.04", "LR = 0.04 +")],  # a syntax error: the run crashes
        [("LR = 0.04", "LR = 0.08")],
    ]
    proposer = ScriptedProposer(script)
    start = time.monotonic()
    s = run(search(workspace, [proposer], policy=make_policy("ratchet"), max_experiments=7))
    assert time.monotonic() - start < 30  # the 60 s hang was killed at the 2 s timeout
    by_desc = {n.description: n for n in s.tree if n.kind != "root"}
    status = {d.split(" -> ")[0]: (n.status, n.reason) for d, n in by_desc.items()}
    assert status["crash=False"][0] == "crashed" and "synthetic crash" in status["crash=False"][1]
    assert status["hang_s=0.0"] == ("timeout", "killed after the 2s timeout")
    # Sandboxed, the write fails (read-only mount); without, the change is seen after.
    assert status["touch_readonly=False"][0] == "invalid"
    assert status["touch_readonly=False"][1].startswith("readonly file prepare.py")
    assert status["nan=False"] == ("crashed", "val_bpb is nan")
    assert "no 'val_bpb: <float>' line" in status['print(f"val_bpb:          {final:.6f}")'][1]
    syntax = by_desc["LR = 0.04 -> LR = 0.04 +"]
    assert syntax.status == "crashed" and "SyntaxError" in syntax.reason
    failed = [n for n in s.tree if n.status == "failed"]
    assert [n.reason for n in failed] == ["the model said nothing useful"]
    assert (workspace / ".autoresearch" / "logs" / f"{failed[0].id}.reply.md").read_text() == "???"
    lr = next(n for n in s.tree if n.description == "LR = 0.04 -> LR = 0.08")
    assert lr.status == "done" and math.isclose(
        lr.metric, 1.0 + 0.1 * 0.25 + 0.01 + 0.02, abs_tol=1e-6
    )
    # The hung process group is gone.
    hung = next(n for n in s.tree if n.status == "timeout")
    assert (
        "killed after the 2s timeout"
        in (workspace / ".autoresearch" / "logs" / f"{hung.id}.log").read_text()
    )


def test_broken_base_stops_with_a_clear_error(workspace: Path) -> None:
    (workspace / "train.py").write_text("raise SystemExit(3)\n")
    git(workspace, "commit", "-qam", "broken")
    notices: list[Notice] = []
    s = search(workspace, [Mutator(AgentSpec("explorer"))], max_experiments=5,
               listeners=[lambda e: notices.append(e) if isinstance(e, Notice) else None])  # fmt: skip
    run(s)
    assert s.tree.root.status == "crashed"
    assert any("the base n0000 crashed: exit code 3" in n.text for n in notices)


def test_children_begun_beside_a_failing_base_are_stopped_unmeasured(workspace: Path) -> None:
    (workspace / "train.py").write_text(
        "import time\n\nLR = 0.04\ntime.sleep(3)\nraise SystemExit(3)\n"
    )
    git(workspace, "commit", "-qam", "a base that fails after a while")
    slots = [Slot(f"cpu{i}", threads=1) for i in range(4)]  # base, 2 calibration runs, a child
    started: list[str] = []

    def listen(e: object) -> None:
        if isinstance(e, NodeChanged) and e.node.status == "running" and e.node.kind == "improve":
            started.append(e.node.id)

    s = run(search(workspace, [Mutator(AgentSpec("explorer"))], max_experiments=5, slots=slots,
                   listeners=[listen]))  # fmt: skip
    assert s.tree.root.status == "crashed"
    assert started, "a child should have started beside the base"
    children = [n for n in s.tree if n.kind in ("improve", "debug")]
    assert all(n.status not in FINISHED for n in children), [(n.id, n.status) for n in children]


def test_children_of_crashed_nodes_are_debug_children(workspace: Path) -> None:
    class BreakThenFix(ScriptedProposer):
        async def propose(self, request):
            fix = [("crash=True", "crash=False"), ("LR = 0.04", "LR = 0.05")]
            # each crash is a new change (a comment tells them apart): identical files
            # are never trained twice
            crash = [
                *set_knob("crash", True),
                ("import math", f"import math  # try {len(self.requests)}"),
            ]
            self.script = [fix if request.kind == "debug" else crash]
            return await super().propose(request)

    proposer = BreakThenFix([])
    s = run(search(workspace, [proposer], max_experiments=6, slots=CPU2[:1]))
    debug = [n for n in s.tree if n.kind == "debug"]
    assert debug, [(n.id, n.status, n.kind) for n in s.tree]
    for child in debug:
        assert s.tree[child.parent].status == "crashed"
        assert child.status in ("done", "ready")  # ready: proposed as the budget ran out
        assert len([c for c in s.tree.children(child.parent) if c.kind == "debug"]) == 1
    assert any(child.status == "done" for child in debug)
    request = next(r for r in proposer.requests if r.kind == "debug")
    assert "synthetic crash" in request.crash_log and "Traceback" in request.crash_log


def test_pipelining_keeps_both_slots_busy(workspace: Path) -> None:
    (workspace / "train.py").write_text(
        (workspace / "train.py").read_text().replace("hang_s=0.0", "hang_s=0.3")
    )
    git(workspace, "commit", "-qam", "slower")

    class SlowMutator(Mutator):
        async def propose(self, request):
            await asyncio.sleep(0.06)  # 20% of the run time
            return self.propose_sync(request)

    s = run(search(workspace, [SlowMutator(AgentSpec("explorer"))], max_experiments=10))
    spans = sorted((n.started_at, n.finished_at) for n in s.tree if n.kind != "root")
    overlapping = sum(1 for a, b in itertools.pairwise(spans) if b[0] < a[1])
    assert overlapping >= 6


def test_ratchet_is_sequential_and_always_extends_the_best(workspace: Path) -> None:
    s = run(search(workspace, [Mutator(AgentSpec("explorer"))], policy=make_policy("ratchet"),
                   max_experiments=15, seed=5))  # fmt: skip
    nodes = sorted((n for n in s.tree if n.kind != "root"), key=lambda n: n.id)
    best = s.tree.root
    for node in nodes:
        assert node.parent == best.id  # autoresearch: the next try starts from the best so far
        if node.metric < best.metric:
            best = node
    # One experiment at a time (the calibration runs take turns with the children).
    for a, b in itertools.pairwise(sorted(nodes, key=lambda n: n.started_at)):
        assert b.started_at >= a.finished_at


def test_prune_stops_running_experiments_and_excludes_the_subtree(workspace: Path) -> None:
    proposer = ScriptedProposer(
        [set_knob("hang_s", 30.0)] + [[("LR = 0.04", f"LR = 0.0{i}")] for i in range(5, 9)]
    )

    async def scenario() -> Scheduler:
        s = search(workspace, [proposer], max_experiments=3, slots=CPU2[:1])
        task = asyncio.create_task(s.run())
        await until(
            lambda: any(n.status == "running" and "hang_s" in n.description for n in s.tree),
            "the hanging experiment to run",
        )
        hung = next(n for n in s.tree if n.status == "running" and "hang_s" in n.description)
        await until(lambda: hung.pid, "the hanging experiment's pid")
        pid = hung.pid
        await s.prune(hung.id)
        await task
        assert not group_alive(pid)
        return s

    s = asyncio.run(scenario())
    hung = next(n for n in s.tree if "hang_s" in n.description)
    assert hung.pruned and hung.status == "ready" and hung.reason == "stopped before it finished"
    assert all(n.parent != hung.id for n in s.tree)
    store = Store(state_db_path(workspace))
    assert [e["node"] for e in store.events("prune")] == [hung.id]


def test_a_stop_as_a_run_is_marked_running_requeues_it(workspace: Path) -> None:
    """The stop lands while "running" is being saved, before the command starts: the node
    goes back to ready in the store too (not left "running" until the next start)."""
    s: Scheduler

    def stop_at_first_experiment(event) -> None:
        node = event.node if isinstance(event, NodeChanged) else None
        if node is not None and node.id == "n0001" and node.status == "running":
            s.stop()

    config = load_config(workspace, check_clean=False)
    once = dataclasses.replace(config.search, base_runs=1, confirm_runs=0)  # base, then n0001
    s = Scheduler(
        dataclasses.replace(config, search=once),
        [ScriptedProposer([[("LR = 0.04", "LR = 0.05")]])],
        max_experiments=1,
        slots=CPU2[:1],
        listeners=[stop_at_first_experiment],
    )
    run(s)
    stored = {n.id: n for n in Store(state_db_path(workspace)).load_nodes()}
    assert stored["n0001"].status == "ready" and stored["n0001"].started_at is None
    assert stored["n0001"].reason == "stopped before it finished"
    assert not (workspace / ".autoresearch" / "logs" / "n0001.log").exists()
    assert not any((workspace / ".autoresearch" / "worktrees").iterdir())


def test_one_runner_per_workspace(workspace: Path) -> None:
    """A second search on a workspace that another holds fails with a one-line error and
    touches nothing; once the first one ends, the workspace is free again."""
    import os

    import pytest

    from autoresearch_tui.search.runlock import WorkspaceBusy

    async def scenario() -> None:
        first = search(workspace, [Mutator(AgentSpec("explorer"))], max_experiments=0)
        await first.open()
        second = search(workspace, [Mutator(AgentSpec("explorer"))], max_experiments=0)
        with pytest.raises(WorkspaceBusy, match=f"pid {os.getpid()}") as busy:
            await second.open()
        assert "\n" not in str(busy.value) and f"status {workspace}" in str(busy.value)
        assert second.store is None
        await first.run()
        third = search(workspace, [Mutator(AgentSpec("explorer"))], max_experiments=0)
        await third.run()
        assert third.run_name == first.run_name

    asyncio.run(scenario())


def test_open_kills_strays_whose_pid_never_reached_the_store(workspace: Path) -> None:
    """A runner killed right after starting an experiment, before its pid was saved, leaves
    a process the store knows nothing of; the next start finds it by its environment."""
    import subprocess

    state = load_config(workspace, check_clean=False).state_dir
    state.mkdir(exist_ok=True)
    marker = {"AR_STATE_DIR": str(state.resolve())}
    stray = subprocess.Popen(["bash", "-c", "sleep 60 & wait"], env=experiment_env(marker),
                             start_new_session=True)  # fmt: skip
    elsewhere = subprocess.Popen(["sleep", "60"], start_new_session=True,
                                 env=experiment_env({"AR_STATE_DIR": f"{state}-other"}))  # fmt: skip
    try:

        def grandchildren() -> list[int]:  # bash's sleep, once bash has started it
            found = subprocess.run(["pgrep", "-g", str(stray.pid), "sleep"],
                                   capture_output=True, text=True).stdout  # fmt: skip
            return [int(pid) for pid in found.split()]

        wait_until(grandchildren, "bash to start its sleep", timeout=10)
        (grandchild,) = grandchildren()
        run(search(workspace, [Mutator(AgentSpec("explorer"))], max_experiments=0))
        assert stray.wait(timeout=5) == -9
        # SIGKILL is delivered asynchronously
        wait_until(lambda: not alive(grandchild), "the stray's sleep to die", timeout=5)
        assert elsewhere.poll() is None  # another workspace's experiment is not ours to kill
    finally:
        for proc in (stray, elsewhere):
            proc.kill()
            proc.wait()


def test_a_full_disk_under_a_run_crashes_that_node_and_the_search_goes_on(
    workspace: Path,
) -> None:
    """/dev/full answers every write with ENOSPC, as a full disk does."""
    logs = workspace / ".autoresearch" / "logs"
    logs.mkdir(parents=True)
    (logs / "n0003.log").symlink_to("/dev/full")  # the first experiment after the base runs
    s = run(search(workspace, [Mutator(AgentSpec("explorer"))], max_experiments=3, slots=CPU2[:1]))
    full = s.tree["n0003"]
    assert full.status == "crashed" and full.reason.startswith("disk full (No space left")
    ran = [n for n in s.tree if n.kind == "improve" and n.finished_at and n.id != "n0003"]
    assert len(ran) == 2 and all(n.status == "done" for n in ran)
    stored = Store(state_db_path(workspace)).load_nodes()
    assert next(n for n in stored if n.id == "n0003").reason == full.reason


def test_a_full_state_db_stops_the_search_and_a_restart_resumes_it(workspace: Path) -> None:
    """SQLite's max_page_count gives the writer the very error a full disk does."""
    import pytest

    from autoresearch_tui.search.store import StoreFailed

    notices: list[Notice] = []

    async def until_full() -> Scheduler:
        s = search(workspace, [Mutator(AgentSpec("explorer"))], max_experiments=40,
                   listeners=[lambda e: notices.append(e) if isinstance(e, Notice) else None])  # fmt: skip
        await s.open()
        pages = s.store.db.execute("pragma page_count").fetchone()[0]
        s.store.db.execute(f"pragma max_page_count = {pages + 2}")
        with pytest.raises(StoreFailed, match="database or disk is full"):
            await asyncio.wait_for(s.run(), 120)  # stops: no hang waiting on lost writes
        return s

    first = asyncio.run(until_full())
    assert "free disk space" in first.store_error and "\n" not in first.store_error
    assert [n.level for n in notices if "cannot write" in n.text] == ["error"]
    saved = {n.id: n for n in Store(state_db_path(workspace)).load_nodes()}
    done = {k for k, n in saved.items() if n.status == "done"}
    assert "n0000" in done
    # the disk has room again: the next start takes the workspace and goes on
    second = run(search(workspace, [Mutator(AgentSpec("explorer"))], more=2))  # the cap is saved
    assert all(second.tree[k].status == "done" for k in done)
    assert not any(n.status in ("running", "proposing") for n in second.tree)
    newly = [
        n for n in second.tree if n.finished_at and not (n.id in saved and saved[n.id].finished_at)
    ]
    assert len(newly) >= 2 and all(n.status == "done" for n in newly)


def test_resume_continues_the_same_tree(workspace: Path) -> None:
    first = run(search(workspace, [Mutator(AgentSpec("explorer"))], max_experiments=5, seed=1))
    before = {n.id: (n.status, n.metric, n.commit) for n in first.tree if n.finished_at}
    second = run(search(workspace, [Mutator(AgentSpec("explorer"))], more=5, seed=1))
    assert second.run_name == first.run_name
    after = {n.id: (n.status, n.metric, n.commit) for n in second.tree}
    assert all(after[k] == v for k, v in before.items())
    experiments = [
        n for n in second.tree
        if n.kind != "root" and not (n.kind == "rerun" and n.parent == "n0000")  # calibration
        and n.finished_at  # a node queued as the cap was hit stays ready
    ]  # fmt: skip
    assert len(experiments) == 10 and all(n.status == "done" for n in experiments)
    descriptions = [(n.parent, n.description) for n in second.tree if n.kind == "improve"]
    assert len(descriptions) == len(set(descriptions))  # the mutator never repeats a change


def test_rerun_is_a_seed_repeat_of_the_same_commit(workspace: Path) -> None:
    async def scenario():
        s = search(workspace, [Mutator(AgentSpec("explorer"))], max_experiments=0,
                   exit_when_idle=False)  # fmt: skip
        task = asyncio.create_task(s.run())
        await until(lambda: s.tree.root is not None and s.tree.root.status == "done",
                    "the base's run")  # fmt: skip
        rerun = await s.rerun("n0000")
        await until(lambda: s.tree[rerun.id].status == "done", "the re-run")
        s.stop()
        await task
        return s, s.tree[rerun.id]

    s, rerun = asyncio.run(scenario())
    root = s.tree.root
    assert rerun.kind == "rerun" and rerun.parent == root.id
    assert rerun.commit == root.commit and rerun.seed != root.seed
    assert rerun.metric == root.metric  # the synthetic target ignores AR_SEED


def test_requests_carry_what_the_runs_are(workspace: Path) -> None:
    """The parent's run figures (parsed from its real log and loss points), the machine
    and the budget reach a real request, and from it the prompt."""
    from autoresearch_tui.agents.prompt import build_task

    proposer = ScriptedProposer([[("import math", f"import math  # {i}")] for i in range(8)])
    run(search(workspace, [proposer], max_experiments=6))
    # The first proposals are made while the base still runs: no figures yet.
    measured = [r for r in proposer.requests if r.parent_run is not None]
    assert measured, [r.parent_id for r in proposer.requests]
    request = measured[-1]
    assert request.parent_run is not None and request.parent_run.steps == 5
    assert "cpu" in request.machine.lower() or "thread" in request.machine.lower()
    assert "## What the runs are" in build_task(request)
