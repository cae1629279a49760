"""Where a SEARCH part goes in a file when it does not match exactly, and why not.

agents/edits.py applies a block (or a unified diff's hunk, agents/diffs.py) with
`replace_lines`: where its SEARCH matches a run of whole lines exactly once; only when
there is no exact match does it try looser levels, in order: lines equal apart from
trailing whitespace (CRLF included), then apart from a uniform indentation shift (the
REPLACE is re-indented by the same shift, so the file keeps its own indentation), then
apart from trailing `# comments`. A level is used only when it matches exactly one
place; a level that matches several is an error that says so. When nothing matches,
the model is told what did not: the whitespace hint only when the lines are equal apart
from whitespace, otherwise which lines are not in the file and the closest ones that are.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

MAX_MISSING = 3  # lines named in a hint


@dataclass(frozen=True)
class Level:
    what: str  # what this level ignores, for messages
    shift: bool  # a uniform indentation shift is allowed
    comments: bool  # trailing `# comments` are ignored


LEVELS = (
    Level("trailing whitespace", shift=False, comments=False),
    Level("a uniform indentation shift", shift=True, comments=False),
    Level("trailing comments and indentation", shift=True, comments=True),
)

Shift = tuple[str, str]  # (indentation to add, indentation to remove) to REPLACE lines


def strip_comment(line: str) -> str:
    """The line without a trailing `# comment` after code (quotes respected); a line that
    is only a comment stays as it is."""
    quote, k = "", 0
    while k < len(line):
        ch = line[k]
        if quote:
            if ch == "\\":
                k += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            code = line[:k].rstrip()
            return code if code.strip() else line
        k += 1
    return line


def _key(line: str, comments: bool) -> str:
    line = line.rstrip()
    return strip_comment(line).rstrip() if comments else line


def _indent(line: str) -> tuple[str, str]:
    body = line.lstrip()
    return line[: len(line) - len(body)], body


def _shift_between(file_lines: list[str], search_lines: list[str], level: Level) -> Shift | None:
    """The one indentation shift that turns the SEARCH lines into the file's, or None."""
    found: Shift | None = None
    for have, want in zip(file_lines, search_lines, strict=True):
        have, want = _key(have, level.comments), _key(want, level.comments)
        if not have.strip() and not want.strip():
            continue  # blank lines match blank lines whatever their indentation
        (have_indent, have_body), (want_indent, want_body) = _indent(have), _indent(want)
        if have_body != want_body:
            return None
        if have_indent.endswith(want_indent):
            shift: Shift = (have_indent[: len(have_indent) - len(want_indent)], "")
        elif want_indent.endswith(have_indent):
            shift = ("", want_indent[: len(want_indent) - len(have_indent)])
        else:
            return None
        if found is not None and shift != found:
            return None
        found = shift
    if found is None or (found != ("", "") and not level.shift):
        return None
    return found


def _reindent(line: str, shift: Shift) -> str:
    add, remove = shift
    if not line.strip():
        return line
    if remove:
        return line[len(remove) :] if line.startswith(remove) else line.lstrip()
    return add + line


def _matches(lines: list[str], search: list[str], level: Level) -> list[tuple[int, Shift]]:
    """(first line, shift) of every run of `lines` that `search` matches at `level`."""
    found = []
    for start in range(len(lines) - len(search) + 1):
        shift = _shift_between(lines[start : start + len(search)], search, level)
        if shift is not None:
            found.append((start, shift))
    return found


def _tolerant_replace(content: str, search: str, replace: str) -> tuple[str | None, str]:
    """(the new content, "") for the first level that matches exactly one place; (None,
    the problem) when a level matches several; (None, "") when none does."""
    lines, wanted = content.split("\n"), search.split("\n")
    for level in LEVELS:
        found = _matches(lines, wanted, level)
        if len(found) > 1:
            where = ", ".join(str(start + 1) for start, _ in found[:5])
            return None, (
                f"does not match the file exactly, and ignoring {level.what} "
                f"it matches {len(found)} places (lines {where}); copy the lines exactly, "
                "with more surrounding lines so it matches exactly one"
            )
        if found:
            [(start, shift)] = found
            eol = "\r" if lines[start].endswith("\r") else ""
            new = [] if replace == "" else [_reindent(x, shift) + eol for x in replace.split("\n")]
            return "\n".join(lines[:start] + new + lines[start + len(wanted) :]), ""
    return None, ""


def _line_matches(content: str, search: str) -> list[int]:
    """Offsets where `search` matches a run of whole lines of `content`."""
    found, start = [], 0
    while (at := content.find(search, start)) >= 0:
        end = at + len(search)
        if (at == 0 or content[at - 1] == "\n") and (end == len(content) or content[end] == "\n"):
            found.append(at)
        start = at + 1
    return found


def replace_lines(content: str, search: str, replace: str, what: str) -> tuple[str | None, str]:
    """(new content, "") or (None, the problem, starting with `what`): `search` replaced
    by `replace` where it matches whole lines exactly once, else where it matches
    exactly one place at the first tolerant level that matches at all."""
    found = _line_matches(content, search)
    if len(found) > 1:
        return None, (
            f"{what} matches {len(found)} places; "
            "include more surrounding lines so it matches exactly one"
        )
    if not found:
        new, note = _tolerant_replace(content, search, replace)
        if new is not None:
            return new, ""
        if note:
            return None, f"{what} {note}"
        return None, (f"{what} does not match the file exactly." + _no_match_hint(content, search))
    at = found[0]
    end = at + len(search)
    if replace == "" and not search.endswith("\n"):
        if end < len(content):
            end += 1  # delete the lines with their line break
        elif at > 0:
            at -= 1
    return content[:at] + replace + content[end:], ""


def _squash(line: str) -> str:
    return " ".join(line.split())


def _no_match_hint(content: str, search: str) -> str:
    """Why `search` matches nothing: whitespace only when that is the only difference,
    else the SEARCH lines that are not in the file and the file's closest lines."""
    lines, wanted = content.split("\n"), search.split("\n")
    squashed = [_squash(x) for x in lines]
    target = [_squash(x) for x in wanted]
    if any(squashed[k : k + len(target)] == target for k in range(len(lines) - len(target) + 1)):
        return (
            " It matches only when all whitespace is ignored (spaces inside a line, or "
            "indentation that changes unevenly): copy the lines exactly."
        )
    known = {_squash(strip_comment(x)) for x in lines}
    stripped = [strip_comment(x).strip() for x in lines]  # compared without comments
    missing = [
        (n, x)
        for n, x in enumerate(wanted, 1)
        if x.strip() and _squash(strip_comment(x)) not in known
    ]
    if not missing:
        return (
            " Each of its lines is in the file, but not as one run in this order: copy a "
            "run of consecutive lines."
        )
    notes = []
    for n, line in missing[:MAX_MISSING]:
        note = f"SEARCH line {n} {line.strip()!r} is not in the file"
        close = difflib.get_close_matches(strip_comment(line).strip(), stripped, 1, 0.6)
        if close:
            at = stripped.index(close[0])
            note += f" (closest: line {at + 1} {lines[at].rstrip()!r})"
        notes.append(note)
    more = f"; and {len(missing) - MAX_MISSING} more" if len(missing) > MAX_MISSING else ""
    return " " + "; ".join(notes) + more + "."
