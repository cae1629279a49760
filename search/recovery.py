"""Faults the runner recovers from, or stops on with one line (docs/ARCHITECTURE.md §2).

* Git notes that cannot be written (a stale `refs/notes/autoresearch.lock`, a full
  disk): the result is in state.db already; `PendingNotes` keeps the note and writes it
  with the next finished run's, and `write_missing_notes` writes every finished node's
  missing note at the next start. One warning names the cause and the fix.
* A node that was running each time the runner died, twice (an experiment that kills
  the runner): `after_runner_death` marks it crashed instead of re-queuing it again; the
  deaths are counted from state.db's `requeue` events.
* A workspace that becomes unwritable (`.autoresearch` read-only, permissions, a full
  disk): `unwritable` turns the error of a write to the workspace's own paths into the
  one line the search stops with; `WorkspaceUnwritable` carries it down the path a
  state.db that cannot be written takes (search/context.py).
"""

from __future__ import annotations

import errno
import os
import re
import sqlite3
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from autoresearch_tui.search.gitops import NOTES_REF, GitWorkspace
from autoresearch_tui.search.model import FINISHED, Node
from autoresearch_tui.search.store import Store

if TYPE_CHECKING:  # context.py imports this module
    from autoresearch_tui.search.context import RunContext

RUNNER_DIED = "was running when the runner stopped"  # a `requeue` event's reason
DIED_TWICE = "the runner died while it ran, twice"
DEATHS = 2  # a node running at this many deaths of the runner is crashed
# The errors that mean a path cannot be written, and the fix said for each.
WRITE_ERRORS = {
    errno.EACCES: "make it writable and run again",
    errno.EPERM: "make it writable and run again",
    errno.EROFS: "make it writable and run again",
    errno.ENOSPC: "free disk space and run again",
    errno.EDQUOT: "free disk space (over quota) and run again",
}
LOCK_RE = re.compile(r"Unable to create '([^']+\.lock)'")
PATH_RE = re.compile(r"'([^'\s]*/[^'\s]*)'")  # a quoted path in git's message


class WorkspaceUnwritable(sqlite3.OperationalError):
    """The workspace cannot be written: the search stops as it does when state.db cannot
    be (its message is the whole line)."""


# -- notes -------------------------------------------------------------------------------
def note_text(node: Node, metric: str) -> str:
    """A finished node's git note: its metric, or its status and reason."""
    return f"{metric}: {node.metric}" if node.has_metric else f"{node.status}: {node.reason}"


def notes_problem(exc: Exception, root: Path) -> str:
    """The warning for notes that could not be written: the cause and the fix."""
    text = str(getattr(exc, "stderr", "") or exc)
    if found := LOCK_RE.search(text):
        lock = Path(found.group(1))
        shown = os.path.relpath(lock, root) if lock.is_absolute() else str(lock)
        return (
            f"cannot write git notes: {shown} exists (left by a git command that died) — "
            f"if no git command is running, `rm {shown}`; the results are saved in "
            "state.db, their notes are written after the next run or at the next start"
        )
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    cause = next((line for line in lines if "error" in line or "fatal" in line), "")
    cause = cause or (lines[-1] if lines else type(exc).__name__)
    return (
        f"cannot write git notes ({cause[:200]}) — free disk space or fix the repository; "
        "the results are saved in state.db, their notes are written after the next run "
        "or at the next start"
    )


class PendingNotes:
    """Notes not written yet (commit -> text), written with the next one. Used from the
    git teardown thread only."""

    def __init__(self, git: GitWorkspace, root: Path) -> None:
        self.git, self.root = git, root
        self.pending: dict[str, str] = {}
        self.warned = False  # one warning until notes are written again

    def write(self, commit: str, text: str) -> str:
        """Write this note and the ones still pending; the warning to give (once), or ""."""
        self.pending.pop(commit, None)
        self.pending[commit] = text  # the newest note of a commit wins
        for pending, note in list(self.pending.items()):
            try:
                self.git.add_note(pending, note)
            except Exception as exc:  # a stale lock, a full disk: the result is saved
                if self.warned:
                    return ""
                self.warned = True
                return notes_problem(exc, self.root)
            del self.pending[pending]
        self.warned = False
        return ""


def write_missing_notes(git: GitWorkspace, nodes: Iterable[Node], metric: str) -> str:
    """At a start: write the note of every finished node whose commit has none (the
    newest finished node of a commit wins); the warning when they cannot be, or ""."""
    noted = set(git.repo.git.notes("--ref", NOTES_REF, "list").split()[1::2])
    latest: dict[str, Node] = {}
    for node in sorted(nodes, key=lambda n: n.finished_at or 0):  # the newest last
        if node.status in FINISHED and node.commit and node.commit not in noted:
            latest[node.commit] = node
    for commit, node in latest.items():
        try:
            git.add_note(commit, note_text(node, metric))
        except Exception as exc:
            text = str(getattr(exc, "stderr", "") or exc)
            if "failed to resolve" not in text and "bad object" not in text:
                return notes_problem(exc, git.root)
            # a commit that is gone (its branch deleted and collected): nothing to note
    return ""


# -- a runner killed while a node ran ----------------------------------------------------
def runner_deaths(store: Store, node_id: str) -> int:
    """How many times the runner died while `node_id` was running (before this start)."""
    return sum(
        1
        for event in store.events("requeue")
        if event["node"] == node_id and event["data"].get("reason") == RUNNER_DIED
    )


def after_runner_death(store: Store, node: Node) -> None:
    """A node the dead runner left running: back to ready, or crashed when the runner
    died while it ran twice (an experiment that kills the runner)."""
    node.slot, node.pid = "", 0
    died = runner_deaths(store, node.id) + 1
    if died >= DEATHS:
        node.status, node.reason, node.finished_at = "crashed", DIED_TWICE, time.time()
        store.save_node(node)
        store.add_event("finished", node.id, status=node.status, metric=None, died=died)
        return
    node.status, node.started_at = "ready", None
    store.clear_points(node.id)
    store.save_node(node)
    store.add_event("requeue", node.id, reason=RUNNER_DIED, died=died)


# -- an unwritable workspace -------------------------------------------------------------
def _existing(path: Path) -> Path:
    """`path`, or its nearest ancestor that exists (the folder that cannot be written)."""
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def unwritable(exc: BaseException, root: Path) -> str:
    """The line to stop with when `exc` is a write to the workspace's own paths that
    failed for want of permission or space ("" for any other error)."""
    path, code = "", 0
    if isinstance(exc, OSError) and exc.errno in WRITE_ERRORS and exc.filename:
        path, code = str(exc.filename), exc.errno
    else:
        text = str(getattr(exc, "stderr", "") or "")
        code = next((c for c in WRITE_ERRORS if os.strerror(c) in text), 0)
        path = next(iter(PATH_RE.findall(text)), "") if code else ""
    if not code or not path:
        return ""
    full = Path(path) if os.path.isabs(path) else root / path
    try:
        full.resolve().relative_to(root.resolve())
    except ValueError:
        return ""  # not the workspace's: the run's own business
    where = _existing(full)
    return f"cannot write {where} ({os.strerror(code)}): {WRITE_ERRORS[code]}"


def probe_writes(folders: Iterable[Path]) -> str:
    """The line to stop with when one of `folders` refuses a new file, else "". For the
    errors whose text names no path (git's "unable to create file x: ...")."""
    for folder in folders:
        try:
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as exc:
            if exc.errno in WRITE_ERRORS:
                return (
                    f"cannot write {folder} ({os.strerror(exc.errno)}): {WRITE_ERRORS[exc.errno]}"
                )
    return ""


def stop_if_unwritable(ctx: RunContext, exc: BaseException) -> bool:
    """When `exc` says the workspace cannot be written, stop the search with the line (the
    way a state.db that cannot be written stops it) and say True. A git or OS error that
    names no path: the run's own folders are tried."""
    state = ctx.config.state_dir
    line = unwritable(exc, ctx.config.root)
    if not line and (isinstance(exc, OSError) or hasattr(exc, "stderr")):
        folders = (state / "worktrees", ctx.config.log_dir, state)
        line = probe_writes(folder for folder in folders if folder.is_dir())
    if line:
        ctx.threads.on_store_error(WorkspaceUnwritable(line))
        return True
    return False
