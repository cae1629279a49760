"""Running a coding-agent command line once (the `command` backend, agents/command.py).

The command runs under `bash -c` in the node's worktree, in a process group of its own,
with the prompt on stdin and a time limit: then SIGTERM and SIGKILL of the whole group,
so nothing it started outlives it. Its output (stdout and stderr together, the last
512 KB) comes back with its exit code and how long it ran. Its environment (`agent_env`)
is the runner's without the secret-looking variables other than those its own CLI reads
(`CLI_KEYS`), with the marker `AR_STATE_DIR` by which a later start kills what it left
running, as for experiments (docs/ARCHITECTURE.md §3).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

GRACE_S = 3.0
MAX_OUTPUT = 512_000  # bytes of output kept (the tail)
SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL")  # as search/processes.py
CLI_KEYS = {  # a coding-agent CLI -> the secret-looking variables it reads
    "claude": ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"),
    "codex": ("OPENAI_API_KEY", "CODEX_API_KEY"),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
}
CLOUD_KEYS = {  # Claude Code on Bedrock or Vertex reads the cloud's credentials
    "CLAUDE_CODE_USE_BEDROCK": ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                "AWS_SESSION_TOKEN", "AWS_BEARER_TOKEN_BEDROCK"),
    "CLAUDE_CODE_USE_VERTEX": ("GOOGLE_APPLICATION_CREDENTIALS",),
}  # fmt: skip


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


def cli_keys(command: str) -> set[str]:
    """The secret-looking variables `command` may see: its CLI's own (of every known CLI
    when the command names none of them, e.g. a wrapper script)."""
    try:
        words = {os.path.basename(w) for w in shlex.split(command)}
    except ValueError:
        words = set()
    named = [keys for cli, keys in CLI_KEYS.items() if cli in words]
    keys = {k for group in (named or CLI_KEYS.values()) for k in group}
    if named == [] or "claude" in words:
        keys |= {k for flag, ks in CLOUD_KEYS.items() if os.environ.get(flag) for k in ks}
    return keys


def agent_env(command: str, cwd: Path) -> dict[str, str]:
    """The environment of the agent's command: no secrets but its CLI's, and the marker
    of the workspace whose worktree `cwd` is (`<state dir>/worktrees/<name>`)."""
    keep = cli_keys(command)
    env = {
        k: v
        for k, v in os.environ.items()
        if k in keep or not any(word in k.upper() for word in SECRET_WORDS)
    }
    if cwd.parent.name == "worktrees":
        env["AR_STATE_DIR"] = str(cwd.resolve().parent.parent)
    return env


def _killpg(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


async def run_agent(command: str, cwd: Path, stdin: str, timeout_s: float) -> RunOutput:
    """Run `command` in `cwd` with `stdin`; kill its process group at the time limit."""
    start = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *_argv(command),
        cwd=cwd,
        env=agent_env(command, cwd),
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
