"""Build the Proposer of an agent spec: `BUILDERS`, one builder per backend name.

The names are agents/proposer.py's `BACKENDS`. `make_backend` checks the spec
(`AgentSpec.problem`) and, at startup, what the backend needs that can be checked: the
API key is in the environment (ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN, OPENAI_API_KEY,
or the variable `api_key_env` names; an `openai-compatible` server may need none), an
`openai-compatible` agent has a base_url and a model, a `command` agent's program exists,
an `optuna` (tuner) agent names a known sampler.
A problem raises `AgentSetupError` (a ValueError) with a one-line fix, which the CLI
prints before any search starts. Base URLs come from the spec's `base_url`, else
ANTHROPIC_BASE_URL / OPENAI_BASE_URL, else the SDK's default. The LLM SDKs are imported
only when an agent uses them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from autoresearch_tui.agents.command import CommandProposer, check_command, command_line
from autoresearch_tui.agents.mutator import Mutator
from autoresearch_tui.agents.proposer import AgentSpec, Proposer

NO_KEY_NEEDED = "not-needed"  # what a local server that checks no key is sent


class AgentSetupError(ValueError):
    """An agent spec that cannot work as configured; the message is one line."""


def _key(spec: AgentSpec, default_var: str) -> tuple[str, str]:
    var = spec.api_key_env or default_var
    return var, os.environ.get(var, "").strip()


def _need_key(spec: AgentSpec, default_var: str) -> str:
    var, key = _key(spec, default_var)
    if not key:
        raise AgentSetupError(
            f"agent {spec.label}: no API key — set {var}, or use explorer@mutator for the "
            "offline persona"
        )
    return key


def _anthropic(spec: AgentSpec, workspace: Path) -> Proposer:
    from autoresearch_tui.agents.llm_anthropic import AnthropicProposer

    base_url = spec.base_url or os.environ.get("ANTHROPIC_BASE_URL", "")
    token = os.environ.get("ANTHROPIC_AUTH_TOKEN", "").strip()
    if token and not spec.api_key_env and not _key(spec, "ANTHROPIC_API_KEY")[1]:
        return AnthropicProposer(spec, workspace, auth_token=token, base_url=base_url)
    key = _need_key(spec, "ANTHROPIC_API_KEY")
    return AnthropicProposer(spec, workspace, api_key=key, base_url=base_url)


def _openai(spec: AgentSpec, workspace: Path) -> Proposer:
    from autoresearch_tui.agents.llm_openai import OpenAIResponsesProposer

    key = _need_key(spec, "OPENAI_API_KEY")
    base_url = spec.base_url or os.environ.get("OPENAI_BASE_URL", "")
    return OpenAIResponsesProposer(spec, workspace, api_key=key, base_url=base_url)


def _openai_compatible(spec: AgentSpec, workspace: Path) -> Proposer:
    from autoresearch_tui.agents.llm_openai import OpenAIChatProposer

    base_url = spec.base_url or os.environ.get("OPENAI_BASE_URL", "")
    if not base_url:
        raise AgentSetupError(
            f"agent {spec.label}: no server — set base_url in its [[agents]] table "
            '(like "http://localhost:8000/v1") or OPENAI_BASE_URL'
        )
    if not spec.model:
        raise AgentSetupError(
            f"agent {spec.label}: no model — write it as {spec.persona}@openai-compatible:"
            "MODEL or set model in its [[agents]] table"
        )
    _, key = _key(spec, "OPENAI_API_KEY")
    return OpenAIChatProposer(spec, workspace, api_key=key or NO_KEY_NEEDED, base_url=base_url)


def _command(spec: AgentSpec, workspace: Path) -> Proposer:
    if problem := check_command(command_line(spec)):
        raise AgentSetupError(f"agent {spec.label}: {problem}")
    return CommandProposer(spec, workspace)


def _mutator(spec: AgentSpec, workspace: Path) -> Proposer:
    return Mutator(spec)


def _optuna(spec: AgentSpec, workspace: Path) -> Proposer:
    from autoresearch_tui.agents.tuner import Tuner, sampler_problem

    if problem := sampler_problem(spec):
        raise AgentSetupError(f"agent {spec.label}: {problem}")
    return Tuner(spec)


BUILDERS: dict[str, Callable[[AgentSpec, Path], Proposer]] = {
    "anthropic": _anthropic,
    "openai": _openai,
    "openai-compatible": _openai_compatible,
    "mutator": _mutator,
    "command": _command,
    "optuna": _optuna,
}  # one per name of BACKENDS (tests/agents/test_llm_backends.py checks)


def make_backend(spec: AgentSpec, workspace: Path) -> Proposer:
    """The Proposer for `spec`; AgentSetupError when it cannot work as configured."""
    if problem := spec.problem():
        raise AgentSetupError(f"agent {spec.label}: {problem}")
    return BUILDERS[spec.backend](spec, workspace)
