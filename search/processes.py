"""An experiment's process: its environment, its command line, and its process group.

Shared by the local executor and the Ray task (docs/ARCHITECTURE.md §6). The command runs
under `bash -c` in a process group of its own (and, where `setpriv` exists, dies with the
runner); stopping it sends the whole group SIGTERM, then SIGKILL. The environment
carries no `*_API_KEY` variables. Every experiment also carries `AR_STATE_DIR`, the
marker by which a later start finds what a killed runner left running
(`marked_groups`; docs/ARCHITECTURE.md §3). PATH is the runner's as it was given:
`python` in a run command is the interpreter of the shell that started autoresearch-tui
(on a Ray worker, the worker's), never the tool's own venv unless that shell had it first.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sys
from pathlib import Path

SECRET = re.compile(r".*(_API_KEY|_AUTH_TOKEN|_ACCESS_KEY|_SECRET_KEY)$")
GRACE_S = 5.0  # between SIGTERM and SIGKILL


def experiment_env(extra: dict[str, str]) -> dict[str, str]:
    """The runner's environment (its own PATH) without secrets, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not SECRET.match(k)}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def command_argv(command: str) -> list[str]:
    """`bash -c command`, under `setpriv --pdeathsig KILL` where it exists (Linux)."""
    argv = ["bash", "-c", command]
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
