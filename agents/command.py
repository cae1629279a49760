"""The `command` backend: a coding-agent command line (`claude -p`, `codex exec`, ...).

The scheduler gives this backend a git worktree of the parent (`request.worktree`). The
command runs there (agents/command_run.py: a process group of its own, the prompt on
stdin, a time limit of `spec.timeout_s`, default 900 s). The prompt names the files in
the worktree rather than inlining them (agents/command_prompt.py). The proposal is the
new content of the editable files it changed (agents/command_changes.py); when it also
changed a file that is not editable, added a file that an editable file imports, left a
Python file that does not compile, or changed nothing editable, the command runs again
in the same worktree with the reasons, at most `spec.repairs` times. Other new files are
discarded and named in the rationale.

Its cost: when the CLI prints JSON (`claude -p --output-format json`, `codex exec
--json`; agents/command_output.py) the final message is read from it, and the run's
tokens and cost go into its `CallRecord`, so `[search] max_cost_usd` counts it; tokens
without a cost are priced with agents/pricing.py when the model is known. Plain-text
output costs 0, unpriced. Its output, with secret values redacted, is kept as the
reply. The command's own environment keeps the API keys (a coding agent needs them);
experiments never see them.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
from pathlib import Path

from autoresearch_tui.agents.command_changes import Review, git, restore, review
from autoresearch_tui.agents.command_output import AgentReport, read_output
from autoresearch_tui.agents.command_prompt import command_prompt, repair_prompt
from autoresearch_tui.agents.command_run import RunOutput, run_agent
from autoresearch_tui.agents.personas import load_persona, load_program
from autoresearch_tui.agents.pricing import call_cost
from autoresearch_tui.agents.proposer import AgentSpec, CallRecord, Proposal, ProposalFailed
from autoresearch_tui.agents.redact import redact
from autoresearch_tui.agents.request import ProposalRequest

DEFAULT_TIMEOUT_S = 900.0
DESCRIPTION = re.compile(r"^\W*description\W*:\s*(.+)$", re.IGNORECASE | re.MULTILINE)
RATIONALE = re.compile(r"^\W*rationale\W*:\s*(.+)$", re.IGNORECASE | re.MULTILINE)


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


def _last(pattern: re.Pattern[str], text: str) -> str:
    found = pattern.findall(text)
    return found[-1].strip().strip("*_`").strip() if found else ""


def _spend(record: CallRecord) -> str:
    if not (record.input_tokens or record.output_tokens or record.cost_usd):
        return ""
    cost = f", ${record.cost_usd:.4f}" if record.priced else ""
    return f", {record.input_tokens} tokens in, {record.output_tokens} out{cost}"


class CommandProposer:
    """A coding-agent CLI as a persona."""

    can_debug = True

    def __init__(self, spec: AgentSpec, workspace: Path):
        self.spec = spec
        self.workspace = workspace
        self.command = command_line(spec)
        self.timeout_s = spec.timeout_s or DEFAULT_TIMEOUT_S
        self.program = shlex.split(self.command)[0] if self.command else ""

    def _record(self, run: RunOutput, report: AgentReport) -> CallRecord:
        """The run's CallRecord: the CLI's own cost, else its tokens priced, else 0."""
        model = (self.spec.model if self.spec.command else "") or report.model
        usage = report.usage
        if report.cost_usd is not None:
            cost, priced = report.cost_usd, True
        elif usage is not None:
            cost, priced = call_cost(model, usage)
        else:
            cost, priced = 0.0, False  # plain text: a command-line agent bills its own way
        return CallRecord(
            persona=self.spec.persona,
            backend=self.spec.backend,
            model=model or os.path.basename(self.program),
            input_tokens=usage.prompt_tokens if usage else 0,
            output_tokens=usage.output_tokens if usage else 0,
            cached_tokens=usage.cache_read_tokens if usage else 0,
            cache_write_tokens=usage.cache_write_tokens if usage else 0,
            latency_s=run.seconds,
            cost_usd=cost,
            priced=priced,
        )

    def _fail(self, reason: str, transcript: list[str], calls: list[CallRecord]) -> ProposalFailed:
        if calls and not calls[-1].error:
            calls[-1].error = reason
        return ProposalFailed(
            f"{self.spec.label}: {reason}", reply=redact("\n\n".join(transcript)), calls=calls
        )

    def _run_failure(self, run: RunOutput, report: AgentReport) -> str:
        """Why this run of the command failed as a run ('' when it finished)."""
        if run.timed_out:
            return f"timed out after {self.timeout_s:g}s"
        if run.returncode != 0:
            text = report.error or next(
                (x for x in reversed(run.output.splitlines()) if x.strip()), ""
            )
            return redact(f"exited with code {run.returncode}: {text.strip()[:200]}")
        if report.error:
            return redact(f"the agent reported a failure: {report.error}")
        return ""

    async def _prompt(self, request: ProposalRequest, worktree: Path) -> str:
        workspace = request.workspace or self.workspace
        persona = load_persona(self.spec.persona, workspace)
        others = await asyncio.to_thread(git, worktree, "ls-files", "-z")
        prompt = command_prompt(
            request, worktree, others, load_program(workspace), persona.brief, self.spec.repairs
        )
        return prompt.text()

    async def propose(self, request: ProposalRequest) -> Proposal:
        worktree = request.worktree
        if worktree is None:
            raise ProposalFailed(f"{self.spec.label}: the command backend needs a worktree")
        prompt = await self._prompt(request, worktree)
        base = (await asyncio.to_thread(git, worktree, "rev-parse", "HEAD"))[0].strip()
        calls: list[CallRecord] = []
        transcript: list[str] = []
        new_files: set[str] = set()  # every new file seen, in any round
        repairs = max(0, self.spec.repairs)
        stdin = prompt
        for attempt in range(repairs + 1):
            run = await run_agent(self.command, worktree, stdin, self.timeout_s)
            report = read_output(run.output)
            calls.append(self._record(run, report))
            readable = report.shape != "text" and run.returncode == 0 and report.text.strip()
            shown = report.text if readable else run.output  # JSON: its message, not the JSON
            transcript.append(
                f"## Run {attempt + 1} ({run.seconds:.1f}s{_spend(calls[-1])})\n\n{shown}"
            )
            if failure := self._run_failure(run, report):
                raise self._fail(failure, transcript, calls)
            found = await asyncio.to_thread(
                review, worktree, base, request.parent_files, request.editable, new_files
            )
            if not found.errors:
                return self._proposal(report.text, found, transcript, calls)
            transcript.append("## Rejected\n\n" + "\n".join(found.errors))
            await asyncio.to_thread(restore, worktree, base, found.restore)
            stdin = repair_prompt(prompt, found.errors, attempt + 1, repairs)
        raise self._fail(
            f"rejected {len(calls)} time{'s' if len(calls) > 1 else ''}: {found.errors[0]}",
            transcript,
            calls,
        )

    def _proposal(
        self, text: str, found: Review, transcript: list[str], calls: list[CallRecord]
    ) -> Proposal:
        files = found.files
        description = _last(DESCRIPTION, text) or f"{self.program} edit of {', '.join(files)}"
        rationale = _last(RATIONALE, text)
        if found.discarded:
            note = "Discarded new files that are not editable: " + ", ".join(found.discarded)
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
