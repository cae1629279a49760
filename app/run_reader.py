"""Read-only access to a run for the TUI: state.db, the repository, and their threads.

The scheduler stays the only writer of state.db; the TUI opens it read-only (WAL) and its
own `git.Repo`. Every read blocks, so each goes to one of two threads of the reader's own
(one for the store, one for git and log files), never the event loop. Also here: the tail
of a log, the diff of two commits as the diff view shows it, the export of a node's
patch, and the narrow poll of state.db that watch mode (another process runs the search)
repeats. See docs/ARCHITECTURE.md §3 On disk and §7 The TUI.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from rich.syntax import Syntax
from rich.text import Text

from autoresearch_tui.agents.request import LessonsNote
from autoresearch_tui.search.config import Config
from autoresearch_tui.search.gitops import GitWorkspace
from autoresearch_tui.search.model import Node
from autoresearch_tui.search.store import Store

T = TypeVar("T")
DIFF_MAX_LINES = 600
LOG_TAIL_BYTES = 32_768
LOG_TAIL_LINES = 200


class NotOpen(RuntimeError):
    """A read of a run before `RunReader.open` (or after `close`)."""


class RunReader:
    """One run's state.db (read-only) and repository, read on the reader's own threads."""

    def __init__(self) -> None:
        self._store: Store | None = None  # used on the store thread only
        self._git: GitWorkspace | None = None  # used on the git thread only
        self._store_thread = ThreadPoolExecutor(1, thread_name_prefix="tui-store")
        self._git_thread = ThreadPoolExecutor(1, thread_name_prefix="tui-git")
        self._versions: dict[str, tuple[Any, ...]] = {}  # node versions at the last poll

    @property
    def is_open(self) -> bool:
        return self._store is not None and self._git is not None

    async def _on(self, pool: ThreadPoolExecutor, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    def _need_store(self) -> Store:
        if self._store is None:
            raise NotOpen("the run is not open")
        return self._store

    def _need_git(self) -> GitWorkspace:
        if self._git is None:
            raise NotOpen("the run is not open")
        return self._git

    # -- opening and closing -------------------------------------------------------------
    async def open(self, config: Config) -> None:
        """Open state.db read-only and the repository (once; later calls do nothing)."""
        if self._store is None:
            self._store = await self._on(
                self._store_thread, partial(Store, readonly=True), config.db_path
            )
        if self._git is None:
            self._git = await self._on(
                self._git_thread, GitWorkspace, config.root, config.state_dir
            )

    def close(self) -> None:
        """Close state.db on its thread and let both threads end; never blocks."""
        store, self._store = self._store, None
        if store is not None:
            self._store_thread.submit(store.close)
        self._store_thread.shutdown(wait=False)
        self._git_thread.shutdown(wait=False)

    # -- state.db ------------------------------------------------------------------------
    async def run_meta(self) -> tuple[str, str]:
        """The run's name and base commit ("" while the runner has not written them)."""
        store = self._need_store()
        return await self._on(
            self._store_thread, lambda: (store.get_meta("run"), store.get_meta("base"))
        )

    async def last_pause_event(self) -> str:
        """The last of the person's pause/resume events ("" if none). (The scheduler also
        writes a "resume" event when it reopens a run; that one carries the run's name.)"""
        store = self._need_store()
        events = await self._on(self._store_thread, store.events)
        kinds = [
            e["kind"]
            for e in events
            if e["kind"] == "pause" or (e["kind"] == "resume" and "run" not in e["data"])
        ]
        return kinds[-1] if kinds else ""

    async def changed_nodes(self) -> list[Node]:
        """The nodes that changed since the last call (watch mode): a narrow query of the
        versions, then only the rows that changed. "proposing" nodes, which come and go,
        show from "ready" on."""
        return await self._on(self._store_thread, self._changed_nodes)

    def _changed_nodes(self) -> list[Node]:
        store = self._need_store()
        versions = store.node_versions()
        changed = [nid for nid, v in versions.items() if self._versions.get(nid) != v]
        self._versions = versions
        nodes = store.load_nodes(changed) if changed else []
        return [n for n in nodes if n.status != "proposing"]

    async def points(self, ids: Iterable[str]) -> dict[str, list[tuple[int, float]]]:
        """The stored loss points (step, loss) of each node."""
        store, wanted = self._need_store(), list(ids)
        return await self._on(self._store_thread, lambda: {n: store.load_points(n) for n in wanted})

    async def lessons_note(self) -> LessonsNote | None:
        """The run's current lessons note (the newest `lessons` event), or None."""
        store = self._need_store()
        return await self._on(self._store_thread, store.lessons_note)

    async def call_totals(self) -> dict[str, dict[str, float]]:
        """The agent calls' tokens and dollars, by persona ("" is the sum)."""
        store = self._need_store()
        return await self._on(self._store_thread, store.call_totals)

    # -- the repository and the logs -----------------------------------------------------
    async def diff_text(self, old: str, new: str) -> Text:
        """`git diff old new`, highlighted and cut at DIFF_MAX_LINES, for the diff view."""
        repo = self._need_git().repo
        return await self._on(self._git_thread, diff_text, repo, old, new)

    async def write_patch(self, base: str, commit: str, paths: list[str], path: Path) -> None:
        """Write the patch of `commit` against `base` (only `paths`) to `path`."""
        git = self._need_git()
        await self._on(self._git_thread, _write_patch, git, base, commit, paths, path)

    async def log_tail(self, path: Path) -> str:
        """The last lines of a log file ("" if there is none yet)."""
        return await self._on(self._git_thread, read_tail, path)

    async def file_exists(self, path: Path) -> bool:
        """Whether a file of the run (an agent's reply, a log) exists."""
        return await self._on(self._git_thread, path.exists)


def diff_text(repo: Any, old: str, new: str) -> Text:
    """The highlighted diff of two commits, at most DIFF_MAX_LINES lines (blocks)."""
    try:
        diff = repo.git.diff(old, new)
    except Exception as exc:  # a commit gone from the repository
        return Text(f"git diff failed: {exc}")
    lines = diff.splitlines()
    more = len(lines) - DIFF_MAX_LINES
    if more > 0:
        diff = "\n".join(lines[:DIFF_MAX_LINES])
    text = Syntax(diff or "(no change)", "diff", theme="ansi_dark").highlight(diff)
    text.rstrip()
    if more > 0:
        text.append(f"\n… {more} more lines (e exports the whole patch)", "italic")
    return text


def _write_patch(git: GitWorkspace, base: str, commit: str, paths: list[str], path: Path) -> None:
    patch = git.diff(base, commit, paths)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(patch)


def read_tail(path: Path, max_bytes: int = LOG_TAIL_BYTES, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a log (`\\r` counts as a line break, like the scheduler's parser)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            data = fh.read()
    except OSError:
        return ""
    text = data.decode(errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    kept = [line for line in text.split("\n") if line.strip()]
    if size > max_bytes and kept:
        kept = kept[1:]  # the first line is probably cut
    return "\n".join(kept[-lines:])


def pid_alive(pid: int) -> bool:
    """Whether process `pid` (the runner a watcher follows) still exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
