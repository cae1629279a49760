"""The `command` backend: a coding-agent command line in the node's worktree."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from pathlib import Path

import git as gitpython
import pytest
from fake_llm_server import ANTHROPIC_KEY
from synthetic import TOML, TRAIN_PY, make_workspace, train_request

from autoresearch_tui.agents.backends import make_backend
from autoresearch_tui.agents.command import CommandProposer
from autoresearch_tui.agents.factory import build_proposers
from autoresearch_tui.agents.pricing import price_for
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
    return train_request(worktree, worktree=worktree)


def test_an_edit_to_prepare_py_goes_back_for_repair_and_the_fixed_proposal_lands(
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
    assert "Discarded new files that are not editable: notes.txt." in node.rationale
    repo = gitpython.Repo(workspace)
    diff = repo.git.diff(search.tree["n0000"].commit, node.commit)
    changed = [x for x in diff.splitlines() if x[:1] in "+-" and x[:3] not in ("+++", "---")]
    assert changed == ["-DEPTH = 8", "+DEPTH = 10"] and "diff --git a/train.py" in diff
    assert repo.git.diff("--name-only", search.tree["n0000"].commit, node.commit) == "train.py"
    # The person's checkout is untouched and the proposal's worktree is gone.
    assert not repo.is_dirty(untracked_files=True)
    assert not any((config.state_dir / "worktrees").iterdir())
    # The second run was told what was discarded and why, and found prepare.py put back.
    first, second = log.read_text().split("\n=====\n")[:2]
    reason = (
        "prepare.py is not editable: your change to it was discarded (the file is back as "
        "it was); put the change in train.py"
    )
    assert reason not in first and f"- {reason}" in second and "repair 1 of 2" in second
    reply = (config.log_dir / f"{node.id}.reply.md").read_text()
    assert "Made the model deeper" in reply and "prepare.py now: TIME_BUDGET = 1" in reply
    calls = list(Store(config.db_path).db["calls"].rows)
    assert [c["backend"] for c in calls] == ["command", "command"]
    assert all(c["priced"] == 0 and c["cost_usd"] == 0 and c["latency_s"] > 0 for c in calls)


async def test_the_prompt_names_the_files_in_the_worktree_instead_of_inlining_them(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "prompts.txt"
    monkeypatch.setenv("FAKE_AGENT_LOG", str(log))
    await CommandProposer(spec("edit"), workspace).propose(request(workspace))
    prompt = log.read_text().split("\n=====\n")[0]
    lines = len(TRAIN_PY.splitlines())
    assert f"in your working directory {workspace}: train.py ({lines} lines)" in prompt
    assert "Also there, for reading only: autoresearch.toml, prepare.py, program.md." in prompt
    assert "DEPTH = 8" not in prompt and "def score" not in prompt and "```" not in prompt
    assert "Edit only these files: train.py" in prompt and "# Synthetic program" in prompt
    assert "Propose one child of n0000" in prompt
    assert prompt.index("# Synthetic program") < prompt.index("working directory")
    assert prompt.index("working directory") < prompt.index("Propose one child")


async def test_a_new_file_that_train_py_imports_is_never_accepted(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "prompts.txt"
    monkeypatch.setenv("FAKE_AGENT_LOG", str(log))
    with pytest.raises(ProposalFailed) as info:
        await CommandProposer(spec("helper"), workspace).propose(request(workspace))
    reason = (
        "helper.py is a new file and only train.py may change, so it was discarded: "
        "`from helper import depth` in train.py would fail when the experiment runs"
    )
    assert info.value.reason.startswith("coder@command: rejected 3 times: " + reason)
    assert len(info.value.calls) == 3 and info.value.calls[
        -1
    ].error == info.value.reason.removeprefix("coder@command: ")
    prompts = log.read_text().split("\n=====\n")
    assert reason not in prompts[0] and reason in prompts[1] and reason in prompts[2]
    # The third run got the reason although the second deleted helper.py: the import stays.
    assert not (workspace / "helper.py").exists()


async def test_a_helper_put_into_train_py_after_the_repair_is_accepted(
    workspace: Path,
) -> None:
    proposal = await CommandProposer(spec("helper-inlined"), workspace).propose(request(workspace))
    assert proposal.files == {"train.py": TRAIN_PY.replace("DEPTH = 8", "DEPTH = 10")}
    assert len(proposal.calls) == 2
    assert "Discarded new files that are not editable: helper.py." in proposal.rationale


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


def test_claude_json_output_is_costed_and_the_budget_stops_new_proposals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`claude -p --output-format json`: $0.60 a run, so a $1 budget allows two or so."""
    log = tmp_path / "prompts.txt"
    monkeypatch.setenv("FAKE_AGENT_LOG", str(log))
    command = f"{sys.executable} {AGENT} claude-json"
    agents = f'[[agents]]\npersona = "coder"\nbackend = "command"\ncommand = "{command}"\n'
    toml = TOML.split("[[agents]]")[0].replace("slots  = 2", "slots  = 2\nmax_cost_usd = 1.0")
    ws = make_workspace(tmp_path / "ws", toml=toml + agents)
    config = load_config(ws)
    notices: list[object] = []
    proposers = build_proposers(config.agents, ws)
    search = Scheduler(config, proposers, max_experiments=20, listeners=[notices.append])
    asyncio.run(search.run())
    runs = log.read_text().count("\n=====\n")
    calls = list(Store(config.db_path).db["calls"].rows)
    assert len(calls) == runs and 2 <= runs <= 5  # the budget, plus what was in flight
    for call in calls:
        assert call["priced"] == 1 and call["cost_usd"] == pytest.approx(0.6)
        assert call["input_tokens"] == 1200 + 30000 + 90000 and call["output_tokens"] == 4000
        assert call["cached_tokens"] == 90000 and call["cache_write_tokens"] == 30000
        assert call["model"] == "claude-opus-4-6" and call["error"] == ""
    totals = Store(config.db_path).call_totals()[""]
    assert totals["cost_usd"] == pytest.approx(0.6 * runs) and totals["cost_usd"] >= 1.0
    assert any("budget reached" in getattr(n, "text", "") for n in notices)
    assert search.started < 20
    # The description and rationale come from the JSON's `result`, not its raw text.
    coded = [n for n in search.tree if n.persona == "coder"]
    assert coded and all(re.fullmatch(r"DEPTH -> \d+", n.description) for n in coded)
    assert all(n.rationale == "Deeper is better here." for n in coded)
    reply = (config.log_dir / f"{coded[0].id}.reply.md").read_text()
    assert "Deeper is better here." in reply and '"total_cost_usd"' not in reply
    assert "121200 tokens in, 4000 out, $0.6000" in reply


async def test_codex_json_events_give_the_text_and_tokens_priced_by_the_model(
    workspace: Path,
) -> None:
    proposal = await CommandProposer(spec("codex-json", model="gpt-5.1-codex"), workspace).propose(
        request(workspace)
    )
    assert proposal.description == "DEPTH 8 -> 9" and proposal.rationale == "A bit deeper."
    [call] = proposal.calls
    assert call.input_tokens == 20000 and call.cached_tokens == 5000
    assert call.output_tokens == 1000 and call.model == "gpt-5.1-codex" and call.priced
    price = price_for("gpt-5.1-codex")
    assert price is not None
    expected = (15000 * price.input + 5000 * price.cache_read + 1000 * price.output) / 1e6
    assert call.cost_usd == pytest.approx(expected) and call.cost_usd > 0
    # Without a model the tokens are kept but the run stays unpriced.
    (workspace / "train.py").write_text(TRAIN_PY)  # the parent again
    proposal = await CommandProposer(spec("codex-json"), workspace).propose(request(workspace))
    [call] = proposal.calls
    assert call.input_tokens == 20000 and not call.priced and call.cost_usd == 0


async def test_a_run_the_cli_reports_as_failed_fails_the_proposal(workspace: Path) -> None:
    with pytest.raises(ProposalFailed) as info:
        await CommandProposer(spec("claude-json-error"), workspace).propose(request(workspace))
    assert "the agent reported a failure: error_max_turns" in info.value.reason
    assert info.value.calls[0].cost_usd == pytest.approx(0.6) and info.value.calls[0].priced
