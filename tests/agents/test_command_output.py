"""Reading what a coding-agent CLI printed: Claude's JSON, Codex's JSON events, text."""

from __future__ import annotations

import json

from autoresearch_tui.agents.command_output import read_output
from autoresearch_tui.agents.pricing import Usage

RESULT = {
    "type": "result",
    "subtype": "success",
    "is_error": False,
    "result": "All done.\nDESCRIPTION: wider MLP\nRATIONALE: More capacity.",
    "total_cost_usd": 0.25,
    "usage": {
        "input_tokens": 10,
        "cache_creation_input_tokens": 200,
        "cache_read_input_tokens": 3000,
        "output_tokens": 40,
    },
    "modelUsage": {"claude-sonnet-4-6": {}},
}


def test_claude_json_gives_the_result_text_tokens_cost_and_model() -> None:
    report = read_output(json.dumps(RESULT, indent=2))
    assert report.shape == "claude-json" and report.text == RESULT["result"]
    assert report.usage == Usage(10, 40, 3000, 200) and report.cost_usd == 0.25
    assert report.model == "claude-sonnet-4-6" and report.error == ""


def test_claude_stream_json_and_noise_around_the_object_still_read() -> None:
    lines = [
        "warning: something on stderr",
        json.dumps({"type": "system", "subtype": "init", "session_id": "s"}),
        json.dumps({"type": "assistant", "message": {"content": []}}),
        json.dumps(RESULT),
    ]
    report = read_output("\n".join(lines) + "\n")
    assert report.shape == "claude-json" and report.cost_usd == 0.25
    assert "DESCRIPTION: wider MLP" in report.text


def test_an_error_result_and_an_older_cost_field() -> None:
    old = {"type": "result", "subtype": "error_max_turns", "is_error": True, "cost_usd": 0.1}
    report = read_output(json.dumps(old))
    assert report.error == "error_max_turns" and report.cost_usd == 0.1
    assert report.usage is None and report.text == ""


def test_codex_events_give_the_last_message_and_the_cached_share() -> None:
    events = [
        {"type": "thread.started", "thread_id": "t"},
        {"type": "turn.started"},
        {"type": "item.completed", "item": {"id": "i0", "type": "agent_message", "text": "a"}},
        {"type": "item.completed", "item": {"id": "i1", "type": "command_execution"}},
        {"type": "item.completed", "item": {"id": "i2", "type": "agent_message", "text": "b"}},
        {"type": "turn.completed", "usage": {"input_tokens": 900, "cached_input_tokens": 600,
                                             "output_tokens": 70}},
    ]  # fmt: skip
    report = read_output("\n".join(json.dumps(e) for e in events))
    assert report.shape == "codex-json" and report.text == "a\n\nb"
    assert report.usage == Usage(input_tokens=300, output_tokens=70, cache_read_tokens=600)
    assert report.cost_usd is None and report.error == ""
    failed = read_output(json.dumps({"type": "turn.failed", "error": {"message": "quota"}}))
    assert failed.shape == "codex-json" and failed.error == "quota"


def test_plain_text_is_the_message_with_no_usage() -> None:
    text = 'Changed it.\n{"not": "an event"}\nDESCRIPTION: x\n'
    report = read_output(text)
    assert report.shape == "text" and report.text == text
    assert report.usage is None and report.cost_usd is None
