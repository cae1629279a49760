"""What a coding-agent CLI printed: its final message, the tokens it used and its cost.

Three shapes are read (anything else is plain text, as before):

* `claude -p --output-format json` prints one JSON object, and `--output-format
  stream-json` one per line ending with the same one: `"type": "result"`, the final
  message in `result`, the run's cost in `total_cost_usd` (older versions: `cost_usd`),
  tokens in `usage` (`input_tokens` without the cache, `cache_read_input_tokens`,
  `cache_creation_input_tokens`, `output_tokens`), the models in `modelUsage`'s keys and
  `is_error` for a failed run.
* `codex exec --json` prints JSON lines, one event each (`thread.started`,
  `turn.started`, `item.started`/`item.updated`/`item.completed`, `turn.completed`,
  `turn.failed`, `error`), as codex-rs/exec/src/exec_events.rs defines them: the final
  message is the last `item.completed` whose item has `"type": "agent_message"` (its
  `text`); `turn.completed` carries `usage` (`input_tokens`, the cached ones included,
  `cached_input_tokens`, `output_tokens`). Codex prints no cost: agents/command.py prices
  the tokens with agents/pricing.py when the agent's model is known.
* Plain text: the whole output is the message; no tokens, no cost.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from autoresearch_tui.agents.pricing import Usage

CLAUDE_RESULT = frozenset({"result", "total_cost_usd", "cost_usd", "is_error"})  # any one
CODEX_EVENTS = frozenset(
    {"thread.started", "turn.started", "turn.completed", "turn.failed", "item.completed"}
)


@dataclass(frozen=True)
class AgentReport:
    """The readable part of one run's output and what the CLI said it used."""

    text: str  # the final message: DESCRIPTION and RATIONALE are read from it
    usage: Usage | None = None  # None: the CLI printed no token counts
    cost_usd: float | None = None  # None: the CLI printed no cost
    model: str = ""  # the model the CLI named, if any
    error: str = ""  # the CLI says the run failed (its own words)
    shape: str = "text"  # "claude-json", "codex-json" or "text"


def _objects(output: str) -> list[dict[str, Any]]:
    """The JSON objects in the output: the whole of it, else one per line."""
    whole = output.strip()
    if whole.startswith("{"):
        try:
            value = json.loads(whole)
        except ValueError:
            pass
        else:
            return [value] if isinstance(value, dict) else []
    found: list[dict[str, Any]] = []
    for line in output.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            found.append(value)
    return found


def _count(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _claude(result: dict[str, Any]) -> AgentReport:
    text = result.get("result")
    text = text if isinstance(text, str) else ""
    cost = result.get("total_cost_usd", result.get("cost_usd"))
    usage = None
    if isinstance(raw := result.get("usage"), dict):
        usage = Usage(
            input_tokens=_count(raw, "input_tokens"),
            output_tokens=_count(raw, "output_tokens"),
            cache_read_tokens=_count(raw, "cache_read_input_tokens"),
            cache_write_tokens=_count(raw, "cache_creation_input_tokens"),
        )
    models = result.get("modelUsage")
    error = ""
    if result.get("is_error") is True:
        error = f"{result.get('subtype') or 'error'}: {text.strip()[:200]}".rstrip(": ")
    return AgentReport(
        text=text,
        usage=usage,
        cost_usd=float(cost) if isinstance(cost, int | float) and cost >= 0 else None,
        model=",".join(sorted(models)) if isinstance(models, dict) else "",
        error=error,
        shape="claude-json",
    )


def _codex(events: list[dict[str, Any]]) -> AgentReport:
    texts: list[str] = []
    usage = None
    error = ""
    for event in events:
        kind = event.get("type")
        item = event.get("item")
        if kind == "item.completed" and isinstance(item, dict):
            if item.get("type") == "agent_message" and isinstance(item.get("text"), str):
                texts.append(item["text"])
        elif kind == "turn.completed" and isinstance(raw := event.get("usage"), dict):
            cached = _count(raw, "cached_input_tokens")
            usage = Usage(  # the usage is the thread's total so far: the last one counts
                input_tokens=max(0, _count(raw, "input_tokens") - cached),
                output_tokens=_count(raw, "output_tokens"),
                cache_read_tokens=cached,
            )
        elif kind == "turn.failed" and isinstance(failure := event.get("error"), dict):
            error = str(failure.get("message") or "the turn failed")[:200]
        elif kind == "error":
            error = str(event.get("message") or "error")[:200]
    return AgentReport(text="\n\n".join(texts), usage=usage, error=error, shape="codex-json")


def read_output(output: str) -> AgentReport:
    """The CLI's final message, tokens and cost, from whichever shape it printed."""
    objects = _objects(output)
    results = [o for o in objects if o.get("type") == "result" and (CLAUDE_RESULT & set(o))]
    if results:
        return _claude(results[-1])
    if any(o.get("type") in CODEX_EVENTS for o in objects):
        return _codex(objects)
    return AgentReport(text=output)
