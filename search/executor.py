"""The local executor: run one experiment's command in its worktree, stream, time out.

The command runs under `bash -c` in a process group of its own (and, where `setpriv`
exists, dies with the runner), output goes to the node's log and to an `OutputParser`
as it arrives. On timeout or cancellation the whole group gets SIGTERM, then SIGKILL.
The experiment's environment carries no `*_API_KEY` variables.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from autoresearch_tui.search.output import OutputParser

SECRET = re.compile(r".*(_API_KEY|_AUTH_TOKEN|_ACCESS_KEY|_SECRET_KEY)$")
GRACE_S = 5.0


@dataclass
class RunResult:
    returncode: int | None
    timed_out: bool
    elapsed: float


def experiment_env(extra: dict[str, str]) -> dict[str, str]:
    """The runner's environment without secrets, the venv first on PATH, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not SECRET.match(k)}
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bindir, env.get("PATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def command_argv(command: str) -> list[str]:
    argv = ["bash", "-c", command]
    if sys.platform.startswith("linux") and (setpriv := shutil.which("setpriv")):
        return [setpriv, "--pdeathsig", "KILL", "--", *argv]
    return argv


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> bool:
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def marked_groups(marker: str) -> set[int]:
    """Process groups of the live processes whose environment holds `marker` (`NAME=value`):
    how a new runner finds what a killed one left running."""
    needle = b"\0" + marker.encode() + b"\0"
    groups = set()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if needle in b"\0" + (proc / "environ").read_bytes() + b"\0":
                groups.add(int((proc / "stat").read_text().rsplit(")", 1)[1].split()[2]))
        except (OSError, ValueError, IndexError):
            continue
    groups.discard(os.getpgrp())
    return groups


async def _terminate(proc: asyncio.subprocess.Process) -> None:
    kill_group(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), GRACE_S)
    except TimeoutError:
        pass
    kill_group(proc.pid, signal.SIGKILL)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(proc.wait(), GRACE_S)


async def run_command(
    command: str,
    cwd: Path,
    env: dict[str, str],
    log_path: Path,
    parser: OutputParser,
    timeout_s: float,
    on_start: Callable[[int], None] = lambda pid: None,
    on_output: Callable[[list[str], float], None] = lambda lines, elapsed: None,
) -> RunResult:
    """Run to completion or timeout. Cancelling the awaiting task kills the group."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with log_path.open("ab") as log:
        proc = await asyncio.create_subprocess_exec(
            *command_argv(command),
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        on_start(proc.pid)
        assert proc.stdout is not None

        async def pump() -> None:
            while chunk := await proc.stdout.read(65536):  # type: ignore[union-attr]
                log.write(chunk)
                log.flush()
                elapsed = time.monotonic() - start
                lines = parser.feed(chunk.decode(errors="replace"), elapsed)
                on_output(lines, elapsed)
            await proc.wait()

        timed_out = False
        try:
            await asyncio.wait_for(pump(), timeout_s)
        except TimeoutError:
            timed_out = True
            await _terminate(proc)
        except BaseException:
            await _terminate(proc)
            raise
        finally:
            parser.close(time.monotonic() - start)
        if timed_out:
            log.write(f"\n[autoresearch-tui] killed after the {timeout_s:g}s timeout\n".encode())
    return RunResult(proc.returncode, timed_out, time.monotonic() - start)
