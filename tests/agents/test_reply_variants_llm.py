"""Reply variants through a real SDK: the real openai client against the fake server on
127.0.0.1 (tests/agents/fake_llm_server.py), so a tolerated variant costs no repair round
and a repair message says how many tries are left."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_llm_server import FakeLLMServer, Reply
from synthetic import TRAIN_PY, train_request

from autoresearch_tui.agents.backends import make_backend
from autoresearch_tui.agents.proposer import AgentSpec, Proposal, ProposalFailed

UNIFIED_DIFF = """\
ANALYSIS: The parent is shallow for its budget.

DESCRIPTION: deeper: DEPTH 8 -> 12
RATIONALE: More capacity should lower val_bpb.

```diff
--- a/train.py
+++ b/train.py
@@ -6,3 +6,3 @@
 LR = 0.04  # learning rate
-DEPTH = 8
+DEPTH = 12
 WARMUP = 0.1
```
"""
NOT_FOUND = """\
DESCRIPTION: deeper
RATIONALE: More capacity.

train.py
<<<<<<< SEARCH
DEPTH = 6
=======
DEPTH = 12
>>>>>>> REPLACE
"""


def openai_agent(server: FakeLLMServer, tmp_path: Path, repairs: int = 2) -> object:
    spec = AgentSpec(
        "architect", "openai", base_url=server.url + "/v1", max_retries=0, repairs=repairs
    )
    return make_backend(spec, tmp_path)


request = train_request


async def test_a_unified_diff_is_accepted_without_a_repair_round(
    server: FakeLLMServer, keys: dict[str, str], tmp_path: Path
) -> None:
    server.script.append(Reply(UNIFIED_DIFF))
    proposer = openai_agent(server, tmp_path)
    proposal: Proposal = await proposer.propose(request(tmp_path))  # type: ignore[attr-defined]
    assert proposal.files == {"train.py": TRAIN_PY.replace("DEPTH = 8", "DEPTH = 12")}
    assert proposal.description == "deeper: DEPTH 8 -> 12"
    assert proposal.rationale == (
        "More capacity should lower val_bpb.\n\nAnalysis: The parent is shallow for its budget."
    )
    assert len(server.requests) == 1 and len(proposal.calls) == 1
    assert "up to 2 more chances" in server.requests[0].system


async def test_each_repair_message_says_how_many_tries_are_left(
    server: FakeLLMServer, keys: dict[str, str], tmp_path: Path
) -> None:
    server.script.extend([Reply(NOT_FOUND), Reply(NOT_FOUND), Reply(NOT_FOUND)])
    proposer = openai_agent(server, tmp_path)
    with pytest.raises(ProposalFailed) as failed:
        await proposer.propose(request(tmp_path))  # type: ignore[attr-defined]
    assert "reply rejected 3 times" in failed.value.reason
    first, second = (server.requests[k].messages[-1]["text"] for k in (1, 2))
    assert "SEARCH line 1 'DEPTH = 6' is not in the file (closest: line 7 'DEPTH = 8')" in first
    assert "You have 2 tries left, this one included." in first
    assert "This is your last try" in second
