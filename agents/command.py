"""The `command` backend: a coding-agent command line (`claude -p`, `codex exec`, ...).

The scheduler gives this backend a git worktree of the parent (`request.worktree`). The
command runs there under `bash -c`, in a process group of its own, with the prompt on
stdin and a time limit (`spec.timeout_s`, default 900 s; then SIGTERM and SIGKILL of
the whole group). The proposal is the new content of the editable files it changed;
anything else it changed or added is discarded and named in the rationale. When an
edited Python file does not compile, or nothing editable changed, the command runs
again in the same worktree with the error, at most `spec.repairs` times. Its output,
with secret values redacted, is kept as the reply. The command's own environment keeps
the API keys (a coding agent needs them); experiments never see them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from autoresearch_tui.agents.edits import compile_error
from autoresearch_tui.agents.personas import load_persona, load_program
from autoresearch_tui.agents.prompt import build_prompt
from autoresearch_tui.agents.proposer import AgentSpec, CallRecord, Proposal, ProposalFailed
from autoresearch_tui.agents.redact import redact
from autoresearch_tui.agents.request import ProposalRequest

DEFAULT_TIMEOUT_S = 900.0
GRACE_S = 3.0
MAX_OUTPUT = 512_000  # bytes of output kept (the tail)
DESCRIPTION = re.compile(r"^\W*description\W*:\s*(.+)$", re.IGNORECASE | re.MULTILINE)
RATIONALE = re.compile(r"^\W*rationale\W*:\s*(.+)$", re.IGNORECASE | re.MULTILINE)
NOISE = re.compile(r"(^|/)(__pycache__/|\.pytest_cache/)|\.pyc$")


@dataclass(frozen=True)
class RunOutput:
    output: str
    returncode: int | None
    timed_out: bool
    seconds: float


def command_line(spec: AgentSpec) -> str:
    """The command to run: `command` of the spec, else its model part (`x@command:cmd`)."""
    return (spec.command or spec.model).strip()


def check_command(command: str) -> str:
    """'' when the command's program can be found, else why not (one line)."""
    try:
        words = shlex.split(command)
    except ValueError as exc:
        return f"cannot parse the command {command!r}: {exc}"
    if not words:
        return "the command is empty"
    program = words[0]
    if "=" in program or program in ("env", "exec", "cd"):  # shell forms: trust bash
        return ""
    if "/" in program:
        return "" if os.access(program, os.X_OK) else f"{program} is not an executable file"
    return "" if shutil.which(program) else f"{program!r} is not on PATH"


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


def _git(cwd: Path, *args: str) -> list[str]:
    out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout
    return [p for p in out.split("\0") if p]


def changed_paths(worktree: Path, base: str) -> list[str]:
    """Paths that differ from commit `base` (committed or not) or are new and not ignored."""
    tracked = _git(worktree, "diff", "--name-only", "-z", base)
    untracked = _git(worktree, "ls-files", "--others", "--exclude-standard", "-z")
    return sorted({p for p in tracked + untracked if not NOISE.search(p)})


def read_editable(
    worktree: Path, parent_files: dict[str, str], editable: list[str]
) -> tuple[dict[str, str], list[str]]:
    """(changed editable files, problems with editable files that were not taken)."""
    files: dict[str, str] = {}
    problems: list[str] = []
    for path in editable:
        full = worktree / path
        if full.is_symlink():
            problems.append(f"{path} was replaced by a symlink")
        elif not full.is_file():
            problems.append(f"{path} was deleted")
        else:
            try:
                content = full.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(f"{path} cannot be read as text: {exc}")
                continue
            if content != parent_files.get(path):
                files[path] = content
    return files, problems


def _last(pattern: re.Pattern[str], text: str) -> str:
    found = pattern.findall(text)
    return found[-1].strip().strip("*_`").strip() if found else ""


class CommandProposer:
    """A coding-agent CLI as a persona."""

    can_debug = True

    def __init__(self, spec: AgentSpec, workspace: Path):
        self.spec = spec
        self.workspace = workspace
        self.command = command_line(spec)
        self.timeout_s = spec.timeout_s or DEFAULT_TIMEOUT_S
        self.program = shlex.split(self.command)[0] if self.command else ""

    def _record(self, run: RunOutput, error: str = "") -> CallRecord:
        return CallRecord(
            persona=self.spec.persona,
            backend=self.spec.backend,
            model=(self.spec.model if self.spec.command else "") or os.path.basename(self.program),
            latency_s=run.seconds,
            error=error,
            priced=False,  # a command-line agent bills its own way
        )

    def _fail(self, reason: str, transcript: list[str], calls: list[CallRecord]) -> ProposalFailed:
        if calls and not calls[-1].error:
            calls[-1].error = reason
        return ProposalFailed(
            f"{self.spec.label}: {reason}", reply=redact("\n\n".join(transcript)), calls=calls
        )

    async def propose(self, request: ProposalRequest) -> Proposal:
        worktree = request.worktree
        if worktree is None:
            raise ProposalFailed(f"{self.spec.label}: the command backend needs a worktree")
        workspace = request.workspace or self.workspace
        persona = load_persona(self.spec.persona, workspace)
        prompt = build_prompt(
            request, load_program(workspace), persona.brief, "command", self.spec.repairs
        ).text()
        base = (await asyncio.to_thread(_git, worktree, "rev-parse", "HEAD"))[0].strip()
        calls: list[CallRecord] = []
        transcript: list[str] = []
        stdin = prompt
        for attempt in range(max(0, self.spec.repairs) + 1):
            run = await run_agent(self.command, worktree, stdin, self.timeout_s)
            calls.append(self._record(run))
            transcript.append(f"## Run {attempt + 1} ({run.seconds:.1f}s)\n\n{run.output}")
            if run.timed_out:
                raise self._fail(f"timed out after {self.timeout_s:g}s", transcript, calls)
            if run.returncode != 0:
                last = next((x for x in reversed(run.output.splitlines()) if x.strip()), "")
                raise self._fail(
                    redact(f"exited with code {run.returncode}: {last.strip()[:200]}"),
                    transcript,
                    calls,
                )
            files, problems = read_editable(worktree, request.parent_files, request.editable)
            other = await asyncio.to_thread(changed_paths, worktree, base)
            discarded = [p for p in other if p not in request.editable] + problems
            errors = [e for p, s in sorted(files.items()) if (e := compile_error(p, s))]
            if not files:
                errors.append(f"none of the editable files ({', '.join(request.editable)}) changed")
            if not errors:
                return self._proposal(run.output, files, discarded, transcript, calls)
            transcript.append("## Rejected\n\n" + "\n".join(errors))
            stdin = (
                f"{prompt}\n\n# Your previous attempt\n\nYour changes are still in the files. "
                "They cannot be used yet:\n"
                + "\n".join(f"- {e}" for e in errors)
                + "\n\nFix this in place, then end with the DESCRIPTION and RATIONALE lines.\n"
            )
        raise self._fail(
            f"rejected {len(calls)} time{'s' if len(calls) > 1 else ''}: {errors[0]}",
            transcript,
            calls,
        )

    def _proposal(
        self,
        output: str,
        files: dict[str, str],
        discarded: list[str],
        transcript: list[str],
        calls: list[CallRecord],
    ) -> Proposal:
        description = _last(DESCRIPTION, output) or f"{self.program} edit of {', '.join(files)}"
        rationale = _last(RATIONALE, output)
        if discarded:
            note = "Discarded changes to files that are not editable: " + ", ".join(discarded)
            rationale = f"{rationale}\n\n{note}." if rationale else f"{note}."
            transcript.append(f"## {note}.")
        return Proposal(
            description=redact(description)[:200],
            files=files,
            rationale=redact(rationale),
            model=self.spec.model if self.spec.command else "",
            calls=calls,
            reply=redact("\n\n".join(transcript)),
        )
