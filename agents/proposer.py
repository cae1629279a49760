"""The proposer interface: the one seam between the search engine and the agents.

The scheduler asks a `Proposer` for a child of a node by handing it a `ProposalRequest`
(agents/request.py: the parent's editable files plus what the tree already knows) and
gets back a
`Proposal` (new file contents and a commit-message description) or a `ProposalFailed`.
Every model call made on the way is reported as a `CallRecord` so the store can account
tokens and cost. Nothing here imports the search package.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Protocol, runtime_checkable

from autoresearch_tui.agents.request import LessonsRequest, ProposalRequest

BACKENDS = ("anthropic", "openai", "openai-compatible", "mutator", "command", "optuna")
"""Every agent backend, by the name `[[agents]] backend` and `--agents` give it; the one
list of them (agents/backends.py builds each, search/config.py checks the names)."""

LESSONS_BACKENDS = ("anthropic", "openai", "openai-compatible")
"""The backends whose personas can write the lessons note (`LessonsWriter`)."""

_OPENAI_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
REASONING_EFFORTS: dict[str, tuple[str, ...]] = {
    "anthropic": ("low", "medium", "high", "xhigh", "max"),  # adaptive thinking's effort
    "openai": _OPENAI_EFFORTS,
    "openai-compatible": _OPENAI_EFFORTS,
}
"""What `reasoning_effort` may be, per backend that takes one: the values of the SDK's own
type (anthropic `OutputConfigParam.effort`, openai `ReasoningEffort`; a test keeps them
equal). Which of them a given model accepts is the model's business."""

MIN_THINKING_BUDGET = 1024  # Anthropic's smallest extended-thinking budget, in tokens


def safe_text(text: str) -> str:
    """`text` as UTF-8 can store it: a lone surrogate (JSON's `\\udcff`, which a model's
    reply may hold) becomes U+FFFD, a pair written as two code points becomes one. Model
    text goes to files, SQLite, git and the next prompt: it passes here where it enters."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


@dataclass(frozen=True)
class AgentSpec:
    """One `[[agents]]` entry or one `persona@backend[:model]` item of `--agents`."""

    persona: str
    backend: str = "mutator"
    model: str = ""
    base_url: str = ""
    command: str = ""  # the `command` backend's command line
    weight: float = 1.0
    max_tokens: int = 0  # 0: the backend's default
    timeout_s: float = 0.0  # 0: the backend's default
    repairs: int = 2  # bad replies sent back to the model with the error, per proposal
    max_retries: int = 2  # the SDK's retries of one call (429, 5xx, connection errors)
    api_key_env: str = ""  # the variable holding the key; "": the backend's usual one
    thinking_budget: int = 0  # anthropic: thinking with a fixed budget (>= 1024 tokens); 0: off
    reasoning_effort: str = ""  # see REASONING_EFFORTS; "": the model's default

    @property
    def label(self) -> str:
        model = f":{self.model}" if self.model else ""
        return f"{self.persona}@{self.backend}{model}"

    def problem(self) -> str:
        """'' for a well-formed spec, else what is wrong and the fix, in one line.

        The one check of an agent, wherever it came from (an `[[agents]]` table,
        `--agents`, code): a persona, a known backend, a command for the `command`
        backend (its `command`, or the model part of `x@command:CMD`), numbers >= 0
        (whole ones for the int fields), and reasoning settings its backend takes
        (`_reasoning_problem`). What a backend needs from the environment (a key, a
        server, a program on PATH) agents/backends.py checks when it builds one.
        """
        if not isinstance(self.persona, str) or not self.persona:
            return 'has no persona — add persona = "explorer"'
        if self.backend not in BACKENDS:
            return f"backend {self.backend!r} is unknown — use one of {', '.join(BACKENDS)}"
        if self.backend == "command" and not str(self.command or self.model).strip():
            return 'backend "command" has no command — add command = "claude -p"'
        for spec_field in fields(self):
            if spec_field.type not in ("int", "float"):
                continue
            value = getattr(self, spec_field.name)
            whole = spec_field.type == "int"
            number = isinstance(value, int) or (not whole and isinstance(value, float))
            if isinstance(value, bool) or not number or value < 0:
                return (
                    f"{spec_field.name} must be a {'whole ' if whole else ''}number >= 0, "
                    f"not {value!r}"
                )
        return self._reasoning_problem()

    def _reasoning_problem(self) -> str:
        """`reasoning_effort`: one of its backend's REASONING_EFFORTS. `thinking_budget`:
        anthropic only, not with an effort, >= 1024 and below max_tokens when that is set.
        """
        effort, budget = self.reasoning_effort, self.thinking_budget
        efforts = REASONING_EFFORTS.get(self.backend, ())
        if effort != "" and not efforts:
            takers = ", ".join(REASONING_EFFORTS)
            return f"reasoning_effort is for the {takers} backends, not {self.backend}"
        if effort != "" and (not isinstance(effort, str) or effort not in efforts):
            known = ", ".join(efforts)
            return f"reasoning_effort {effort!r} is unknown to {self.backend} — use {known}"
        if not budget:
            return ""
        if self.backend != "anthropic":
            hint = " — use reasoning_effort" if efforts else ""
            return f"thinking_budget is for the anthropic backend, not {self.backend}{hint}"
        if effort:
            return (
                "set thinking_budget (a fixed budget: Claude models before 4.6) or "
                "reasoning_effort (adaptive thinking: 4.6 and later), not both"
            )
        if budget < MIN_THINKING_BUDGET:
            return (
                f"thinking_budget must be >= {MIN_THINKING_BUDGET} (Anthropic's minimum) "
                f"or 0 (off), not {budget}"
            )
        if self.max_tokens and budget >= self.max_tokens:
            return (
                f"thinking_budget {budget} must be below max_tokens {self.max_tokens} — the "
                "reply needs room after the thinking; raise max_tokens or leave it 0"
            )
        return ""


@dataclass
class CallRecord:
    """One model call (or one command-line agent run), for the `calls` table.

    `input_tokens` counts the whole prompt, cached parts included; `cached_tokens` is
    the part read from the provider's prompt cache and `cache_write_tokens` the part
    written to it (Anthropic). `output_tokens` includes the model's thinking (Anthropic
    extended thinking, OpenAI reasoning), billed as output; `reasoning_tokens` says how
    much of it that was, where the API reports it. `priced` is False when the model is
    not in the price table (agents/pricing.py): its `cost_usd` is then 0, not a real cost.
    """

    persona: str
    backend: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    latency_s: float = 0.0
    cost_usd: float = 0.0
    error: str = ""
    cache_write_tokens: int = 0
    priced: bool = True
    reasoning_tokens: int = 0  # the part of output_tokens spent thinking (billed as output)


@dataclass
class Proposal:
    """A child to train: the full new contents of the editable files it changed."""

    description: str  # one line, reads like a commit message
    files: dict[str, str]  # changed editable path -> new full content
    rationale: str = ""
    model: str = ""
    calls: list[CallRecord] = field(default_factory=list)
    reply: str = ""  # the raw model reply, kept for reading


class ProposalFailed(Exception):
    """A proposal that could not be made; the search records it and goes on."""

    def __init__(self, reason: str, *, reply: str = "", calls: list[CallRecord] | None = None):
        super().__init__(reason)
        self.reason = reason
        self.reply = reply
        self.calls = calls or []


@runtime_checkable
class Proposer(Protocol):
    """A persona bound to a backend. `propose` may be slow (an LLM): it is awaited."""

    spec: AgentSpec

    async def propose(self, request: ProposalRequest) -> Proposal: ...


@dataclass
class LessonsReply:
    """A lessons note as a model wrote it (at most `LessonsRequest.max_words` words)."""

    text: str
    model: str = ""
    calls: list[CallRecord] = field(default_factory=list)


@runtime_checkable
class LessonsWriter(Protocol):
    """A persona that can write the lessons note (the model backends: agents/llm.py).
    A failure raises `ProposalFailed` with a one-line reason and the calls made."""

    spec: AgentSpec

    async def write_lessons(self, request: LessonsRequest) -> LessonsReply: ...


def lessons_agent_problem(persona: str, agents: list[AgentSpec]) -> str:
    """'' when `[search] lessons_agent` (a persona; "" = the first model-backed agent)
    names an agent that can write the lessons note, else what is wrong and the fix."""
    if not persona:
        return ""
    named = [a for a in agents if persona in (a.persona, a.label)]
    if not named:
        known = ", ".join(a.persona for a in agents)
        return (
            f"{persona!r} is no [[agents]] persona — use one of {known}, or leave it "
            "empty for the first model-backed one"
        )
    if not any(a.backend in LESSONS_BACKENDS for a in named):
        return (
            f"{persona!r} runs on {named[0].backend}, which cannot write lessons — "
            f"name an agent on {', '.join(LESSONS_BACKENDS)}"
        )
    return ""
