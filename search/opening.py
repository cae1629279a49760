"""Opening a run: take the workspace, create the run or resume it, hand back an `OpenRun`.

Blocking (SQLite, git): the scheduler calls `open_run` on its store thread. The runner
lock is taken before anything is touched (search/runlock.py). What a killed runner left
behind is cleaned here: its experiments' process groups (found by the `AR_STATE_DIR`
marker in their environment: their pids may never have reached state.db) are killed,
running nodes go back to ready (crashed when the runner died while they ran twice:
search/recovery.py), unfinished proposals are dropped, stray worktrees are removed, the
git notes a failing `git notes add` left out are written (docs/ARCHITECTURE.md §3). A
state.db that is gone, empty or not ours next to an earlier run's logs is refused; a run
whose base changed (HEAD moved, the `[target]` table edited) is archived and a new tree
starts; a run whose base failed and did not change is refused (search/runs.py).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field

from autoresearch_tui.agents.request import LessonsNote
from autoresearch_tui.search.bandit import persona_key
from autoresearch_tui.search.config import Config
from autoresearch_tui.search.gitops import GitWorkspace
from autoresearch_tui.search.model import ROOT_ID, Node
from autoresearch_tui.search.processes import kill_group, marked_groups
from autoresearch_tui.search.recovery import after_runner_death, write_missing_notes
from autoresearch_tui.search.runlock import release, take_runner_lock
from autoresearch_tui.search.runs import (
    BaseFailed,
    archive_current,
    base_change,
    base_failure,
    run_names,
    state_problem,
    target_digest,
)
from autoresearch_tui.search.store import Store, StoreFailed


def branch_name(run_name: str, node_id: str) -> str:
    return f"autoresearch/{run_name}/{node_id}"


@dataclass
class OpenRun:
    """A run this process holds: its store, its git workspace and what was loaded."""

    store: Store
    git: GitWorkspace
    run_name: str
    base_commit: str
    lock: int  # the runner lock's descriptor, for runlock.release
    state_dir_id: str  # AR_STATE_DIR of every experiment: how a later start finds strays
    created: bool  # a new run (the base's calibration runs are still to be queued)
    nodes: list[Node]
    readonly_ids: dict[str, str]  # readonly path -> its blob id in the base commit
    hints: list[str]
    lessons: LessonsNote | None  # the current lessons note (search/lessons.py)
    lessons_tried: int  # experiments at the last note a model wrote or failed to write
    merges_skipped: set[frozenset[str]]  # pairs a merge was tried for and skipped
    cost_usd: float  # agent calls so far
    agent_usd: dict[str, float]  # persona@backend -> its agent calls' dollars
    notices: list[str] = field(default_factory=list)  # what the person is told on opening

    def branch(self, node_id: str) -> str:
        return branch_name(self.run_name, node_id)


def state_dir_id(config: Config) -> str:
    """The `AR_STATE_DIR` value of this workspace's experiments."""
    return str(config.state_dir.resolve())


def cannot_open(config: Config, exc: sqlite3.Error) -> StoreFailed:
    """The error for a state.db that could not be opened (or written while opening)."""
    return StoreFailed(
        f"cannot open {config.db_path} ({exc}) — free disk space if it is full; if the "
        "file is damaged, move .autoresearch aside to start a new run"
    )


def open_run(config: Config, seed: int) -> OpenRun:
    """Take the workspace, then open or create its run. Raises WorkspaceBusy when another
    runner holds it, StoreFailed for a state.db that is not to be opened (one line),
    BaseFailed when the unchanged base failed, sqlite3.Error when state.db cannot be read
    or written."""
    assert config.archive is None, "an archived run is read only"
    lock = take_runner_lock(config.state_dir)  # before anything is touched
    try:
        marker = state_dir_id(config)
        # What a killed runner left running; no other runner has this workspace now.
        for group in marked_groups(f"AR_STATE_DIR={marker}"):
            kill_group(group)
        if problem := state_problem(config):
            raise StoreFailed(problem)
        git = GitWorkspace(config.root, config.state_dir)
        store, archived = _current_store(config, git)
        try:
            return _load(config, seed, store, git, lock, marker, archived)
        except BaseException:
            store.close()
            raise
    except BaseException:
        release(lock)
        raise


def _current_store(config: Config, git: GitWorkspace) -> tuple[Store, tuple[str, str] | None]:
    """The store of the run to open: the current one, or a new one after archiving the
    current run when its base changed (then also its name and why)."""
    store = Store(config.db_path)
    old = store.get_meta("run")
    if not old:
        return store, None
    base, digest = store.get_meta("base"), store.get_meta("target")
    why = base_change(config.root, base, digest, git.head_commit())
    if not why:
        return store, None
    store.close()
    git.clean_worktrees()  # the old run's, if its runner was killed
    archive_current(config, old)
    return Store(config.db_path), (old, why)


def _load(
    config: Config, seed: int, store: Store, git: GitWorkspace, lock: int, marker: str,
    archived: tuple[str, str] | None,
) -> OpenRun:  # fmt: skip
    run_name = store.get_meta("run")
    created = not run_name
    notices = []
    if created:
        run_name, base_commit = _create(config, store, git, seed)
        if archived is not None:
            old, why = archived
            notices.append(
                f"{why}: new run {run_name}; the old run is kept as {old}: "
                f"`autoresearch-tui runs {config.root}`"
            )
    else:
        base_commit = store.get_meta("base")
        root = store.load_nodes([ROOT_ID])
        if failed := base_failure(config, root[0] if root else None, still=True):
            raise BaseFailed(failed)
        store.add_event("resume", "", run=run_name)
    nodes = _requeue_unfinished(store)
    base_node = next((n for n in nodes if n.id == ROOT_ID), None)
    if not created and (failed := base_failure(config, base_node)):
        raise BaseFailed(failed)  # the base killed the runner twice (search/recovery.py)
    git.clean_worktrees()
    if problem := write_missing_notes(git, nodes, config.target.metric):
        notices.append(problem)  # a note a failing `git notes add` left out (recovery.py)
    agent_usd = {persona_key(p, b): usd for (p, b), usd in store.agent_usd().items()}
    return OpenRun(
        store=store,
        git=git,
        run_name=run_name,
        base_commit=base_commit,
        lock=lock,
        state_dir_id=marker,
        created=created,
        nodes=nodes,
        readonly_ids=git.blob_ids(base_commit, config.target.readonly),
        hints=[e["data"].get("text", "") for e in store.events("hint")],
        lessons=store.lessons_note(),
        lessons_tried=_lessons_tried(store),
        merges_skipped={
            frozenset((e["node"], e["data"].get("other", "")))
            for e in store.events("merge-skipped")
        },
        cost_usd=store.call_totals()[""]["cost_usd"] or 0.0,
        agent_usd=agent_usd,
        notices=notices,
    )


def _lessons_tried(store: Store) -> int:
    """The experiment count of the last note a model wrote or failed to write."""
    tried = store.events("lessons-failed") + [
        e for e in store.events("lessons") if e["data"].get("source") == "model"
    ]
    return max((int(e["data"].get("at", 0)) for e in tried), default=0)


def _create(config: Config, store: Store, git: GitWorkspace, seed: int) -> tuple[str, str]:
    """A new run: its name, the base commit, the root node and its branch."""
    run_name = _new_name(config, git, time.strftime("%Y%m%d-%H%M%S"))
    base_commit = git.head_commit()
    store.set_meta("run", run_name)
    store.set_meta("base", base_commit)
    store.set_meta("target", target_digest(config.root))
    store.set_meta("created_at", str(time.time()))
    store.set_meta("seed", str(seed))
    root = Node(
        id=ROOT_ID, parent=None, status="ready", kind="root", persona="base",
        description="base commit", branch=branch_name(run_name, ROOT_ID),
        commit=base_commit, created_at=time.time(), seed=seed,
    )  # fmt: skip
    git.set_branch(root.branch, root.commit)
    store.save_node(root)
    store.add_event("start", "", run=run_name, base=base_commit)
    return run_name, base_commit


def _new_name(config: Config, git: GitWorkspace, stamp: str) -> str:
    """`stamp`, or `stamp-2`, ... when a kept run (or its branches) already has it."""
    taken = set(run_names(config))
    for n in range(1, 1000):
        name = stamp if n == 1 else f"{stamp}-{n}"
        if name not in taken and not git.repo.git.for_each_ref(f"refs/heads/autoresearch/{name}/"):
            return name
    raise RuntimeError(f"no free run name for {stamp}")


def _requeue_unfinished(store: Store) -> list[Node]:
    """The stored nodes, with runs the last runner left running back to ready and its
    unfinished proposals dropped."""
    kept = []
    for node in store.load_nodes():
        if node.status == "running":  # ready again, or crashed at the second death
            after_runner_death(store, node)
        elif node.status == "proposing":
            store.delete_node(node.id)
            store.add_event("drop", node.id, reason="proposal unfinished when the runner stopped")
            continue
        kept.append(node)
    return kept
