"""Build a `Proposer` for each agent spec: the mutator here, the others in `backends`."""

from __future__ import annotations

from pathlib import Path

from autoresearch_tui.agents.mutator import Mutator
from autoresearch_tui.agents.proposer import AgentSpec, Proposer


def build_proposer(spec: AgentSpec, workspace: Path) -> Proposer:
    if spec.backend == "mutator":
        return Mutator(spec)
    from autoresearch_tui.agents.backends import make_backend

    return make_backend(spec, workspace)


def build_proposers(specs: list[AgentSpec], workspace: Path) -> list[Proposer]:
    return [build_proposer(spec, workspace) for spec in specs]
