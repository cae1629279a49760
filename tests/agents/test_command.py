"""The `command` backend: a coding-agent command line in the node's worktree."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import git as gitpython
import pytest
from fake_llm_server import ANTHROPIC_KEY
from synthetic import TRAIN_PY

from autoresearch_tui.agents.backends import make_backend
from autoresearch_tui.agents.command import CommandProposer
from autoresearch_tui.agents.proposer import AgentSpec, ProposalFailed
from autoresearch_tui.agents.request import ProposalRequest
from autoresearch_tui.search.config import load_config
from autoresearch_tui.search.scheduler import Scheduler
from autoresearch_tui.search.slots import Slot
from autoresearch_tui.search.store import Store

AGENT = Path(__file__).parent / "fake_agent.py"


def spec(mode: str, **kw: object) -> AgentSpec:
    command = f"{sys.executable} {AGENT} {mode}"
    return AgentSpec("coder", "command", command=command, **kw)  # type: ignore[arg-type]


def request(worktree: Path) -> ProposalRequest:
    return ProposalRequest(
        workspace=worktree,
        parent_id="n0000",
        parent_files={"train.py": TRAIN_PY},
        editable=["train.py"],
        metric="val_bpb",
        goal="min",
        seed=0,
        worktree=worktree,
    )


def test_a_run_where_the_command_edits_train_py_and_touches_other_files(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "prompts.txt"
    monkeypatch.setenv("FAKE_AGENT_LOG", str(log))
    config = load_config(workspace)
    proposer = make_backend(spec("edit"), workspace)
    search = Scheduler(config, [proposer], slots=[Slot("cpu0", threads=1)], max_experiments=1)
    asyncio.run(search.run())
    [node] = [n for n in search.tree if n.persona == "coder"]
    assert node.status == "done", node.reason
    assert node.persona == "coder" and node.description == "deeper model (DEPTH 8 -> 10)"
    assert "More layers should pay off" in node.rationale
    assert "Discarded changes to files that are not editable: notes.txt, prepare.py" in (
        node.rationale
    )
    repo = gitpython.Repo(workspace)
    diff = repo.git.diff(search.tree["n0000"].commit, node.commit)
    changed = [x for x in diff.splitlines() if x[:1] in "+-" and x[:3] not in ("+++", "---")]
    assert changed == ["-DEPTH = 8", "+DEPTH = 10"] and "diff --git a/train.py" in diff
    assert repo.git.diff("--name-only", search.tree["n0000"].commit, node.commit) == "train.py"
    # The person's checkout is untouched and the proposal's worktree is gone.
    assert not repo.is_dirty(untracked_files=True)
    assert not any((config.state_dir / "worktrees").iterdir())
    reply = (config.log_dir / f"{node.id}.reply.md").read_text()
    assert "Made the model deeper" in reply and "notes.txt, prepare.py" in reply
    prompt = log.read_text()
    assert "Edit only these files: train.py" in prompt and "# Synthetic program" in prompt
    assert "DEPTH = 8" in prompt and "Propose one child of n0000" in prompt
    [call] = Store(config.db_path).db["calls"].rows
    assert call["backend"] == "command" and call["persona"] == "coder"
    assert call["priced"] == 0 and call["cost_usd"] == 0 and call["latency_s"] > 0


async def test_the_time_limit_kills_the_whole_process_group(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pidfile = tmp_path / "child.pid"
    monkeypatch.setenv("FAKE_AGENT_PIDFILE", str(pidfile))
    proposer = CommandProposer(spec("sleep", timeout_s=1.0), workspace)
    start = time.monotonic()
    with pytest.raises(ProposalFailed) as info:
        await proposer.propose(request(workspace))
    assert time.monotonic() - start < 8
    assert "timed out after 1s" in info.value.reason
    assert info.value.calls[0].error
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while Path(f"/proc/{child}").exists() and "Z" not in _state(child):
        assert time.monotonic() < deadline, f"the agent's child {child} outlived the time limit"
        await asyncio.sleep(0.05)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


async def test_a_failing_command_fails_the_proposal(workspace: Path) -> None:
    with pytest.raises(ProposalFailed) as info:
        await CommandProposer(spec("fail"), workspace).propose(request(workspace))
    assert "exited with code 3: fatal: the agent gave up" in info.value.reason
    assert "working..." in info.value.reply


@pytest.mark.parametrize(("mode", "depth"), [("lazy", "11"), ("broken", "12")])
async def test_no_change_or_a_compile_error_gets_another_run_with_the_error(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str, depth: str
) -> None:
    log = tmp_path / "prompts.txt"
    monkeypatch.setenv("FAKE_AGENT_LOG", str(log))
    proposal = await CommandProposer(spec(mode), workspace).propose(request(workspace))
    assert proposal.files == {"train.py": TRAIN_PY.replace("DEPTH = 8", f"DEPTH = {depth}")}
    assert len(proposal.calls) == 2 and proposal.description == f"DEPTH 8 -> {depth}"
    second = log.read_text().split("\n=====\n")[1]
    expected = (
        "none of the editable files (train.py) changed"
        if mode == "lazy"
        else "train.py does not compile after the edits"
    )
    assert expected in second


async def test_secrets_in_the_agents_output_are_redacted(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    proposal = await CommandProposer(spec("leaky"), workspace).propose(request(workspace))
    assert "my key is [redacted]" in proposal.reply and ANTHROPIC_KEY not in proposal.reply
    assert os.environ["ANTHROPIC_API_KEY"] == ANTHROPIC_KEY


def test_the_command_may_come_as_the_model_part_of_agents(workspace: Path) -> None:
    proposer = make_backend(
        AgentSpec("coder", "command", model=f"{sys.executable} -c pass"), workspace
    )
    assert isinstance(proposer, CommandProposer) and proposer.can_debug
