"""Catching a run that changed what it must not: its readonly files and git's own files.

A file's `Facts` are its identity (device, inode), kind (a symlink is not the file),
size, mtime and ctime: a write, even one undone with the old content and mtime, moves
the ctime, so comparing facts before and after catches it; `Watch` also compares them
while the run goes (a poll). `GitGuard` keeps the repository's control files (config,
hooks, info/attributes) as they were when the runner opened the run: a run that changed
them is invalid, and they are put back before git runs again (docs/ARCHITECTURE.md §6).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import stat
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

POLL_S = 0.5  # how often a running run's watched files are compared
T = TypeVar("T")


def git_blob_id(data: bytes) -> str:
    """The id git gives a blob with this content (to check readonly files on disk)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass(frozen=True)
class Facts:
    kind: str  # "file", "link", "dir", "other", "missing"
    dev: int = 0
    ino: int = 0
    size: int = 0
    mtime_ns: int = 0
    ctime_ns: int = 0


def facts(path: Path) -> Facts:
    """What `path` is now, without following a symlink."""
    try:
        st = path.lstat()
    except OSError:
        return Facts("missing")
    mode = st.st_mode
    kind = (
        "link" if stat.S_ISLNK(mode) else "file" if stat.S_ISREG(mode)
        else "dir" if stat.S_ISDIR(mode) else "other"
    )  # fmt: skip
    return Facts(kind, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class Watch:
    """Files (label -> path) that must stay as they are for the length of a run."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files
        self.before = {label: facts(path) for label, path in files.items()}
        self.changed = ""  # the first label seen changed (it stays: an undo does not count)

    def check(self) -> str:
        """The first watched file that changed since the start (ever seen), or ""."""
        if not self.changed:
            for label, path in self.files.items():
                if facts(path) != self.before[label]:
                    self.changed = label
                    break
        return self.changed


def git_control(git_dir: Path) -> dict[str, Path]:
    """The repository's files an experiment could plant commands in, and every hook."""
    files = {f".git/{name}": git_dir / name for name in ("config", "config.worktree", "hooks")}
    files[".git/info/attributes"] = git_dir / "info" / "attributes"
    hooks = git_dir / "hooks"
    if hooks.is_dir():
        for hook in sorted(hooks.iterdir()):
            files[f".git/hooks/{hook.name}"] = hook
    return files


class GitGuard:
    """The control files as the runner found them: `watch()` per run, `restore()` after
    a run changed them."""

    def __init__(self, git_dir: Path) -> None:
        self.git_dir = git_dir
        self.saved: dict[Path, tuple[bytes, int] | None] = {}  # content and mode
        for path in git_control(git_dir).values():
            if path.is_file() and not path.is_symlink():
                self.saved[path] = (path.read_bytes(), stat.S_IMODE(path.stat().st_mode))
            elif not path.exists():
                self.saved[path] = None  # absent: one that appears is removed

    def watch(self) -> Watch:
        return Watch(git_control(self.git_dir))

    def restore(self) -> None:
        """Put the control files back: what a run planted goes, what it changed returns."""
        for path in git_control(self.git_dir).values():
            if path not in self.saved and path.parent.name == "hooks":
                _remove(path)  # a new hook
        for path, saved in self.saved.items():
            if saved is None:
                if path.name != "hooks":
                    _remove(path)
                continue
            data, mode = saved
            if path.is_symlink() or not path.is_file() or path.read_bytes() != data:
                _remove(path)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            with contextlib.suppress(OSError):
                path.chmod(mode)


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            os.unlink(path)


class RunChecks:
    """One run's checks: its readonly files (content against the base commit, facts
    before, during and after) and git's control files. Each check gives the reason the
    run is invalid, or ""."""

    def __init__(self, worktree: Path, readonly_ids: dict[str, str], git: GitGuard) -> None:
        self.worktree = worktree
        self.readonly_ids = readonly_ids  # path -> its blob id in the base commit
        self.git = git
        self.files = Watch({path: worktree / path for path in readonly_ids})
        self.control = git.watch()

    def content_changed(self) -> str:
        """The first readonly file whose content is not the base commit's, or ""."""
        for path, blob in self.readonly_ids.items():
            file = self.worktree / path
            try:
                if file.is_symlink() or git_blob_id(file.read_bytes()) != blob:
                    return path
            except OSError:
                return path
        return ""

    def removed(self, when: str) -> str:
        """Why the run does not count when its worktree is gone (removed by hand, by a
        `git worktree prune`, by the run itself), or ""."""
        if self.worktree.is_dir():
            return ""
        shown = os.path.relpath(self.worktree, self.git.git_dir.parent)
        return f"the worktree {shown} was removed {when} the run"

    def before(self) -> str:
        if removed := self.removed("before"):
            return removed
        if changed := self.content_changed():
            return f"readonly file {changed} differs from the base"
        return ""

    async def during(self, run: Awaitable[T]) -> T:
        """Await `run`, comparing the watched files' facts every POLL_S meanwhile."""
        task = asyncio.ensure_future(run)
        try:
            while not (await asyncio.wait({task}, timeout=POLL_S))[0]:
                self.files.check()
                self.control.check()
        except BaseException:  # cancelled: the run stops (its executor kills it) first
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            raise
        return task.result()

    def after(self) -> str:
        """Why the run is invalid (the worktree gone, a readonly file changed even if undone,
        git's files changed: they are put back), or ""."""
        if removed := self.removed("during"):
            return removed
        if changed := self.files.check() or self.content_changed():
            return f"readonly file {changed} was changed by the run"
        if changed := self.control.check():
            self.git.restore()
            return f"the run changed {changed} (git's own files; put back as they were)"
        return ""
