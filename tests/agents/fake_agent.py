"""A stand-in for a coding-agent CLI (`claude -p`, `codex exec`): reads the prompt on
stdin, edits files in its working directory, prints what such a CLI prints.

Its behaviour is chosen by its first argument; it appends each prompt it gets to the
file named by $FAKE_AGENT_LOG when that is set. The JSON it prints has the shapes the
real CLIs print (agents/command_output.py says where they are documented).
"""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

mode = sys.argv[1]
prompt = sys.stdin.read()
if log := os.environ.get("FAKE_AGENT_LOG"):
    with open(log, "a") as fh:
        fh.write(prompt + "\n=====\n")
repair = "# Your previous attempt" in prompt
train = Path("train.py")
CLAUDE_USAGE = {
    "input_tokens": 1200,
    "cache_creation_input_tokens": 30000,
    "cache_read_input_tokens": 90000,
    "output_tokens": 4000,
}


def set_depth(text: str, old: str = "DEPTH = 8") -> None:
    train.write_text(train.read_text().replace(old, text))


def deeper() -> int:
    """DEPTH grows by a step no other concurrent run takes (its pid): a new child each time."""
    depth = int(re.search(r"^DEPTH = (\d+)$", train.read_text(), re.MULTILINE)[1])
    new = depth + 1 + os.getpid() % 1000
    set_depth(f"DEPTH = {new}", old=f"DEPTH = {depth}")
    return new


def claude_result(text: str, **extra: object) -> None:
    result = {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "duration_ms": 1234,
        "num_turns": 3,
        "result": text,
        "session_id": "0f0e",
        "total_cost_usd": 0.6,
        "usage": CLAUDE_USAGE,
        "modelUsage": {"claude-opus-4-6": {"inputTokens": 1200, "outputTokens": 4000}},
        **extra,
    }
    print(json.dumps(result))


def codex_events(text: str) -> None:
    events = [
        {"type": "thread.started", "thread_id": "th_1"},
        {"type": "turn.started"},
        {"type": "item.completed", "item": {"id": "item_0", "type": "reasoning", "text": "hm"}},
        {
            "type": "item.completed",
            "item": {
                "id": "item_1",
                "type": "file_change",
                "status": "completed",
                "changes": [{"path": "train.py", "kind": "update"}],
            },
        },
        {"type": "item.completed", "item": {"id": "item_2", "type": "agent_message", "text": text}},
        {
            "type": "turn.completed",
            "usage": {"input_tokens": 20000, "cached_input_tokens": 5000, "output_tokens": 1000},
        },
    ]
    print("\n".join(json.dumps(e) for e in events))


if mode == "edit":
    if repair:
        print("prepare.py now:", Path("prepare.py").read_text().strip())
    else:
        set_depth("DEPTH = 10")
        Path("notes.txt").write_text("scratch notes\n")
        Path("prepare.py").write_text("TIME_BUDGET = 999\n")
        print("Looked around. Made the model deeper.")
    print("DESCRIPTION: deeper model (DEPTH 8 -> 10)")
    print("RATIONALE: More layers should pay off at this budget.")
elif mode == "helper":  # the import of a new file stays, whatever the repair says
    if repair:
        Path("helper.py").unlink(missing_ok=True)
    else:
        Path("helper.py").write_text("def depth():\n    return 10\n")
        set_depth("from helper import depth\n\nDEPTH = depth()")
    print("DESCRIPTION: DEPTH from a helper")
elif mode == "helper-inlined":  # puts the helper's code in train.py when told
    if repair:
        set_depth("DEPTH = 10", old="from helper import depth\n\nDEPTH = depth()")
    else:
        Path("helper.py").write_text("def depth():\n    return 10\n")
        set_depth("from helper import depth\n\nDEPTH = depth()")
    print("DESCRIPTION: DEPTH 8 -> 10")
elif mode == "claude-json":
    depth = deeper()
    claude_result(f"Done.\nDESCRIPTION: DEPTH -> {depth}\nRATIONALE: Deeper is better here.")
elif mode == "claude-json-error":
    claude_result("", subtype="error_max_turns", is_error=True)
elif mode == "codex-json":
    set_depth("DEPTH = 9")
    codex_events("Edited train.py.\nDESCRIPTION: DEPTH 8 -> 9\nRATIONALE: A bit deeper.")
elif mode == "sleep":
    child = subprocess.Popen(["sleep", "60"])
    Path(os.environ["FAKE_AGENT_PIDFILE"]).write_text(str(child.pid))
    time.sleep(60)
elif mode == "fail":
    print("working...")
    print("fatal: the agent gave up", file=sys.stderr)
    sys.exit(3)
elif mode == "lazy":
    if repair:
        set_depth("DEPTH = 11")
        print("DESCRIPTION: DEPTH 8 -> 11")
    else:
        print("I looked but changed nothing.")
elif mode == "broken":
    if repair:
        set_depth("DEPTH = 12", old="DEPTH = = 12")
    else:
        set_depth("DEPTH = = 12")
    print("DESCRIPTION: DEPTH 8 -> 12")
elif mode == "leaky":
    set_depth("DEPTH = 9")
    print("my key is", os.environ.get("ANTHROPIC_API_KEY"))
    print("DESCRIPTION: DEPTH 8 -> 9")
