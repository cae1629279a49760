"""The fixed part of every prompt: the agent's role and the reply format it must follow.

Two modes: "edits" asks for a reply with SEARCH/REPLACE blocks (the LLM backends, parsed
by agents/edits.py); "command" asks a coding agent to edit the files in place (the
`command` backend). agents/prompt.py puts this first, before the research program and
the persona's brief, so providers can cache it (docs/ARCHITECTURE.md §5).
"""

from __future__ import annotations

from typing import Literal

Mode = Literal["edits", "command"]

ROLE = """\
You are a research agent in autoresearch-tui: a best-first search over changes to a
training script. Each experiment is one child of a node of the search tree (a git
commit); the search trains it and reads one metric. You propose the next experiment."""

EDITS_FORMAT = """\
# Reply format

Reply with exactly these parts, in this order, and nothing after the last edit block:

ANALYSIS: <optional: think first, as long as you need; read as notes, never as edits>
DESCRIPTION: <one line, under 80 characters, like a commit message: what you changed>
RATIONALE: <two to five sentences: what you expect and why>

then one or more edit blocks. An edit block is the file's path alone on a line, then
a SEARCH/REPLACE block:

{example_path}
<<<<<<< SEARCH
<lines copied exactly from the current file>
=======
<the lines that replace them>
>>>>>>> REPLACE

Rules:
- You may edit only these files: {editable}. Any other path is rejected.
- The SEARCH part must match a run of whole lines of the file exactly once: copy the
  lines character for character, with their indentation and comments. Include the
  lines you change plus a line or two of context, enough to be unique, no more.
- Several blocks may edit the same file; they apply in order, each to the result of
  the blocks before it. A block whose REPLACE equals its SEARCH is an error.
- To replace a whole file instead (only when most of it changes), put its path alone
  on a line followed by the complete new content in one fenced code block:

{example_path}
```python
<the complete new file>
```

- The edited Python files must compile. If your reply cannot be applied {chances}"""

COMMAND_FORMAT = """\
# How to work

You are running inside a checkout of the parent node: read the files there, then make
your change by editing them directly. Rules:
- Edit only these files: {editable}. A change to any other file is undone and sent back
  to you to redo in the editable files; do not put code in new files: only the editable
  files reach the experiment.
- Do not commit, do not create branches, and do not run the training script: the
  search runs every experiment itself, on its own hardware.
- Make one focused change that you can describe in one line.

When you are done, end your final message with exactly these two lines:

DESCRIPTION: <one line, under 80 characters, like a commit message: what you changed>
RATIONALE: <two to five sentences: what you expect and why>"""


def chances(repairs: int) -> str:
    """What happens to a reply that cannot be applied, for `repairs` repair rounds."""
    if repairs <= 0:
        return "the proposal fails: there is no second chance."
    more = "one more chance" if repairs == 1 else f"up to {repairs} more chances"
    return f"you get the exact error and {more} to send a corrected complete reply."


def reply_format(mode: Mode, editable: list[str], repairs: int = 2) -> str:
    """The reply format of `mode` for these editable files; `repairs` is how many times
    a reply that cannot be applied is sent back with the error."""
    fmt = EDITS_FORMAT if mode == "edits" else COMMAND_FORMAT
    return fmt.format(
        editable=", ".join(editable),
        example_path=editable[0] if editable else "train.py",
        chances=chances(repairs),
    )
