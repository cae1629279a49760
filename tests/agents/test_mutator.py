"""The offline mutator: real ast parsing of real files, reproducible, never repeating."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from synthetic import TRAIN_PY

from autoresearch_tui.agents.mutator import Mutator, find_constants
from autoresearch_tui.agents.proposer import AgentSpec, ProposalFailed
from autoresearch_tui.agents.request import ProposalRequest

SOURCE = '''\
"""doc"""
import math
DEPTH = 8  # layers
MATRIX_LR = 0.04
WEIGHT_DECAY: float = 0.0
WARMUP_STEPS = 10
NEG = -3
USE_VE = True
WINDOW = "SSSL"
ACT = "relu"
__version__ = "1"
NAME = "free text"
lst = [1, 2]
if ACT == "gelu" or ACT in ("silu", "relu"):
    pass
def f():
    INNER = 3
'''


def request(files: dict[str, str], tried: set[str] | None = None, seed: int = 0) -> ProposalRequest:
    return ProposalRequest(
        workspace=Path("."), parent_id="n0001", parent_files=files, editable=list(files),
        metric="val_bpb", goal="min", seed=seed, tried_descriptions=tried or set(),
    )  # fmt: skip


def test_finds_module_level_literals_only() -> None:
    found = {c.name: c for c in find_constants("train.py", SOURCE)}
    assert set(found) == {
        "DEPTH",
        "MATRIX_LR",
        "WEIGHT_DECAY",
        "WARMUP_STEPS",
        "NEG",
        "USE_VE",
        "ACT",
    }
    assert found["ACT"].choices == ("gelu", "silu")  # the strings the file compares ACT with
    assert found["NEG"].value == -3


def test_change_reads_like_a_commit_message_and_keeps_layout() -> None:
    proposal = Mutator(AgentSpec("explorer")).propose_sync(request({"train.py": SOURCE}, seed=1))
    new = proposal.files["train.py"]
    ast.parse(new)
    changed = [(a, b) for a, b in zip(SOURCE.splitlines(), new.splitlines(), strict=True) if a != b]
    assert 1 <= len(changed) <= 2
    for part in proposal.description.split("; "):
        name, old, arrow, value = part.split(" ")
        assert arrow == "->" and old != value
        line = next(b for a, b in changed if a.startswith(name))
        assert line.startswith(f"{name}") and value in line
    assert "# layers" in new  # comments survive


def test_reproducible_and_never_repeats() -> None:
    mutator = Mutator(AgentSpec("explorer"))
    first = mutator.propose_sync(request({"train.py": TRAIN_PY}, seed=7))
    again = mutator.propose_sync(request({"train.py": TRAIN_PY}, seed=7))
    assert first.description == again.description and first.files == again.files
    tried: set[str] = set()
    for _ in range(60):
        proposal = mutator.propose_sync(request({"train.py": TRAIN_PY}, tried, seed=7))
        assert proposal.description not in tried
        tried.add(proposal.description)


def test_exhaustion_and_nothing_to_change_fail_cleanly() -> None:
    mutator = Mutator(AgentSpec("explorer"))
    with pytest.raises(ProposalFailed, match="no module-level constants"):
        mutator.propose_sync(request({"train.py": "print(1)\n"}))
    tried: set[str] = set()
    with pytest.raises(ProposalFailed, match="was tried"):
        for _ in range(50):
            tried.add(
                mutator.propose_sync(request({"train.py": "FLAG = True\n"}, tried)).description
            )
    assert tried == {"FLAG True -> False"}


def test_never_touches_a_seed() -> None:
    """A new seed is new luck, not a gain: SEED and train_seed are left alone."""
    source = "SEED = 1337\ntrain_seed = 7\nLR = 0.04\n"
    mutator = Mutator(AgentSpec("explorer"))
    tried: set[str] = set()
    with pytest.raises(ProposalFailed, match="was tried"):
        for _ in range(50):
            tried.add(mutator.propose_sync(request({"train.py": source}, tried)).description)
    assert tried and all(d.startswith("LR ") for d in tried)
    with pytest.raises(ProposalFailed, match="no module-level constants"):
        mutator.propose_sync(request({"train.py": "SEED = 1\n"}))


def test_only_upper_case_hyperparameters_and_fractions_stay_fractions() -> None:
    """Lower-case module state is left alone where UPPER_CASE constants exist; a value in
    (0, 1) such as Adam's beta never reaches 1."""
    source = "ADAM_BETA2 = 0.95\nstep = 0\nsmooth_loss = 0.0\n"
    mutator = Mutator(AgentSpec("explorer"))
    tried: set[str] = set()
    with pytest.raises(ProposalFailed, match="was tried"):
        for _ in range(50):
            proposal = mutator.propose_sync(request({"train.py": source}, tried))
            tried.add(proposal.description)
            value = float(proposal.files["train.py"].splitlines()[0].split("=")[1])
            assert 0 < value < 1, proposal.description
    assert tried and all(d.startswith("ADAM_BETA2 0.95 -> ") for d in tried)
    only_lower = Mutator(AgentSpec("explorer")).propose_sync(request({"train.py": "lr = 0.5\n"}))
    assert only_lower.description.startswith("lr 0.5 -> ")
