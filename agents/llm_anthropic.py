"""The `anthropic` backend: the Messages API through the official SDK (AsyncAnthropic).

The prompt's stable prefix is marked for prompt caching, with three of the API's four
`cache_control: ephemeral` breakpoints: after the system block (role, reply format,
program, brief), after the parent's files, and after the task's tree-wide part (the text
before PARENT_MARK: hints, noise, best, results, constants tried; the rest of the task,
this parent's part and the request, is a block of its own). A call reads the longest
marked prefix an earlier call wrote: the files for one persona's children of one parent,
the tree-wide part too for its repairs, a proposal sent back and asked again, or a
sibling asked before a run finished (`bench prompts` measures it). A prefix shorter than
the model's minimum (4,096 tokens for claude-opus-4-6) is not cached. Retries (429, 5xx,
connection errors, honouring retry-after) and the timeout are the SDK's, configured from
the agent spec.

Thinking, off unless the agent asks: `reasoning_effort` sends adaptive thinking
(`thinking: {type: adaptive}`, `output_config: {effort}`), the mode of the Claude 4.6
models and later (Opus 4.7 on take no other); `thinking_budget` sends manual extended
thinking (`thinking: {type: enabled, budget_tokens}`) for the models before them. Thinking
tokens count against `max_tokens`, so an unset `max_tokens` grows by the budget (or
THINKING_ROOM) and an unset `timeout_s` doubles. No temperature is sent (none ever is).
The reply is read from its `text` blocks only, never the thinking blocks, and the
thinking is priced as the output tokens it is billed as (`usage.output_tokens`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, cast

import anthropic
from anthropic.types import (
    CacheControlEphemeralParam,
    MessageParam,
    OutputConfigParam,
    TextBlockParam,
    ThinkingConfigParam,
)

from autoresearch_tui.agents.llm import ChatError, Completion, LLMProposer, Turn, describe_api_error
from autoresearch_tui.agents.pricing import Usage
from autoresearch_tui.agents.prompt import PARENT_MARK, Prompt
from autoresearch_tui.agents.proposer import AgentSpec

DEFAULT_MODEL = "claude-opus-4-6"
CACHE: CacheControlEphemeralParam = {"type": "ephemeral"}
THINKING_ROOM = 16_000  # max_tokens added for adaptive thinking when max_tokens is unset


def task_blocks(task: str) -> list[TextBlockParam]:
    """The task as two blocks, the tree-wide part (before PARENT_MARK) with a cache
    breakpoint; one block when it has no such part (a hand-built request's task)."""
    shared, mark, rest = task.partition(PARENT_MARK)
    if not mark or not shared.strip():
        return [{"type": "text", "text": task}]
    return [
        {"type": "text", "text": shared.rstrip(), "cache_control": CACHE},
        {"type": "text", "text": mark + rest},
    ]


def anthropic_messages(prompt: Prompt, turns: list[Turn]) -> list[MessageParam]:
    first: MessageParam = {
        "role": "user",
        "content": [
            {"type": "text", "text": prompt.files, "cache_control": CACHE},
            *task_blocks(prompt.task),
        ],
    }
    return [first, *(_message(t) for t in turns)]


def _message(turn: Turn) -> MessageParam:
    if turn.role == "user":
        return {"role": "user", "content": turn.text}
    return {"role": "assistant", "content": turn.text}


class AnthropicProposer(LLMProposer):
    backend = "anthropic"

    def __init__(
        self,
        spec: AgentSpec,
        workspace: Path,
        *,
        api_key: str = "",
        auth_token: str = "",
        base_url: str = "",
    ):
        super().__init__(spec, workspace, spec.model or DEFAULT_MODEL)
        self._api_key = api_key
        self._auth_token = auth_token
        self.base_url = base_url
        self._client: anthropic.AsyncAnthropic | None = None
        thinks = spec.thinking_budget or spec.reasoning_effort
        if thinks and not spec.max_tokens:  # the reply keeps its usual room above the thinking
            self.max_tokens += spec.thinking_budget or THINKING_ROOM
        if thinks and not spec.timeout_s:
            self.timeout_s *= 2

    def thinking(self) -> ThinkingConfigParam | anthropic.Omit:
        """The agent's thinking: adaptive with an effort, a fixed budget, or nothing sent."""
        if self.spec.reasoning_effort:
            return {"type": "adaptive"}
        if self.spec.thinking_budget:
            return {"type": "enabled", "budget_tokens": self.spec.thinking_budget}
        return anthropic.omit

    def output_config(self) -> OutputConfigParam | anthropic.Omit:
        """The adaptive thinking's effort (AgentSpec.problem checked the value)."""
        effort = self.spec.reasoning_effort
        if not effort:
            return anthropic.omit
        return {"effort": cast(Literal["low", "medium", "high", "xhigh", "max"], effort)}

    def client(self) -> anthropic.AsyncAnthropic:
        if self._client is None:
            self._client = anthropic.AsyncAnthropic(  # the API key if there is one, else the token
                api_key=self._api_key or None,
                auth_token=None if self._api_key else self._auth_token,
                base_url=self.base_url or None,
                max_retries=self.spec.max_retries,
                timeout=self.timeout_s,
            )
        return self._client

    async def complete(self, prompt: Prompt, turns: list[Turn]) -> Completion:
        try:
            message = await self.client().messages.create(
                model=self.model,
                max_tokens=self.max_tokens,
                system=[{"type": "text", "text": prompt.system, "cache_control": CACHE}],
                messages=anthropic_messages(prompt, turns),
                thinking=self.thinking(),
                output_config=self.output_config(),
            )
        except anthropic.AnthropicError as exc:
            raise ChatError(
                describe_api_error(exc, self.timeout_s, self.spec.max_retries)
            ) from None
        text = "".join(block.text for block in message.content if block.type == "text")
        u = message.usage
        usage = Usage(
            input_tokens=u.input_tokens or 0,
            output_tokens=u.output_tokens or 0,  # the thinking included, billed as output
            cache_read_tokens=u.cache_read_input_tokens or 0,
            cache_write_tokens=u.cache_creation_input_tokens or 0,
            reasoning_tokens=u.output_tokens_details.thinking_tokens
            if u.output_tokens_details
            else 0,
        )
        return Completion(text, usage, message.model, message.stop_reason == "max_tokens")
