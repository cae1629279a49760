"""Opening a workspace's run: resumed while its base holds, archived when HEAD or the
[target] table changed, and the one-runner lock, which no deleted file defeats."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from synthetic import git, make_workspace

from autoresearch_tui.search.config import load_config
from autoresearch_tui.search.opening import OpenRun, open_run
from autoresearch_tui.search.runlock import WorkspaceBusy, release, runner_pid, take_runner_lock
from autoresearch_tui.search.runs import UnknownRun, config_for_run, list_runs, starts_new_run


def opened(ws: Path) -> OpenRun:
    run = open_run(load_config(ws, check_clean=False), seed=0)
    run.store.close()
    release(run.lock)
    return run


def test_a_run_resumes_until_its_target_changes_then_it_is_kept(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    git(ws, "rm", "-q", "--cached", "autoresearch.toml")  # an untracked toml is accepted
    git(ws, "commit", "-qm", "untrack the toml")
    first = opened(ws)
    assert first.created and first.notices == []
    toml = ws / "autoresearch.toml"
    toml.write_text(toml.read_text().replace("slots  = 2", "slots  = 1"))  # [search] only
    assert not starts_new_run(load_config(ws, check_clean=False))
    assert not opened(ws).created
    toml.write_text(toml.read_text().replace("timeout_s = 30", "timeout_s = 60"))
    assert starts_new_run(load_config(ws, check_clean=False))
    second = opened(ws)
    assert second.created and second.run_name != first.run_name
    assert second.notices == [
        f"the [target] table of autoresearch.toml changed: new run {second.run_name}; the old "
        f"run is kept as {first.run_name}: `autoresearch-tui runs {ws}`"
    ]
    config = load_config(ws, check_clean=False)
    assert [r.name for r in list_runs(config)] == [second.run_name, first.run_name]
    kept = config_for_run(config, first.run_name)
    assert kept.db_path == ws / ".autoresearch" / "runs" / first.run_name / "state.db"
    assert config_for_run(config, second.run_name) == config
    with pytest.raises(UnknownRun, match="known runs: "):
        config_for_run(config, "nope")


def test_two_runs_in_the_same_second_never_share_branches(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    names = []
    for n in range(3):
        names.append(opened(ws).run_name)
        (ws / "prepare.py").write_text(f"TIME_BUDGET = {n + 2}\n")
        git(ws, "commit", "-qam", f"change {n}")
    assert len(set(names)) == 3
    heads = git(ws, "for-each-ref", "--format=%(refname)", "refs/heads/autoresearch/").split()
    assert sorted(heads) == sorted(f"refs/heads/autoresearch/{n}/n0000" for n in names)


def test_the_lock_holds_when_its_files_are_deleted(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    state = ws / ".autoresearch"
    fd = take_runner_lock(state)
    try:
        (state / "runner.pid").unlink()
        assert runner_pid(state) == os.getpid()  # from /proc/locks
        with pytest.raises(
            WorkspaceBusy, match=f"another autoresearch-tui \\(pid {os.getpid()}\\)"
        ):
            take_runner_lock(state)
    finally:
        release(fd)
    assert runner_pid(state) == 0
    release(take_runner_lock(state))
