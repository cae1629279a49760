"""The sandbox of one experiment: bubblewrap (`bwrap`), and whether it can run here.

A sandboxed run (docs/ARCHITECTURE.md §6) gets a new PID namespace (every process it
starts dies with it; the runner is not visible), a mount namespace in which the whole file
system is read-only except its worktree, a private `/tmp` and `/dev/shm`, and the paths
of `[search] writable`; the workspace's `.git` and `.autoresearch` are hidden (empty), its
readonly files are bind-mounted read-only, `/dev/nvidia*` is passed through, and it dies
with the runner. `[search] network = false` adds `--unshare-net`. Where bwrap is missing
or cannot make namespaces, `decide` says so and runs use a process group
(search/processes.py).
"""

from __future__ import annotations

import functools
import glob
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from autoresearch_tui.search.contain import Isolation, env_paths

READ_ONLY = "Read-only file system"
ABSOLUTE = re.compile(r"/[^\s'\"<>:,()]+")
INSTALL = "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap)"
# What every sandbox uses: the probe tries exactly these.
BASE = [
    "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--perms", "1777", "--tmpfs", "/tmp",
    "--perms", "1777", "--tmpfs", "/dev/shm",
    "--unshare-pid", "--die-with-parent", "--new-session",
]  # fmt: skip


@functools.cache
def bwrap_problem() -> str:
    """'' when bwrap can make a sandbox on this machine, else why not (one line)."""
    if not sys.platform.startswith("linux"):
        return "bubblewrap runs on Linux only"
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return f"bwrap is not installed — {INSTALL}"
    try:
        out = subprocess.run([bwrap, *BASE, "true"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap did not start ({exc})"
    if out.returncode != 0:
        why = (out.stderr.strip().splitlines() or [f"exit code {out.returncode}"])[-1]
        return f"bwrap cannot make namespaces here ({why})"
    return ""


def decide(setting: str) -> tuple[str, str]:
    """("bwrap" | "none", the one line that says so) for `[search] sandbox = setting`.
    `"bwrap"` where it cannot run is an error (ValueError) naming the fix."""
    if setting == "none":
        return "none", 'no sandbox ([search] sandbox = "none"): each run is a process group'
    problem = bwrap_problem()
    if not problem:
        return "bwrap", "sandbox: bwrap (each run sees its worktree only as writable)"
    if setting == "bwrap":
        raise ValueError(f'[search] sandbox = "bwrap" but {problem} — or set sandbox = "auto"')
    return "none", f"no sandbox: {problem}; each run is a process group"


def _under_tmp(path: str) -> bool:
    return Path(path).is_relative_to("/tmp")


def bwrap_argv(
    inner: list[str], cwd: Path, isolation: Isolation, readonly: list[Path]
) -> list[str]:
    """`inner` (the run's command line) inside a sandbox whose only writable places are
    `cwd` (the worktree), `isolation.writable`, a private /tmp and /dev/shm."""
    argv = [shutil.which("bwrap") or "bwrap", *BASE]
    # Under the private /tmp, kept visible: the workspace, PATH's folders, and the paths
    # the run's environment names (a data cache in AR_DATA_DIR or XDG_CACHE_HOME there).
    for path in dict.fromkeys([*isolation.visible, *env_paths(os.environ)]):
        if _under_tmp(path):
            argv += ["--ro-bind-try", path, path]
    for device in [*sorted(glob.glob("/dev/nvidia*")), "/dev/dri"]:
        argv += ["--dev-bind-try", device, device]
    for path in isolation.hidden:
        if Path(path).is_dir():
            argv += ["--tmpfs", path]
        elif Path(path).exists():
            argv += ["--ro-bind", "/dev/null", path]
    argv += ["--bind", str(cwd), str(cwd)]
    for path in isolation.writable:
        argv += ["--bind-try", path, path]
    for file in readonly:
        if file.exists():
            argv += ["--ro-bind", str(file), str(file)]
    if not isolation.network:
        argv.append("--unshare-net")
    return [*argv, "--chdir", str(cwd), "--", *inner]


def read_only_write(lines: list[str], cwd: Path, readonly: list[str]) -> tuple[str, str]:
    """For a sandboxed run that crashed: (the readonly file it tried to write, or "";
    else the path outside its writable places it tried to write, or "")."""
    for line in reversed(lines):
        if READ_ONLY not in line:
            continue
        for path in readonly:
            if re.search(rf"(^|[\s'\"</]){re.escape(path)}($|[\s'\">])", line):
                return path, ""
        for found in ABSOLUTE.findall(line):
            if not Path(found).is_relative_to(cwd):
                return "", found
    return "", ""
