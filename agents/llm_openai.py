"""The `openai` and `openai-compatible` backends, through the official SDK (AsyncOpenAI).

`openai` uses the Responses API, OpenAI's current API for its models: reasoning models
keep their reasoning between turns there, the prompt goes in as `instructions` plus
input items (no server-side state: `store=False`), and a `prompt_cache_key` per persona
helps the automatic prompt cache hit. `openai-compatible` uses Chat Completions, which
is what vLLM, Ollama, llama.cpp and most other servers implement, at `base_url`.
An agent's `reasoning_effort` goes to the model as `reasoning.effort` (Responses) or
`reasoning_effort` (Chat Completions); unset, nothing is sent and the model's default
holds. Reasoning tokens are part of the output tokens and priced as such.
Retries and the timeout are the SDK's, configured from the agent spec.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import openai
from openai.types.chat import ChatCompletionMessageParam
from openai.types.responses import EasyInputMessageParam, ResponseInputParam
from openai.types.shared import ReasoningEffort
from openai.types.shared_params import Reasoning

from autoresearch_tui.agents.llm import ChatError, Completion, LLMProposer, Turn, describe_api_error
from autoresearch_tui.agents.pricing import Usage
from autoresearch_tui.agents.prompt import Prompt
from autoresearch_tui.agents.proposer import AgentSpec

DEFAULT_MODEL = "gpt-5.4"


class _OpenAIBase(LLMProposer):
    def __init__(
        self, spec: AgentSpec, workspace: Path, model: str, *, api_key: str, base_url: str = ""
    ):
        super().__init__(spec, workspace, model)
        self._api_key = api_key
        self.base_url = base_url
        self._client: openai.AsyncOpenAI | None = None

    def client(self) -> openai.AsyncOpenAI:
        if self._client is None:
            self._client = openai.AsyncOpenAI(
                api_key=self._api_key,
                base_url=self.base_url or None,
                max_retries=self.spec.max_retries,
                timeout=self.timeout_s,
            )
        return self._client

    def effort(self) -> ReasoningEffort | openai.Omit:
        """The agent's reasoning effort, or nothing sent when it has none."""
        effort = self.spec.reasoning_effort
        return cast(ReasoningEffort, effort) if effort else openai.omit

    def _error(self, exc: Exception) -> ChatError:
        return ChatError(describe_api_error(exc, self.timeout_s, self.spec.max_retries))


class OpenAIResponsesProposer(_OpenAIBase):
    """`openai`: the Responses API."""

    backend = "openai"

    def __init__(self, spec: AgentSpec, workspace: Path, *, api_key: str, base_url: str = ""):
        super().__init__(
            spec, workspace, spec.model or DEFAULT_MODEL, api_key=api_key, base_url=base_url
        )

    async def complete(self, prompt: Prompt, turns: list[Turn]) -> Completion:
        items: ResponseInputParam = [
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": prompt.files},
                    {"type": "input_text", "text": prompt.task},
                ],
            },
            *(EasyInputMessageParam(role=t.role, content=t.text) for t in turns),
        ]
        effort = self.effort()
        reasoning: Reasoning | openai.Omit = openai.omit
        if not isinstance(effort, openai.Omit):
            reasoning = {"effort": effort}
        try:
            response = await self.client().responses.create(
                model=self.model,
                instructions=prompt.system,
                input=items,
                max_output_tokens=self.max_tokens,
                store=False,
                prompt_cache_key=f"autoresearch-tui:{self.spec.persona}",
                reasoning=reasoning,
            )
        except openai.OpenAIError as exc:
            raise self._error(exc) from None
        if response.status == "failed":
            detail = response.error.message if response.error else "no detail"
            raise ChatError(f"the response failed: {detail}")
        u = response.usage
        cached = (u.input_tokens_details.cached_tokens or 0) if u and u.input_tokens_details else 0
        thought = u.output_tokens_details.reasoning_tokens if u and u.output_tokens_details else 0
        usage = Usage(
            input_tokens=(u.input_tokens - cached) if u else 0,
            output_tokens=u.output_tokens if u else 0,  # the reasoning included
            cache_read_tokens=cached,
            reasoning_tokens=thought or 0,
        )
        truncated = response.status == "incomplete"
        return Completion(response.output_text, usage, response.model or "", truncated)


class OpenAIChatProposer(_OpenAIBase):
    """`openai-compatible`: Chat Completions at a configured base_url."""

    backend = "openai-compatible"

    def __init__(self, spec: AgentSpec, workspace: Path, *, api_key: str, base_url: str):
        super().__init__(spec, workspace, spec.model, api_key=api_key, base_url=base_url)

    async def complete(self, prompt: Prompt, turns: list[Turn]) -> Completion:
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": prompt.system},
            {"role": "user", "content": f"{prompt.files}\n\n{prompt.task}"},
            *(_chat_message(t) for t in turns),
        ]
        extra: dict[str, Any] = {}
        if self.spec.max_tokens:  # a local server's own default fits its context window
            extra["max_tokens"] = self.spec.max_tokens
        try:
            response = await self.client().chat.completions.create(
                model=self.model,
                messages=messages,
                reasoning_effort=self.effort(),
                **extra,
            )
        except openai.OpenAIError as exc:
            raise self._error(exc) from None
        if not response.choices:
            raise ChatError("the server returned no choices")
        choice = response.choices[0]
        u = response.usage
        details = getattr(u, "prompt_tokens_details", None) if u else None
        cached = (getattr(details, "cached_tokens", 0) or 0) if details else 0
        output_details = getattr(u, "completion_tokens_details", None) if u else None
        usage = Usage(
            input_tokens=((u.prompt_tokens or 0) - cached) if u else 0,
            output_tokens=(u.completion_tokens or 0) if u else 0,  # the reasoning included
            cache_read_tokens=cached,
            reasoning_tokens=getattr(output_details, "reasoning_tokens", 0) or 0,
        )
        text = choice.message.content or "" if choice.message else ""
        return Completion(text, usage, response.model or "", choice.finish_reason == "length")


def _chat_message(turn: Turn) -> ChatCompletionMessageParam:
    if turn.role == "user":
        return {"role": "user", "content": turn.text}
    return {"role": "assistant", "content": turn.text}
