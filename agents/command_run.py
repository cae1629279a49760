"""Running a coding-agent command line once (the `command` backend, agents/command.py).

The command runs under `bash -c` in the node's worktree, in a process group of its own,
with the prompt on stdin and a time limit: then SIGTERM and SIGKILL of the whole group,
so nothing it started outlives it. Its output (stdout and stderr together, the last
512 KB) comes back with its exit code and how long it ran.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

GRACE_S = 3.0
MAX_OUTPUT = 512_000  # bytes of output kept (the tail)


@dataclass(frozen=True)
class RunOutput:
    output: str
    returncode: int | None
    timed_out: bool
    seconds: float


def _argv(command: str) -> list[str]:
    argv = ["bash", "-c", command]
    if sys.platform.startswith("linux") and (setpriv := shutil.which("setpriv")):
        return [setpriv, "--pdeathsig", "KILL", "--", *argv]  # dies with the runner
    return argv


def _killpg(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


async def run_agent(command: str, cwd: Path, stdin: str, timeout_s: float) -> RunOutput:
    """Run `command` in `cwd` with `stdin`; kill its process group at the time limit."""
    start = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *_argv(command),
        cwd=cwd,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    out = bytearray()

    async def feed() -> None:
        assert proc.stdin is not None
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            proc.stdin.write(stdin.encode())
            await proc.stdin.drain()
            proc.stdin.close()

    async def pump() -> None:
        assert proc.stdout is not None
        while chunk := await proc.stdout.read(65536):
            out.extend(chunk)
            if len(out) > MAX_OUTPUT:
                del out[: len(out) - MAX_OUTPUT]

    tasks = [asyncio.ensure_future(feed()), asyncio.ensure_future(pump())]
    timed_out = False
    try:
        await asyncio.wait_for(proc.wait(), timeout_s)
        with contextlib.suppress(TimeoutError):  # a child may still hold stdout open
            await asyncio.wait_for(asyncio.shield(tasks[1]), GRACE_S)
    except TimeoutError:
        timed_out = True
        _killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), GRACE_S)
    finally:
        _killpg(proc.pid, signal.SIGKILL)  # whatever it left behind
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    return RunOutput(
        out.decode(errors="replace"), proc.returncode, timed_out, time.monotonic() - start
    )
