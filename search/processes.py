"""An experiment's process: its environment, its command line, and its process group.

Shared by the local executor and the Ray task (docs/ARCHITECTURE.md §6). The command runs
under `bash -c` in a process group of its own (and, where `setpriv` exists, dies with the
runner), inside the sandbox where there is one (search/sandbox.py); stopping it sends the
whole group SIGTERM, then SIGKILL. The environment carries no variable whose name looks
secret (KEY, TOKEN, SECRET, PASSWORD, CREDENTIAL), none of `[search] env_drop` or the
agents' `api_key_env`, except those `[search] env_keep` passes on purpose. Every
experiment also carries `AR_STATE_DIR` and `AR_NODE`, the marker by which the end of its
run (`kill_marked`) and a later start (`marked_groups`) find what it left running
(docs/ARCHITECTURE.md §3). The runner itself is not dumpable (`undumpable`): a process of
the same non-root user cannot read its `/proc/<pid>/environ`. PATH is the runner's as it was given:
`python` in a run command is the interpreter of the shell that started autoresearch-tui
(on a Ray worker, the worker's), never the tool's own venv unless that shell had it first.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import shutil
import signal
import sys
from collections.abc import Callable, Collection
from pathlib import Path

SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL")
GRACE_S = 5.0  # between SIGTERM and SIGKILL
PR_SET_DUMPABLE = 4


def is_secret(name: str) -> bool:
    """Whether a variable's name says it holds a secret (HF_TOKEN, AWS_SECRET_ACCESS_KEY)."""
    upper = name.upper()
    return any(word in upper for word in SECRET_WORDS)


def experiment_env(
    extra: dict[str, str], drop: Collection[str] = (), keep: Collection[str] = ()
) -> dict[str, str]:
    """The runner's environment (its own PATH) without secrets and `drop`, but with
    `keep`, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k in keep or (k not in drop and not is_secret(k))}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def undumpable() -> bool:
    """prctl(PR_SET_DUMPABLE, 0) on this process (Linux): its /proc/<pid>/environ and
    memory are then root's to read only. False where it cannot be done."""
    if not sys.platform.startswith("linux"):
        return False
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        return int(libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)) == 0
    return False


def command_argv(command: str, wrap: Callable[[list[str]], list[str]] | None = None) -> list[str]:
    """`bash -c command` (wrapped: in a sandbox, search/sandbox.py), under
    `setpriv --pdeathsig KILL` where it exists (Linux)."""
    argv = ["bash", "-c", command]
    if wrap is not None:
        argv = wrap(argv)
    if sys.platform.startswith("linux") and (setpriv := shutil.which("setpriv")):
        return [setpriv, "--pdeathsig", "KILL", "--", *argv]
    return argv


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> bool:
    """Signal a process group; False when it is gone (or not ours)."""
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs. Zombies do not count: a killed run's
    orphans wait for PID 1 to reap them, which in a container may take a while."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    if not Path("/proc/self/stat").exists():
        return True  # no /proc: the signal test is all there is
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            state, group = _state_and_group(proc)
        except (OSError, ValueError, IndexError):
            continue
        if group == pgid and state != "Z":
            return True
    return False


def _state_and_group(proc: Path) -> tuple[str, int]:
    """A /proc/<pid> entry's state letter and process group (after the `(comm)` field,
    which may hold spaces and parentheses)."""
    state, _ppid, group = (proc / "stat").read_text().rsplit(")", 1)[1].split()[:3]
    return state, int(group)


def marked_groups(marker: str) -> set[int]:
    """Process groups of the live processes whose environment holds `marker` (`NAME=value`):
    how a new runner finds what a killed one left running."""
    needle = b"\0" + marker.encode() + b"\0"
    groups = set()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if needle in b"\0" + (proc / "environ").read_bytes() + b"\0":
                groups.add(_state_and_group(proc)[1])
        except (OSError, ValueError, IndexError):
            continue
    groups.discard(os.getpgrp())
    return groups


def marked_pids(markers: Collection[str]) -> list[int]:
    """Live processes (zombies aside) whose environment holds every `NAME=value` of
    `markers`, this process excepted."""
    needles = [b"\0" + m.encode() + b"\0" for m in markers]
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            env = b"\0" + (proc / "environ").read_bytes() + b"\0"
            if all(n in env for n in needles) and _state_and_group(proc)[0] != "Z":
                pids.append(int(proc.name))
        except (OSError, ValueError, IndexError):
            continue
    return [pid for pid in pids if pid != os.getpid()]


def kill_marked(markers: Collection[str]) -> int:
    """SIGKILL every process carrying `markers` (what a finished run left running, a
    daemon in a session of its own too); how many there were."""
    pids = marked_pids(markers) if markers and Path("/proc/self/environ").exists() else []
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return len(pids)
