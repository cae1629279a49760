"""Build a `Proposer` for each agent spec (agents/backends.py holds the builders)."""

from __future__ import annotations

from pathlib import Path

from autoresearch_tui.agents.backends import make_backend
from autoresearch_tui.agents.proposer import AgentSpec, Proposer


def build_proposer(spec: AgentSpec, workspace: Path) -> Proposer:
    """The proposer of one spec; AgentSetupError (a ValueError) when it cannot work."""
    return make_backend(spec, workspace)


def build_proposers(specs: list[AgentSpec], workspace: Path) -> list[Proposer]:
    return [build_proposer(spec, workspace) for spec in specs]
