"""What the parts of one open search share: the `RunContext`, and the threads that do the
blocking work (docs/ARCHITECTURE.md §2).

The scheduler is asyncio; SQLite and git block. SQLite work runs on one thread (the
store's connection is not shared across threads), git set-up (worktrees, commits,
reads) on another, and the git notes written after a run on a third, so that a run's
teardown never delays the next one's set-up. A SQLite error on the store thread means
state.db cannot be written: `Threads` reports it once to the scheduler, which stops.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, TypeVarTuple

from autoresearch_tui.search.config import Config
from autoresearch_tui.search.events import Event, NodeChanged
from autoresearch_tui.search.gitops import GitWorkspace
from autoresearch_tui.search.model import Node
from autoresearch_tui.search.opening import OpenRun
from autoresearch_tui.search.recovery import WorkspaceUnwritable
from autoresearch_tui.search.store import Store
from autoresearch_tui.search.tree import Tree

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


def store_failure(db_path: Path, exc: sqlite3.Error) -> str:
    """The one line that says state.db (or the workspace: search/recovery.py) cannot be
    written, and the fix."""
    if isinstance(exc, WorkspaceUnwritable):
        return str(exc)
    disk = any(w in str(exc) for w in ("full", "I/O", "readonly"))
    fix = "free disk space (or fix the file system)" if disk else "fix that"
    return (
        f"cannot write {db_path} ({exc}) — {fix}, then start again: the search resumes "
        "from what was saved"
    )


class Threads:
    """The store thread, the git set-up thread and the git teardown thread."""

    def __init__(self, on_store_error: Callable[[sqlite3.Error], None]) -> None:
        self.on_store_error = on_store_error
        self._db = ThreadPoolExecutor(1, thread_name_prefix="ar-store")
        self._git = ThreadPoolExecutor(1, thread_name_prefix="ar-git")
        self._teardown = ThreadPoolExecutor(1, thread_name_prefix="ar-git-teardown")

    async def db(self, fn: Callable[[*Ts], T], *args: *Ts) -> T:
        """`fn(*args)` on the store thread; a SQLite error is reported, then raised."""
        try:
            return await self.db_unreported(fn, *args)
        except sqlite3.Error as exc:
            self.on_store_error(exc)
            raise

    async def db_unreported(self, fn: Callable[[*Ts], T], *args: *Ts) -> T:
        """`fn(*args)` on the store thread, errors left to the caller (opening, closing)."""
        return await asyncio.get_running_loop().run_in_executor(self._db, fn, *args)

    def db_soon(self, fn: Callable[[*Ts], object], *args: *Ts) -> None:
        """Queue `fn(*args)` on the store thread without waiting (a run's live progress)."""
        self._db.submit(fn, *args)

    async def git(self, fn: Callable[[*Ts], T], *args: *Ts) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._git, fn, *args)

    async def teardown(self, fn: Callable[[*Ts], T], *args: *Ts) -> T:
        """Git notes after a run: plain git commands only (no object-database reads,
        which GitPython does not share across threads), on a thread of their own so they
        never delay the next experiment's set-up."""
        return await asyncio.get_running_loop().run_in_executor(self._teardown, fn, *args)

    def shutdown(self) -> None:
        """Let the queued work finish, then end the threads."""
        self._db.shutdown(wait=True)
        self._git.shutdown(wait=True)
        self._teardown.shutdown(wait=True)


@dataclass
class RunContext:
    """One open run as its parts see it: settings, tree, store and git, threads, and the
    scheduler's ways to tell the views (`emit`, `notice`) and itself (`wake`)."""

    config: Config
    tree: Tree
    run: OpenRun
    threads: Threads
    emit: Callable[[Event], None]
    notice: Callable[[str, str], None]  # (text, level: info | warning | error)
    wake: Callable[[], None]
    seed: int  # the search's base seed (AR_SEED of the base's first run)

    @property
    def store(self) -> Store:
        return self.run.store

    @property
    def git(self) -> GitWorkspace:
        return self.run.git

    def branch(self, node_id: str) -> str:
        return self.run.branch(node_id)

    async def save(self, node: Node) -> None:
        """Write a node and tell the views; every change to a node passes through here."""
        self.tree.touch()
        await self.threads.db(self.store.save_node, copy.copy(node))
        self.emit(NodeChanged(copy.copy(node)))

    async def event(self, kind: str, node: str = "", **data: Any) -> None:
        """Add a row to state.db's events table."""
        await self.threads.db(functools.partial(self.store.add_event, kind, node, **data))
