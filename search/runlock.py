"""One runner per workspace: an exclusive `flock` on the workspace's root directory.

A second `autoresearch-tui run` on the same workspace would re-queue the first one's
experiments and kill them as strays; it gets a one-line error naming the runner's pid
instead. The lock is on the directory itself, not on a file in it: an experiment can
delete any file of `.autoresearch/`, but not the directory it runs under, so no file
it removes lets a second runner in. The kernel drops the lock when its holder exits,
however it exits (kill -9 included), so a resume after a crash never finds a stale lock.
`.autoresearch/runner.pid` holds the runner's pid for messages only (the holder's own
pid namespace); /proc/locks names it when that file is gone. See docs/ARCHITECTURE.md §3.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

PID_FILE = "runner.pid"


class WorkspaceBusy(RuntimeError):
    """Another runner holds the workspace; `pid` is its process id (0: unknown)."""

    def __init__(self, message: str, pid: int) -> None:
        super().__init__(message)
        self.pid = pid


def busy(state_dir: Path, pid: int) -> WorkspaceBusy:
    """The error for a workspace that process `pid` (0: unknown) runs."""
    holder, root = str(pid or "?"), state_dir.parent
    return WorkspaceBusy(
        f"another autoresearch-tui (pid {holder}) is running the search in {root}; "
        f"stop it first (Ctrl+C in its window, or kill {holder}), or watch it with "
        f"`autoresearch-tui {root}` or `autoresearch-tui status {root}`",
        pid,
    )


def take_runner_lock(state_dir: Path) -> int:
    """Lock the workspace of `state_dir` (its parent directory) for this process; return
    the descriptor to `release` later."""
    state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(state_dir.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise busy(state_dir, runner_pid(state_dir)) from None
    try:  # the pid is for messages only: a full disk must not stop the runner here
        (state_dir / PID_FILE).write_text(f"{os.getpid()}\n")
    except OSError:
        pass
    return fd


def _written_pid(state_dir: Path) -> int:
    """The pid the runner wrote; 0 when it could not (a full disk) or the file is gone."""
    try:
        text = (state_dir / PID_FILE).read_text(errors="replace").strip()
    except OSError:
        return 0
    return int(text) if text.isdigit() else 0


def release(fd: int) -> None:
    os.close(fd)  # closing the descriptor drops the lock


def runner_pid(state_dir: Path) -> int:
    """The pid of the runner holding the workspace of `state_dir`, 0 when none does. Read
    from /proc/locks: probing with flock itself could make a runner that starts at that
    moment fail."""
    try:
        inode = state_dir.parent.stat().st_ino
        locks = Path("/proc/locks").read_text()
    except OSError:
        return 0
    for line in locks.splitlines():
        fields = line.split()  # "1: FLOCK  ADVISORY  WRITE <pid> <maj:min:inode> 0 EOF"
        # the inode alone: the device numbers differ from stat's on btrfs subvolumes
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5].endswith(f":{inode}"):
            kernel = int(fields[4]) if fields[4].isdigit() else 0
            # the holder's own pid (its pid namespace) when it wrote one, else the kernel's
            return _written_pid(state_dir) or kernel
    return 0
