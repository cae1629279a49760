"""What every LLM backend shares: the proposal loop with repairs, and call accounting.

A backend subclasses `LLMProposer` and implements `complete` (one model call: the
prompt plus the conversation so far -> text and token usage). `propose` builds the
prompt from the workspace's program and the persona's brief, asks the model, applies
the reply's edits, and when they do not apply sends the exact error back in the same
conversation, at most `spec.repairs` times (saying how many tries are left), before
any slot time is spent; a reply's ANALYSIS section is kept after its rationale. Every
call becomes a `CallRecord` (tokens, latency, cost from agents/pricing.py, error). API
errors and timeouts (after the SDK's own retries) end the proposal as `ProposalFailed`
with a one-line reason; the scheduler records it and backs that persona off.
"""

from __future__ import annotations

import dataclasses
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from autoresearch_tui.agents.edits import EditError, apply_reply, repair_message
from autoresearch_tui.agents.lessons import build_lessons_prompt, trim_words
from autoresearch_tui.agents.personas import load_persona, load_program
from autoresearch_tui.agents.pricing import Usage, call_cost
from autoresearch_tui.agents.prompt import Prompt, build_prompt
from autoresearch_tui.agents.proposer import (
    AgentSpec,
    CallRecord,
    LessonsReply,
    Proposal,
    ProposalFailed,
    safe_text,
)
from autoresearch_tui.agents.redact import redact
from autoresearch_tui.agents.request import LessonsRequest, ProposalRequest

DEFAULT_TIMEOUT_S = 300.0
DEFAULT_MAX_TOKENS = 16_000
MAX_REASON = 300


@dataclass(frozen=True)
class Turn:
    """One later message of the conversation (after the prompt)."""

    role: Literal["user", "assistant"]
    text: str


@dataclass(frozen=True)
class Completion:
    text: str
    usage: Usage
    model: str = ""  # the model that answered, when the API says
    truncated: bool = False  # stopped at the output token limit


class ChatError(Exception):
    """A model call that failed for good (the SDK's retries are spent); one line."""


def one_line(text: str, limit: int = MAX_REASON) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe_api_error(exc: Exception, timeout_s: float, retries: int) -> str:
    """A one-line reason for an SDK exception (anthropic and openai share their shapes)."""
    name = type(exc).__name__
    status = getattr(exc, "status_code", None)
    retried = status is None or status in (408, 409, 429) or status >= 500
    after = (
        f" (after {retries} retr{'y' if retries == 1 else 'ies'})" if retries and retried else ""
    )
    if "Timeout" in name:
        return f"timed out after {timeout_s:g}s{after}"
    message = getattr(exc, "message", "") or str(exc)
    if status is not None:
        what = {401: "unauthorized: check the API key", 429: "rate limited"}.get(status, name)
        return one_line(f"HTTP {status} {what}{after}: {message}")
    if "Connection" in name:
        cause = exc.__cause__ or exc.__context__
        detail = f": {cause}" if cause else ""
        return one_line(f"cannot reach the API{after}{detail}")
    return one_line(f"{name}: {message}")


class LLMProposer(ABC):
    """A persona bound to a model API. Subclasses implement `complete`."""

    backend = ""
    can_debug = True
    can_merge = True  # resolves merge conflicts (a request of kind "merge")

    def __init__(self, spec: AgentSpec, workspace: Path, model: str):
        self.spec = spec
        self.workspace = workspace
        self.model = model
        self.timeout_s = spec.timeout_s or DEFAULT_TIMEOUT_S
        self.max_tokens = spec.max_tokens or DEFAULT_MAX_TOKENS

    @abstractmethod
    async def complete(self, prompt: Prompt, turns: list[Turn]) -> Completion:
        """One model call; raise ChatError with a one-line reason when it fails."""

    def prompt_for(self, request: ProposalRequest) -> Prompt:
        workspace = request.workspace or self.workspace
        persona = load_persona(self.spec.persona, workspace)
        return build_prompt(
            request, load_program(workspace), persona.brief, "edits", self.spec.repairs
        )

    def _record(self, latency: float, completion: Completion | None, error: str) -> CallRecord:
        usage = completion.usage if completion else Usage()
        cost, priced = call_cost(self.model, usage)
        return CallRecord(
            persona=self.spec.persona,
            backend=self.spec.backend,
            model=self.model,
            input_tokens=usage.prompt_tokens,
            output_tokens=usage.output_tokens,
            cached_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            latency_s=latency,
            cost_usd=cost,
            error=error,
            priced=priced,
        )

    async def _call(self, prompt: Prompt, turns: list[Turn], calls: list[CallRecord]) -> Completion:
        """One model call, recorded in `calls`; a failure is `ProposalFailed` (one line)."""
        start = time.monotonic()
        try:
            completion = await self.complete(prompt, turns)
        except Exception as exc:  # ChatError, or an SDK surprise
            text = str(exc) if isinstance(exc, ChatError) else f"{type(exc).__name__}: {exc}"
            reason = safe_text(redact(one_line(text)))
            calls.append(self._record(time.monotonic() - start, None, reason))
            raise ProposalFailed(f"{self.spec.label}: {reason}", calls=calls) from None
        calls.append(self._record(time.monotonic() - start, completion, ""))
        # Model text enters here: stored, committed and prompted again, it must be UTF-8.
        return dataclasses.replace(completion, text=safe_text(completion.text))

    async def write_lessons(self, request: LessonsRequest) -> LessonsReply:
        """The lessons note (agents/lessons.py): one call, the reply cut to the cap."""
        prompt = build_lessons_prompt(request, load_program(request.workspace or self.workspace))
        calls: list[CallRecord] = []
        completion = await self._call(prompt, [], calls)
        text = trim_words(redact(completion.text), request.max_words)
        if not text:
            raise ProposalFailed(f"{self.spec.label}: an empty lessons note", calls=calls)
        return LessonsReply(text, completion.model or self.model, calls)

    async def propose(self, request: ProposalRequest) -> Proposal:
        prompt = self.prompt_for(request)
        root = request.worktree or request.workspace
        turns: list[Turn] = []
        calls: list[CallRecord] = []
        transcript: list[str] = []
        error: EditError | None = None
        for attempt in range(max(0, self.spec.repairs) + 1):
            try:
                completion = await self._call(prompt, turns, calls)
            except ProposalFailed as exc:  # this proposal fails
                exc.reply = redact("\n\n".join(transcript))
                raise
            text = completion.text
            transcript.append(f"## Reply {attempt + 1}\n\n{text or '(empty reply)'}")
            try:
                reply, files = apply_reply(text, request.parent_files, request.editable, root)
            except EditError as exc:
                error = exc
                transcript.append(f"## Rejected\n\n{exc}")
                tries_left = self.spec.repairs - attempt
                turns += [
                    Turn("assistant", text.strip() or "(empty reply)"),
                    Turn("user", repair_message(exc, completion.truncated, tries_left)),
                ]
                continue
            return Proposal(
                description=reply.description,
                files=files,
                rationale=reply.rationale_with_analysis(),
                model=self.model,
                calls=calls,
                reply=redact(text if attempt == 0 else "\n\n".join(transcript)),
            )
        assert error is not None
        tries = len(calls)
        raise ProposalFailed(
            f"{self.spec.label}: reply rejected {tries} time{'s' if tries > 1 else ''}: "
            + one_line(error.problems[0] if error.problems else str(error)),
            reply=redact("\n\n".join(transcript)),
            calls=calls,
        )
