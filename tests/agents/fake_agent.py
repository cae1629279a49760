"""A stand-in for a coding-agent CLI (`claude -p`): reads the prompt on stdin, edits files.

Its behaviour is chosen by its first argument; it appends each prompt it gets to the
file named by $FAKE_AGENT_LOG when that is set.
"""

import os
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


def set_depth(text: str, old: str = "DEPTH = 8") -> None:
    train.write_text(train.read_text().replace(old, text))


if mode == "edit":
    set_depth("DEPTH = 10")
    Path("notes.txt").write_text("scratch notes\n")
    Path("prepare.py").write_text("TIME_BUDGET = 999\n")
    print("Looked around. Made the model deeper.")
    print("DESCRIPTION: deeper model (DEPTH 8 -> 10)")
    print("RATIONALE: More layers should pay off at this budget.")
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
