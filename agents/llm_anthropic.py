"""The `anthropic` backend: the Messages API through the official SDK (AsyncAnthropic).

The prompt's stable prefix is marked for prompt caching: the system block (role, reply
format, program, brief) and the user block with the parent's files each carry
`cache_control: ephemeral`, so proposals from one persona, and repairs and siblings of
one parent, read them from the cache. Retries (429, 5xx, connection errors, honouring
retry-after) and the timeout are the SDK's, configured from the agent spec.
"""

from __future__ import annotations

from pathlib import Path

import anthropic
from anthropic.types import CacheControlEphemeralParam, MessageParam

from autoresearch_tui.agents.llm import ChatError, Completion, LLMProposer, Turn, describe_api_error
from autoresearch_tui.agents.pricing import Usage
from autoresearch_tui.agents.prompt import Prompt
from autoresearch_tui.agents.proposer import AgentSpec

DEFAULT_MODEL = "claude-opus-4-6"
CACHE: CacheControlEphemeralParam = {"type": "ephemeral"}


def anthropic_messages(prompt: Prompt, turns: list[Turn]) -> list[MessageParam]:
    first: MessageParam = {
        "role": "user",
        "content": [
            {"type": "text", "text": prompt.files, "cache_control": CACHE},
            {"type": "text", "text": prompt.task},
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
            )
        except anthropic.AnthropicError as exc:
            raise ChatError(
                describe_api_error(exc, self.timeout_s, self.spec.max_retries)
            ) from None
        text = "".join(
            getattr(block, "text", "") for block in message.content if block.type == "text"
        )
        u = message.usage
        usage = Usage(
            input_tokens=u.input_tokens or 0,
            output_tokens=u.output_tokens or 0,
            cache_read_tokens=u.cache_read_input_tokens or 0,
            cache_write_tokens=u.cache_creation_input_tokens or 0,
        )
        return Completion(text, usage, message.model, message.stop_reason == "max_tokens")
