"""The real anthropic and openai SDK clients against the fake server on 127.0.0.1."""

from __future__ import annotations

import socket
import time
from dataclasses import replace
from pathlib import Path
from typing import get_args, get_type_hints

import pytest
from anthropic.types import OutputConfigParam
from fake_llm_server import (
    ANTHROPIC_KEY,
    OPENAI_KEY,
    FakeLLMServer,
    FakeUsage,
    Reply,
    search_replace,
)
from openai.types.shared import ReasoningEffort
from synthetic import TRAIN_PY, train_request

from autoresearch_tui.agents.backends import BUILDERS, AgentSetupError, make_backend
from autoresearch_tui.agents.llm_anthropic import CACHE, task_blocks
from autoresearch_tui.agents.prompt import PARENT_MARK
from autoresearch_tui.agents.proposer import BACKENDS as ALL_BACKENDS
from autoresearch_tui.agents.proposer import REASONING_EFFORTS, AgentSpec, Proposal, ProposalFailed
from autoresearch_tui.agents.request import Memory, NodeResult, ProposalRequest, TriedChange

GOOD = search_replace("train.py", "DEPTH = 8", "DEPTH = 9", "deeper: DEPTH 8 -> 9")
NOT_COMPILING = search_replace("train.py", "DEPTH = 8", "DEPTH = = 9", "broken")
MALFORMED = "Sure! I would raise the depth to 9, that should help a lot."
BACKENDS = ("anthropic", "openai", "openai-compatible")  # the LLM ones


def base_url(server: FakeLLMServer, backend: str) -> str:
    return server.url if backend == "anthropic" else server.url + "/v1"


def agent(server: FakeLLMServer, backend: str, tmp_path: Path, **kw: object) -> object:
    spec = AgentSpec(
        persona=str(kw.pop("persona", "architect")),
        backend=backend,
        model=str(kw.pop("model", "local-model" if backend == "openai-compatible" else "")),
        base_url=base_url(server, backend),
        max_retries=int(kw.pop("max_retries", 0)),  # type: ignore[call-overload]
        timeout_s=float(kw.pop("timeout_s", 10.0)),  # type: ignore[arg-type]
    )
    return make_backend(replace(spec, **kw), tmp_path)  # type: ignore[arg-type]


request = train_request


async def propose(proposer: object, req: ProposalRequest) -> Proposal:
    return await proposer.propose(req)  # type: ignore[attr-defined]


async def failure(proposer: object, req: ProposalRequest) -> ProposalFailed:
    with pytest.raises(ProposalFailed) as info:
        await propose(proposer, req)
    return info.value


@pytest.mark.parametrize("backend", BACKENDS)
async def test_good_reply_becomes_the_proposal(
    server: FakeLLMServer, keys: dict[str, str], tmp_path: Path, backend: str
) -> None:
    server.script.append(Reply(GOOD, usage=FakeUsage(input=1000, output=200, cache_read=3000)))
    proposal = await propose(agent(server, backend, tmp_path), request(tmp_path))
    assert proposal.files == {"train.py": TRAIN_PY.replace("DEPTH = 8", "DEPTH = 9")}
    assert proposal.description == "deeper: DEPTH 8 -> 9"
    assert proposal.rationale == "Because the test says so."
    assert proposal.reply == GOOD
    [call] = proposal.calls
    assert (call.persona, call.backend, call.error) == ("architect", backend, "")
    assert (call.input_tokens, call.cached_tokens, call.output_tokens) == (4000, 3000, 200)
    [sent] = server.requests
    expected_key = keys["anthropic"] if backend == "anthropic" else keys["openai"]
    assert sent.api_key == expected_key
    assert "Persona: architect" in sent.system and "# Research program" in sent.system
    assert "DEPTH = 8" in sent.text and "Propose one child of n0000" in sent.text


async def test_anthropic_marks_the_stable_prefix_for_caching(
    server: FakeLLMServer, keys: dict[str, str], tmp_path: Path
) -> None:
    usage = FakeUsage(input=800, output=100, cache_read=5000, cache_write=1500)
    server.script.append(Reply(GOOD, usage=usage))
    proposal = await propose(agent(server, "anthropic", tmp_path), request(tmp_path))
    body = server.requests[0].body
    assert body["model"] == "claude-opus-4-6" and body["max_tokens"] == 16000
    assert "thinking" not in body and "temperature" not in body  # no thinking_budget: off
    assert [b.get("cache_control") for b in body["system"]] == [{"type": "ephemeral"}]
    files, task = body["messages"][0]["content"]
    assert files["cache_control"] == {"type": "ephemeral"} and "DEPTH = 8" in files["text"]
    assert "cache_control" not in task and "Your task" in task["text"]
    [call] = proposal.calls
    assert (call.input_tokens, call.cached_tokens, call.cache_write_tokens) == (7300, 5000, 1500)
    assert call.priced and call.cost_usd == pytest.approx(
        (800 * 5 + 100 * 25 + 5000 * 0.5 + 1500 * 6.25) / 1e6
    )


async def test_openai_uses_the_responses_api_without_server_state(
    server: FakeLLMServer, keys: dict[str, str], tmp_path: Path
) -> None:
    server.script.append(Reply(GOOD, usage=FakeUsage(input=1000, output=300, cache_read=2000)))
    proposal = await propose(agent(server, "openai", tmp_path), request(tmp_path))
    sent = server.requests[0]
    assert sent.path == "/v1/responses" and sent.body["store"] is False
    assert sent.body["model"] == "gpt-5.4" and sent.body["max_output_tokens"] == 16000
    assert sent.body["instructions"] == sent.system and "Persona: architect" in sent.system
    assert sent.body["prompt_cache_key"] == "autoresearch-tui:architect"
    assert "reasoning" not in sent.body  # no reasoning_effort: the model's default
    assert proposal.calls[0].cost_usd == pytest.approx((1000 * 2.5 + 300 * 15 + 2000 * 0.25) / 1e6)


async def test_openai_compatible_needs_no_key_and_is_unpriced(
    server: FakeLLMServer, keys: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    server.script.append(Reply(GOOD))
    proposal = await propose(agent(server, "openai-compatible", tmp_path), request(tmp_path))
    sent = server.requests[0]
    assert sent.path == "/v1/chat/completions" and sent.api_key == "not-needed"
    assert sent.body["model"] == "local-model" and "max_tokens" not in sent.body
    assert "reasoning_effort" not in sent.body  # a server that knows no such field is fine
    assert [m["role"] for m in sent.body["messages"]] == ["system", "user"]
    [call] = proposal.calls
    assert call.model == "local-model" and not call.priced and call.cost_usd == 0


# What a model may think before it answers: an edit it considered and dropped.
THOUGHT = "DEPTH = 12 is tempting... " + search_replace("train.py", "DEPTH = 8", "DEPTH = 12")


async def test_anthropic_thinks_within_its_budget_and_the_thinking_is_priced_as_output(
    server: FakeLLMServer, keys: dict[str, str], tmp_path: Path
) -> None:
    usage = FakeUsage(input=1000, output=5000, reasoning=4200)
    server.script.extend([Reply(GOOD, thinking=THOUGHT, usage=usage), Reply(GOOD, usage=usage)])
    model = "claude-sonnet-4-5"  # budgets are for the models before adaptive thinking
    proposer = agent(server, "anthropic", tmp_path, thinking_budget=4096, model=model)
    proposal = await propose(proposer, request(tmp_path))
    body = server.requests[0].body
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 4096}
    assert body["max_tokens"] == 16000 + 4096 and "temperature" not in body
    assert "output_config" not in body
    assert proposal.files == {"train.py": TRAIN_PY.replace("DEPTH = 8", "DEPTH = 9")}
    assert proposal.reply == GOOD and "tempting" not in proposal.reply + proposal.description
    [call] = proposal.calls
    assert call.output_tokens == 5000 and call.priced
    assert call.cost_usd == pytest.approx((1000 * 3 + 5000 * 15) / 1e6)
    capped = agent(
        server, "anthropic", tmp_path, thinking_budget=2048, max_tokens=6000, model=model
    )
    completion = await capped.complete(capped.prompt_for(request(tmp_path)), [])  # type: ignore[attr-defined]
    assert server.requests[1].body["max_tokens"] == 6000
    assert server.requests[1].body["thinking"]["budget_tokens"] == 2048
    assert completion.usage.reasoning_tokens == 4200 and completion.usage.output_tokens == 5000


@pytest.mark.parametrize("backend", BACKENDS)
async def test_reasoning_effort_reaches_the_model_and_reasoning_is_priced_as_output(
    server: FakeLLMServer, keys: dict[str, str], tmp_path: Path, backend: str
) -> None:
    usage = FakeUsage(input=1000, output=900, reasoning=600)
    server.script.extend([Reply(GOOD, thinking=THOUGHT, usage=usage)] * 2)
    model = "claude-opus-4-6" if backend == "anthropic" else "gpt-5.4"  # priced everywhere
    proposer = agent(server, backend, tmp_path, reasoning_effort="high", model=model)
    proposal = await propose(proposer, request(tmp_path))
    sent = server.requests[0].body
    if backend == "anthropic":  # adaptive thinking: the model sizes it, max_tokens has room
        assert sent["thinking"] == {"type": "adaptive"}
        assert sent["output_config"] == {"effort": "high"} and sent["max_tokens"] == 32000
    elif backend == "openai":
        assert sent["reasoning"] == {"effort": "high"} and "reasoning_effort" not in sent
    else:
        assert sent["reasoning_effort"] == "high" and "reasoning" not in sent
    assert proposal.files == {"train.py": TRAIN_PY.replace("DEPTH = 8", "DEPTH = 9")}
    assert proposal.reply == GOOD and "tempting" not in proposal.reply
    [call] = proposal.calls
    assert call.output_tokens == 900 and call.priced
    price_in, price_out = (5, 25) if backend == "anthropic" else (2.5, 15)
    assert call.cost_usd == pytest.approx((1000 * price_in + 900 * price_out) / 1e6)
    completion = await proposer.complete(proposer.prompt_for(request(tmp_path)), [])  # type: ignore[attr-defined]
    assert completion.usage.reasoning_tokens == 600 and completion.text == GOOD


def test_thinking_gets_more_time_unless_a_timeout_is_set(
    keys: dict[str, str], tmp_path: Path
) -> None:
    thinking = make_backend(AgentSpec("a", "anthropic", reasoning_effort="low"), tmp_path)
    plain = make_backend(AgentSpec("a", "anthropic"), tmp_path)
    set_by_hand = make_backend(
        AgentSpec("a", "anthropic", thinking_budget=2048, timeout_s=60), tmp_path
    )
    timeouts = [p.timeout_s for p in (thinking, plain, set_by_hand)]  # type: ignore[attr-defined]
    assert timeouts == [600, 300, 60]


def test_reasoning_efforts_are_the_sdks_own() -> None:
    """Optional[Literal[...]] in both SDKs: the values AgentSpec.problem accepts."""
    anthropic_effort = get_type_hints(OutputConfigParam)["effort"]
    assert REASONING_EFFORTS["anthropic"] == get_args(get_args(anthropic_effort)[0])
    openai_effort = get_args(get_args(ReasoningEffort)[0])
    assert REASONING_EFFORTS["openai"] == REASONING_EFFORTS["openai-compatible"] == openai_effort


@pytest.mark.parametrize("backend", BACKENDS)
async def test_malformed_replies_are_sent_back_then_the_proposal_fails(
    server: FakeLLMServer, keys: dict[str, str], tmp_path: Path, backend: str
) -> None:
    server.script.extend([Reply(MALFORMED), Reply(MALFORMED), Reply(MALFORMED)])
    failed = await failure(agent(server, backend, tmp_path), request(tmp_path))
    assert len(server.requests) == 3 and len(failed.calls) == 3
    assert "reply rejected 3 times: no DESCRIPTION: line" in failed.reason
    repair = server.requests[1].messages
    assert [m["role"] for m in repair] == ["user", "assistant", "user"]
    assert repair[1]["text"] == MALFORMED
    assert "- no DESCRIPTION: line before the edits" in repair[2]["text"]
    assert failed.reply.count(MALFORMED) == 3 and "## Rejected" in failed.reply


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_non_compiling_edit_is_repaired_in_the_same_conversation(
    server: FakeLLMServer, keys: dict[str, str], tmp_path: Path, backend: str
) -> None:
    server.script.extend([Reply(NOT_COMPILING), Reply(GOOD)])
    proposal = await propose(agent(server, backend, tmp_path), request(tmp_path))
    assert proposal.files["train.py"] == TRAIN_PY.replace("DEPTH = 8", "DEPTH = 9")
    assert len(proposal.calls) == 2
    error = "train.py does not compile after the edits: invalid syntax (line 7: 'DEPTH = = 9')"
    assert error in server.requests[1].messages[-1]["text"]
    assert NOT_COMPILING in proposal.reply and GOOD in proposal.reply


async def test_an_edit_to_a_non_editable_file_fails_with_the_reason(
    server: FakeLLMServer, keys: dict[str, str], tmp_path: Path
) -> None:
    server.script.append(Reply(search_replace("prepare.py", "TIME_BUDGET = 1", "TIME_BUDGET = 9")))
    failed = await failure(agent(server, "anthropic", tmp_path, repairs=0), request(tmp_path))
    assert "prepare.py is not editable; you may only change: train.py" in failed.reason
    assert "prepare.py" in failed.reply and len(failed.calls) == 1


async def test_an_empty_reply_is_an_error_too(
    server: FakeLLMServer, keys: dict[str, str], tmp_path: Path
) -> None:
    server.script.extend([Reply(""), Reply("")])
    failed = await failure(agent(server, "anthropic", tmp_path, repairs=1), request(tmp_path))
    assert "the reply is empty" in failed.reason and len(failed.calls) == 2
    assert server.requests[1].messages[1] == {"role": "assistant", "text": "(empty reply)"}


async def test_a_truncated_reply_is_told_so(
    server: FakeLLMServer, keys: dict[str, str], tmp_path: Path
) -> None:
    cut = GOOD.split("=======")[0]
    server.script.extend([Reply(cut, finish="length"), Reply(GOOD)])
    proposal = await propose(agent(server, "openai", tmp_path), request(tmp_path))
    assert len(proposal.calls) == 2
    assert "cut off at the output token limit" in server.requests[1].messages[-1]["text"]


@pytest.mark.parametrize("backend", ["anthropic", "openai"])
async def test_429_with_retry_after_is_retried_by_the_sdk(
    server: FakeLLMServer, keys: dict[str, str], tmp_path: Path, backend: str
) -> None:
    server.script.extend([Reply(status=429, headers={"retry-after": "0.4"}), Reply(GOOD)])
    start = time.monotonic()
    proposal = await propose(agent(server, backend, tmp_path, max_retries=2), request(tmp_path))
    assert time.monotonic() - start >= 0.4
    assert len(server.requests) == 2 and len(proposal.calls) == 1
    assert server.requests[1].headers["x-stainless-retry-count"] == "1"


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_5xx_storm_fails_the_proposal_with_a_one_line_reason(
    server: FakeLLMServer, keys: dict[str, str], tmp_path: Path, backend: str
) -> None:
    storm = Reply(status=500, error="upstream\nexploded", headers={"retry-after-ms": "20"})
    server.script.extend([storm, storm, storm])
    failed = await failure(agent(server, backend, tmp_path, max_retries=2), request(tmp_path))
    assert len(server.requests) == 3
    assert "HTTP 500" in failed.reason and "(after 2 retries)" in failed.reason
    assert "\n" not in failed.reason
    [call] = failed.calls
    assert call.error and call.output_tokens == 0 and call.cost_usd == 0


async def test_a_slow_reply_past_the_timeout_fails(
    server: FakeLLMServer, keys: dict[str, str], tmp_path: Path
) -> None:
    server.script.append(Reply(GOOD, delay_s=3.0))
    start = time.monotonic()
    failed = await failure(agent(server, "openai", tmp_path, timeout_s=0.5), request(tmp_path))
    assert time.monotonic() - start < 2.5
    assert "timed out after 0.5s" in failed.reason and failed.calls[0].error


async def test_a_dead_server_fails_the_proposal(keys: dict[str, str], tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    spec = AgentSpec("architect", "anthropic", base_url=f"http://127.0.0.1:{port}", max_retries=0)
    failed = await failure(make_backend(spec, tmp_path), request(tmp_path))
    assert "cannot reach the API" in failed.reason


async def test_keys_never_reach_a_reason_or_reply(
    server: FakeLLMServer, keys: dict[str, str], tmp_path: Path
) -> None:
    server.script.append(Reply(status=401, error=f"invalid x-api-key {ANTHROPIC_KEY}"))
    failed = await failure(agent(server, "anthropic", tmp_path), request(tmp_path))
    assert "HTTP 401 unauthorized" in failed.reason and "[redacted]" in failed.reason
    assert ANTHROPIC_KEY not in failed.reason + failed.calls[0].error


async def test_a_debug_request_carries_the_crash_log_to_the_debugger(
    server: FakeLLMServer, keys: dict[str, str], tmp_path: Path
) -> None:
    crashed = TRAIN_PY.replace("crash=False", "crash=True")
    line = next(x for x in crashed.splitlines() if x.startswith("KNOBS"))
    server.script.append(Reply(search_replace("train.py", line, line.replace("True", "False", 1))))
    req = request(
        tmp_path,
        kind="debug",
        parent_id="n0004",
        parent_files={"train.py": crashed},
        lineage=[TriedChange("n0004", "crash it", "crashed", persona="explorer")],
        crash_log="Traceback (most recent call last):\nRuntimeError: synthetic crash",
    )
    proposal = await propose(agent(server, "anthropic", tmp_path, persona="debugger"), req)
    assert proposal.files["train.py"] == TRAIN_PY
    text = server.requests[0].text
    assert "Persona: debugger" in text and "RuntimeError: synthetic crash" in text
    assert "Fix the parent n0004" in text


def test_every_backend_name_has_one_builder() -> None:
    assert list(BUILDERS) == list(ALL_BACKENDS)


def test_missing_settings_fail_at_startup_with_one_line(
    keys: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    monkeypatch.delenv("OPENAI_API_KEY")
    cases = [
        (AgentSpec("architect", "anthropic"), "set ANTHROPIC_API_KEY, or use explorer@mutator"),
        (AgentSpec("tuner", "openai", "gpt-5.4"), "set OPENAI_API_KEY"),
        (AgentSpec("x", "openai", api_key_env="MY_KEY"), "set MY_KEY"),
        (AgentSpec("x", "openai-compatible", "llama3"), "no server — set base_url"),
        (AgentSpec("x", "openai-compatible", base_url="http://h/v1"), "no model"),
        (AgentSpec("x", "command", command="no-such-agent-cli -p"), "is not on PATH"),
        (AgentSpec("x", "command"), "no command"),
        (AgentSpec("x", "openai-compatible", "m", "http://h/v1", repairs=-1), "repairs must be"),
        (AgentSpec("x", "mutator", weight=-1.0), "weight must be a number >= 0"),
        (AgentSpec("x", "gemini"), "backend 'gemini' is unknown — use one of anthropic"),
        (AgentSpec("x", "anthropic", thinking_budget=100), "thinking_budget must be >= 1024"),
        (AgentSpec("x", "openai", reasoning_effort="hard"), "reasoning_effort 'hard' is unknown"),
        (AgentSpec("x", "anthropic", reasoning_effort="minimal"), "use low, medium, high"),
        (AgentSpec("x", "mutator", reasoning_effort="low"), "not mutator"),
        (AgentSpec("x", "command", "claude -p", reasoning_effort="low"), "not command"),
    ]
    for spec, message in cases:
        with pytest.raises(AgentSetupError) as info:
            make_backend(spec, tmp_path)
        assert isinstance(info.value, ValueError)
        assert message in str(info.value) and "\n" not in str(info.value)
    monkeypatch.setenv("MY_KEY", OPENAI_KEY)
    assert make_backend(AgentSpec("x", "openai", api_key_env="MY_KEY"), tmp_path).can_debug  # type: ignore[attr-defined]


async def test_an_anthropic_auth_token_serves_when_there_is_no_api_key(
    server: FakeLLMServer, keys: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    monkeypatch.setenv("ANTHROPIC_AUTH_TOKEN", "oauth-token-for-the-test")
    server.script.append(Reply(GOOD))
    await propose(agent(server, "anthropic", tmp_path), request(tmp_path))
    assert server.requests[0].api_key == "oauth-token-for-the-test"


def remembering_request(tmp_path: Path) -> ProposalRequest:
    """A request with the tree's memory, so its task has a tree-wide part."""
    base = NodeResult("n0000", "base", "", ("the base",), (), "done", 3.4, 3, None, "base")
    memory = Memory(
        spread=0.02, spread_runs=3, spread_commits=1, best=base, best_unconfirmed=None,
        results=(base,), measured=1, constants=(), lineage=(base,), children=(), in_flight=(),
    )  # fmt: skip
    return replace(request(tmp_path), memory=memory)


async def test_anthropic_caches_the_tasks_tree_wide_part_with_a_third_breakpoint(
    server: FakeLLMServer, keys: dict[str, str], tmp_path: Path
) -> None:
    server.script.extend([Reply(NOT_COMPILING), Reply(GOOD)])  # a repair turn too
    await propose(agent(server, "anthropic", tmp_path), remembering_request(tmp_path))
    for sent in server.requests:
        files, shared, rest = sent.body["messages"][0]["content"]
        assert files["cache_control"] == shared["cache_control"] == {"type": "ephemeral"}
        assert (
            shared["text"].startswith("# The search so far") and PARENT_MARK not in shared["text"]
        )
        assert "n0000 base: 3.4000 (mean of 3)" in shared["text"]
        assert "cache_control" not in rest and rest["text"].startswith(PARENT_MARK)
        assert "Your task" in rest["text"] and "Lineage of the parent n0000" in rest["text"]
        marks = [b for b in sent.body["system"] if "cache_control" in b]
        for message in sent.body["messages"]:
            content = message["content"]
            marks += (
                [b for b in content if "cache_control" in b] if isinstance(content, list) else []
            )
        assert len(marks) == 3  # the API allows four
    assert len(server.requests) == 2


def test_a_task_without_a_tree_wide_part_stays_one_block(tmp_path: Path) -> None:
    assert task_blocks("## Your task\nPropose a child.") == [
        {"type": "text", "text": "## Your task\nPropose a child."}
    ]
    assert task_blocks(f"{PARENT_MARK}\n\n## Your task\nx") == [
        {"type": "text", "text": f"{PARENT_MARK}\n\n## Your task\nx"}
    ]
    shared, rest = task_blocks(f"# The search so far\n\n{PARENT_MARK}\n\nrest")
    assert shared == {"type": "text", "text": "# The search so far", "cache_control": CACHE}
    assert rest == {"type": "text", "text": f"{PARENT_MARK}\n\nrest"}
