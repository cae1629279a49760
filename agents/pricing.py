"""The price table: list prices per 1M tokens of the common Anthropic and OpenAI models.

This is the only place prices live; the backends call `call_cost` for every model call.
Prices are USD per million tokens at standard (not batch, not priority) rates, as listed
on platform.claude.com/docs/en/about-claude/pricing and OpenAI's pricing page in
November 2026 — check them there before trusting a budget. Anthropic cache writes are
the 5-minute ones (1.25x input); OpenAI reports no cache writes. Haiku 5.5 has a second,
higher tier for prompts over 100k tokens; the table carries the common (lower) tier.

Thinking is output: Anthropic's extended thinking and OpenAI's reasoning tokens are
billed at the output price and every API counts them in its output tokens, so a call's
cost is the same sum with or without them; `Usage.reasoning_tokens` only says how much
of the output they were.

A model missing from the table (a local server's, a brand-new one) costs 0 and its
`CallRecord` is marked `priced=False`, so `status` can say the total is incomplete.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Price:
    """USD per 1M tokens."""

    input: float
    output: float
    cache_read: float
    cache_write: float = 0.0  # 0: the provider does not bill cache writes apart


@dataclass(frozen=True)
class Usage:
    """What one call used, split by how it is billed."""

    input_tokens: int = 0  # prompt tokens neither read from nor written to the cache
    output_tokens: int = 0  # everything the model wrote, its thinking included
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0  # the thinking part of output_tokens: priced in it, not again

    @property
    def prompt_tokens(self) -> int:
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens


def _anthropic(input: float, output: float, cache_read: float) -> Price:
    return Price(input, output, cache_read, cache_write=input * 1.25)


def _openai(input: float, output: float, cache_read: float | None = None) -> Price:
    return Price(input, output, input if cache_read is None else cache_read)


_OPUS_45 = _anthropic(5.0, 25.0, 0.50)
_OPUS_4 = _anthropic(15.0, 75.0, 1.50)
_SONNET_4 = _anthropic(3.0, 15.0, 0.30)

PRICES: dict[str, Price] = {
    # Anthropic
    "claude-fable-5-1": _anthropic(10.0, 50.0, 0.25),
    "claude-mythos-5-1": _anthropic(10.0, 50.0, 0.25),
    "claude-fable-5": _anthropic(10.0, 50.0, 1.0),
    "claude-mythos-5": _anthropic(10.0, 50.0, 1.0),
    "claude-opus-5-5": _anthropic(4.0, 20.0, 0.20),
    "claude-opus-5": _OPUS_45,
    "claude-opus-4-8": _OPUS_45,
    "claude-opus-4-7": _OPUS_45,
    "claude-opus-4-6": _OPUS_45,
    "claude-opus-4-5": _OPUS_45,
    "claude-opus-4-1": _OPUS_4,
    "claude-opus-4-0": _OPUS_4,
    "claude-opus-4": _OPUS_4,
    "claude-sonnet-5-5": _anthropic(2.0, 10.0, 0.10),
    "claude-sonnet-5": _anthropic(2.0, 10.0, 0.20),
    "claude-sonnet-4-6": _SONNET_4,
    "claude-sonnet-4-5": _SONNET_4,
    "claude-sonnet-4-0": _SONNET_4,
    "claude-sonnet-4": _SONNET_4,
    "claude-3-7-sonnet": _SONNET_4,
    "claude-haiku-5-5": _anthropic(0.10, 0.50, 0.01),
    "claude-haiku-4-5": _anthropic(1.0, 5.0, 0.10),
    "claude-3-5-haiku": _anthropic(0.80, 4.0, 0.08),
    # OpenAI
    "gpt-5.6-sol": _openai(5.0, 30.0, 0.50),
    "gpt-5.6-terra": _openai(2.50, 15.0, 0.25),
    "gpt-5.6-luna": _openai(1.0, 6.0, 0.10),
    "gpt-5.5": _openai(5.0, 30.0, 0.50),
    "gpt-5.5-pro": _openai(30.0, 180.0),
    "gpt-5.4": _openai(2.50, 15.0, 0.25),
    "gpt-5.4-mini": _openai(0.75, 4.50, 0.075),
    "gpt-5.4-nano": _openai(0.20, 1.25, 0.02),
    "gpt-5.4-pro": _openai(30.0, 180.0),
    "gpt-5.2": _openai(1.75, 14.0, 0.175),
    "gpt-5.2-pro": _openai(21.0, 168.0),
    "gpt-5.1": _openai(1.25, 10.0, 0.125),
    "gpt-5.1-codex": _openai(1.25, 10.0, 0.125),
    "gpt-5": _openai(1.25, 10.0, 0.125),
    "gpt-5-mini": _openai(0.25, 2.0, 0.025),
    "gpt-5-nano": _openai(0.05, 0.40, 0.005),
    "gpt-4.1": _openai(2.0, 8.0, 0.50),
    "gpt-4.1-mini": _openai(0.40, 1.60, 0.10),
    "gpt-4.1-nano": _openai(0.10, 0.40, 0.025),
    "gpt-4o": _openai(2.50, 10.0, 1.25),
    "gpt-4o-mini": _openai(0.15, 0.60, 0.075),
    "o3": _openai(2.0, 8.0, 0.50),
    "o4-mini": _openai(1.10, 4.40, 0.275),
}

_DATE_SUFFIX = re.compile(r"(-\d{4}-\d{2}-\d{2}|-\d{8}|@\d{8}|-v\d+(:\d+)?)$")


def price_for(model: str) -> Price | None:
    """The model's price: exact name, else without a provider prefix or date suffix."""
    name = model.strip().lower()
    for candidate in (name, name.rsplit("/", 1)[-1]):
        if candidate in PRICES:
            return PRICES[candidate]
        bare = _DATE_SUFFIX.sub("", candidate.removeprefix("anthropic."))
        if bare in PRICES:
            return PRICES[bare]
    return None


def call_cost(model: str, usage: Usage) -> tuple[float, bool]:
    """(USD, priced): the cost of one call; (0.0, False) for a model not in the table."""
    price = price_for(model)
    if price is None:
        return 0.0, False
    cost = (
        usage.input_tokens * price.input
        + usage.output_tokens * price.output
        + usage.cache_read_tokens * price.cache_read
        + usage.cache_write_tokens * price.cache_write
    ) / 1_000_000
    return cost, True
