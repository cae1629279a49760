"""Fixtures of the agents' tests: the fake LLM server, test API keys, requests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_llm_server import ANTHROPIC_KEY, OPENAI_KEY, FakeLLMServer


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as fake:
        yield fake


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Test keys in the environment; no base URL or proxy from the machine leaks in."""
    for var in ("ANTHROPIC_BASE_URL", "OPENAI_BASE_URL", "ANTHROPIC_AUTH_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    return {"anthropic": ANTHROPIC_KEY, "openai": OPENAI_KEY}
