"""A merge conflict resolved by a model-backed persona (issue 5): the real openai SDK
talks to the fake server on 127.0.0.1; the scheduler makes the merge node from its reply."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

from fake_llm_server import FakeLLMServer, Reply, Request
from synthetic import ScriptedProposer, git, true_metric

from autoresearch_tui.agents.factory import build_proposer
from autoresearch_tui.agents.proposer import AgentSpec
from autoresearch_tui.search.config import load_config, state_db_path
from autoresearch_tui.search.scheduler import Scheduler
from autoresearch_tui.search.slots import Slot
from autoresearch_tui.search.store import Store

# Two improving branches that both changed the LR line: a three-way merge conflicts.
SCRIPT = [
    [("LR = 0.04", "LR = 0.08")],  # 1.055
    [("LR = 0.04", "LR = 0.06"), ('ACT = "relu"', 'ACT = "gelu"')],  # 1.043: the best
]
RESOLVED = """\
DESCRIPTION: LR 0.08 from the other branch, gelu kept
RATIONALE: Both branches raised the LR; the other one went to 0.08, which measured better.

train.py
<<<<<<< SEARCH
LR = 0.06  # learning rate
=======
LR = 0.08  # learning rate
>>>>>>> REPLACE
"""


class ScriptThenWait(ScriptedProposer):
    """The two branches, then proposals that never come (the test stops the search), so
    the model-backed persona is never asked for an ordinary proposal."""

    async def propose(self, request):  # type: ignore[no-untyped-def]
        if not self.script:
            await asyncio.Event().wait()
        return await super().propose(request)


def merge_search(workspace: Path, server: FakeLLMServer, replies: dict[str, str]) -> Scheduler:
    def answer(request: Request) -> Reply:
        assert "Merge: apply" in request.text  # only merges are asked of this persona
        return Reply(replies["merge"])

    server.responder = answer
    config = load_config(workspace, check_clean=False)
    config = dataclasses.replace(
        config, search=dataclasses.replace(config.search, base_runs=1, confirm_runs=0)
    )
    llm = build_proposer(
        # weight ~0: the round robin never gives it an ordinary proposal
        AgentSpec("architect", "openai-compatible", model="local-llm",
                  base_url=f"{server.url}/v1", weight=1e-9, max_retries=0, repairs=0),
        workspace,
    )  # fmt: skip
    s = Scheduler(config, [ScriptThenWait(list(SCRIPT)), llm],
               slots=[Slot("cpu0", threads=1)], max_experiments=4)  # fmt: skip

    def settled() -> bool:
        """A merge node was made and has ended: ran, or failed as a proposal."""
        merges = [n for n in s.tree if n.kind == "merge"]
        return bool(merges) and all(n.status in ("done", "failed") for n in merges)

    async def until_the_merge_was_tried() -> None:
        task = asyncio.create_task(s.run())
        deadline = time.monotonic() + 60
        while not settled():
            assert not task.done(), "the search ended before a merge was tried"
            assert time.monotonic() < deadline, (
                f"no merge settled in 60 s: {[(n.id, n.kind, n.status) for n in s.tree]}"
            )
            await asyncio.sleep(0.05)
        s.stop()  # the other persona waits for ever: nothing else would happen
        await task

    asyncio.run(until_the_merge_was_tried())
    return s


def test_a_conflict_is_resolved_by_a_model_backed_persona(
    workspace: Path, server: FakeLLMServer, keys: dict[str, str]
) -> None:
    s = merge_search(workspace, server, {"merge": RESOLVED})
    (merge,) = [n for n in s.tree if n.kind == "merge"]
    measured = [n for n in s.tree if n.kind == "improve" and n.has_metric]
    lr, act = sorted(measured, key=lambda n: n.metric)[::-1]  # type: ignore[arg-type,return-value]
    assert (merge.parent, merge.other_parents) == (act.id, [lr.id])  # the best first
    assert merge.persona == "architect" and merge.backend == "openai-compatible"
    assert "architect resolved the conflict" in merge.description
    # the model saw the other branch's change as a diff against the common ancestor
    (exchange,) = server.exchanges
    assert "-LR = 0.04  # learning rate\n+LR = 0.08  # learning rate" in exchange.request.text
    # the merged file runs: LR 0.08 and gelu, as the formula says
    assert merge.status == "done"
    assert abs(merge.metric - true_metric(0.08, 8, 0.1, False, "gelu")) < 1e-6  # type: ignore[operator]
    parents = git(workspace, "rev-list", "--parents", "-n", "1", merge.commit).split()[1:]
    assert parents == [act.commit, lr.commit]  # a real merge commit
    store = Store(state_db_path(workspace), readonly=True)
    (call,) = store.db.query("select * from calls where node = ?", [merge.id])
    assert call["persona"] == "architect" and call["input_tokens"] > 0 and not call["error"]
    (event,) = store.events("merge")
    assert event["data"]["resolved_by"] == "architect"


def test_an_unusable_resolution_is_recorded_and_makes_no_merge(
    workspace: Path, server: FakeLLMServer, keys: dict[str, str]
) -> None:
    s = merge_search(workspace, server, {"merge": "DESCRIPTION: nothing\n\nno edits here\n"})
    (failed,) = [n for n in s.tree if n.kind == "merge"]
    assert failed.status == "failed" and "conflict in train.py" in failed.reason
    store = Store(state_db_path(workspace), readonly=True)
    (skipped,) = store.events("merge-skipped")
    assert skipped["data"]["reason"].startswith("conflict in train.py; architect")
    log_dir = load_config(workspace, check_clean=False).log_dir
    assert (log_dir / f"{failed.id}.reply.md").is_file()
