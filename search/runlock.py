"""One runner per workspace: an exclusive `flock` on `.autoresearch/runner.lock`.

A second `autoresearch-tui run` on the same workspace would re-queue the first one's
experiments and kill them as strays; it gets a one-line error instead. The kernel drops
the lock when its holder exits, however it exits (kill -9 included), so a resume after
a crash never finds a stale lock. See docs/ARCHITECTURE.md §3.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


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
    """Lock `state_dir` for this process; return the descriptor to `release` later."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "runner.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = _written_pid(os.read(fd, 32))
        os.close(fd)
        raise busy(state_dir, pid) from None
    try:  # the pid is for messages only: a full disk must not stop the runner here
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError:
        pass
    return fd


def _written_pid(data: bytes) -> int:
    """The pid a runner wrote into the lock file; 0 when it could not (a full disk)."""
    text = data.decode(errors="replace").strip()
    return int(text) if text.isdigit() else 0


def release(fd: int) -> None:
    os.close(fd)  # closing the descriptor drops the lock


def runner_pid(state_dir: Path) -> int:
    """The pid of the runner holding `state_dir`, 0 when none does. Read from /proc/locks:
    probing with flock itself could make a runner that starts at that moment fail."""
    path = state_dir / "runner.lock"
    try:
        st = path.stat()
        locks = Path("/proc/locks").read_text()
    except OSError:
        return 0
    for line in locks.splitlines():
        fields = line.split()  # "1: FLOCK  ADVISORY  WRITE <pid> <maj:min:inode> 0 EOF"
        # the inode alone: the device numbers differ from stat's on btrfs subvolumes
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5].endswith(f":{st.st_ino}"):
            # the holder's own pid (its pid namespace), else the kernel's
            return _written_pid(path.read_bytes()) or int(fields[4])
    return 0
