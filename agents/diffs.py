"""Unified diffs in a reply (`--- a/train.py`, `+++ b/train.py`, `@@` hunks), as edits.

Models trained on patches often answer with a unified diff instead of SEARCH/REPLACE
blocks. agents/edits.py reads one here: every hunk becomes a SEARCH (its context and
`-` lines) and a REPLACE (its context and `+` lines), applied by its context lines like
any block (with agents/matching.py's tolerance), never by its line numbers, which models
rarely get right. The path is the `+++` one without its `b/` prefix; agents/edits.py
checks it is editable like any other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

OLD = re.compile(r"^--- (?:a/)?(\S+)")
NEW = re.compile(r"^\+\+\+ (?:b/)?(\S+)")
HUNK = re.compile(r"^@@")
PREAMBLE = re.compile(r"^(diff |index |new file mode|deleted file mode|similarity )")


@dataclass(frozen=True)
class Hunk:
    search: str  # context and removed lines
    replace: str  # context and added lines


@dataclass(frozen=True)
class FileDiff:
    path: str
    hunks: list[Hunk]
    end: int  # the index of the first line after the diff
    problem: str = ""  # why it cannot be applied, if it cannot


def starts_diff(lines: list[str], i: int) -> bool:
    """Whether line i opens a file's diff (a `---` line followed by a `+++` line)."""
    return bool(OLD.match(lines[i])) and i + 1 < len(lines) and bool(NEW.match(lines[i + 1]))


def diff_start(lines: list[str], i: int) -> int:
    """The first line of the diff whose `---` line is i, counting `diff --git`/`index`."""
    while i > 0 and PREAMBLE.match(lines[i - 1]):
        i -= 1
    return i


def _hunk(lines: list[str], j: int) -> tuple[Hunk, int]:
    """The hunk whose body starts at line j, and the index after it."""
    old: list[str] = []
    new: list[str] = []
    while j < len(lines) and not HUNK.match(lines[j]) and not starts_diff(lines, j):
        line = lines[j]
        if line == "" or line[0] == " ":
            old.append(line[1:])
            new.append(line[1:])
        elif line[0] == "-":
            old.append(line[1:])
        elif line[0] == "+":
            new.append(line[1:])
        elif line[0] != "\\":  # "\ No newline at end of file" is skipped
            break
        j += 1
    while old and new and old[-1] == new[-1] == "" and lines[j - 1] == "":
        old.pop()  # blank lines after the hunk are not context
        new.pop()
        j -= 1
    return Hunk("\n".join(old), "\n".join(new)), j


def read_diff(lines: list[str], i: int) -> FileDiff:
    """The diff of one file whose `---` line is i (see `starts_diff`)."""
    old_match, new_match = OLD.match(lines[i]), NEW.match(lines[i + 1])
    assert old_match and new_match
    path = new_match.group(1)
    j = i + 2
    if path == "/dev/null":
        return FileDiff(old_match.group(1), [], j, "deleting a file is not allowed")
    hunks: list[Hunk] = []
    while j < len(lines) and HUNK.match(lines[j]):
        hunk, j = _hunk(lines, j + 1)
        hunks.append(hunk)
    if not hunks:
        return FileDiff(path, [], j, f"the diff of {path} has no @@ hunk after its +++ line")
    return FileDiff(path, hunks, j)
