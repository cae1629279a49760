"""Parse a model's reply and apply its edits to the parent's files, strictly.

A reply is `DESCRIPTION: ...`, `RATIONALE: ...` and edit blocks: a path line followed
either by an aider-style SEARCH/REPLACE block or by a fenced block holding the whole
new file (the prompt states the format exactly; see agents/prompt.py). Every problem is
an `EditError` whose message is what the model is told when it gets a chance to repair
its reply: paths must be relative, without `..`, not symlinks and editable; a SEARCH
must match a run of whole lines exactly once; a block that changes nothing, edits that
change nothing overall and Python files that do not compile are errors. Nothing is
applied unless everything applies.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

SEARCH = re.compile(r"^\s*<{5,9} ?SEARCH\s*$")
DIVIDER = re.compile(r"^\s*={5,9}\s*$")
REPLACE = re.compile(r"^\s*>{5,9} ?REPLACE\s*$")
FENCE = re.compile(r"^\s*(`{3,}|~{3,})\s*([\w+.#-]*)\s*$")
DESCRIPTION = re.compile(r"^\W*description\W*:\s*(.*)$", re.IGNORECASE)
RATIONALE = re.compile(r"^\W*rationale\W*:\s*(.*)$", re.IGNORECASE)
MAX_ERRORS = 6


class EditError(Exception):
    """The reply cannot be applied; the message lists every problem, one per line."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class Edit:
    path: str  # as written in the reply (checked by `check_path`)
    search: str | None  # None: `replace` is the whole new file
    replace: str
    number: int  # 1-based, for messages


@dataclass(frozen=True)
class Reply:
    description: str
    rationale: str
    edits: list[Edit]


def _path_of(line: str) -> str | None:
    """The file path a line names (`train.py`, `### train.py`, `**train.py:**`), or None."""
    text = line.strip()
    text = re.sub(r"^#+\s*", "", text)
    text = re.sub(r"^(file|path)\s*:\s*", "", text, flags=re.IGNORECASE)
    text = text.strip("*`'\"").rstrip(":").strip("*`'\"").strip()
    if not re.fullmatch(r"[\w./~-]+", text) or text.endswith("."):
        return None
    return text if "/" in text or re.search(r"\.\w+$", text) else None


def _clean(text: str) -> str:
    return text.strip().strip("*_").strip()


def _fence_end(lines: list[str], start: int, fence: str) -> int:
    """Index of the line closing the fence opened at `start`, or -1."""
    for j in range(start + 1, len(lines)):
        if lines[j].strip() == fence:
            return j
    return -1


def _path_before(lines: list[str], i: int) -> tuple[str | None, str, int]:
    """The line just before line i, skipping blank lines and a fence opener:
    (its path, its text, its index)."""
    j = i - 1
    while j >= 0 and (FENCE.match(lines[j]) or not lines[j].strip()):
        j -= 1
    if j < 0:
        return None, "", 0
    return _path_of(lines[j]), lines[j].strip(), j


def _cut_off(j: int, lines: list[str]) -> str:
    return " (the reply ends there: was it cut off?)" if j >= len(lines) else ""


def _collect(
    lines: list[str], start: int, end: re.Pattern[str], stops: tuple[re.Pattern[str], ...]
) -> tuple[list[str], int]:
    """The lines from `start` up to the first that matches `end` (or a `stops` marker, or
    the end of the reply), and the index where the collecting stopped."""
    found, j = [], start
    while j < len(lines) and not end.match(lines[j]):
        if any(stop.match(lines[j]) for stop in stops):
            break
        found.append(lines[j])
        j += 1
    return found, j


@dataclass
class _Scan:
    """What `parse_reply` has found so far as it walks the reply's lines."""

    lines: list[str]
    edits: list[Edit] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    description: str = ""
    rationale_first: str = ""
    rationale_at: int = -1
    first_edit_at: int = -1  # index of the line naming the first edit's file
    last_path: str | None = None
    last_end: int = -2  # index where the previous SEARCH/REPLACE block ended
    wrapper: str = ""  # the fence around SEARCH/REPLACE blocks we are in, if any

    def header(self, i: int) -> None:
        """DESCRIPTION: and RATIONALE: lines before the first edit."""
        if self.edits:
            return
        line = self.lines[i]
        if not self.description and (m := DESCRIPTION.match(line)):
            self.description = _clean(m.group(1))
        elif self.rationale_at < 0 and (m := RATIONALE.match(line)):
            self.rationale_at, self.rationale_first = i, _clean(m.group(1))

    def search_replace(self, i: int) -> int | None:
        """The aider-style block opening at line i; the next line to read, or None when
        the block is broken (the rest of the reply cannot be trusted)."""
        lines, number = self.lines, len(self.edits) + 1
        path, was, path_at = _path_before(lines, i)
        between = [x for x in lines[self.last_end + 1 : i] if x.strip() and not FENCE.match(x)]
        if path is None and self.last_path is not None and self.last_end >= 0 and not between:
            path = self.last_path  # consecutive blocks for the same file
        if path is None:
            self.problems.append(
                f"block {number}: no file path alone on the line before <<<<<<< SEARCH"
                + (f" (found {was!r})" if was else "")
            )
        search, j = _collect(lines, i + 1, DIVIDER, (SEARCH, REPLACE))
        if j >= len(lines) or not DIVIDER.match(lines[j]):
            self.problems.append(
                f"block {number}: no ======= line after the SEARCH part{_cut_off(j, lines)}"
            )
            return None
        replace, j = _collect(lines, j + 1, REPLACE, (SEARCH, DIVIDER))
        if j >= len(lines) or not REPLACE.match(lines[j]):
            self.problems.append(
                f"block {number}: no >>>>>>> REPLACE line closing the block{_cut_off(j, lines)}"
            )
            return None
        if self.first_edit_at < 0:
            self.first_edit_at = path_at
        if path is not None:
            self.edits.append(Edit(path, "\n".join(search), "\n".join(replace), number))
            self.last_path = path
        self.last_end = j
        return j + 1

    def fenced(self, i: int, fence: str) -> int | None:
        """A code block opening at line i: a wrapper around SEARCH/REPLACE blocks, a whole
        new file (after a path line) or plain text; the next line to read, or None."""
        lines = self.lines
        end = _fence_end(lines, i, fence)
        body = lines[i + 1 : end] if end >= 0 else lines[i + 1 :]
        if any(SEARCH.match(x) for x in body):
            self.wrapper = fence
            return i + 1
        path = _path_of(lines[i - 1]) if i > 0 else None
        if path is not None:
            number = len(self.edits) + 1
            if end < 0:
                self.problems.append(
                    f"block {number}: the code block with the whole of {path} is not "
                    "closed (was the reply cut off?)"
                )
                return None
            if self.first_edit_at < 0:
                self.first_edit_at = i - 1
            self.edits.append(Edit(path, None, "\n".join(body), number))
        return (end + 1) if end >= 0 else len(lines)

    def step(self, i: int) -> int | None:
        """Read the line at i; the next line to read, or None to stop."""
        self.header(i)
        line = self.lines[i]
        if self.wrapper and line.strip() == self.wrapper:
            self.wrapper = ""  # the fence around SEARCH/REPLACE blocks closes
            return i + 1
        if SEARCH.match(line):
            return self.search_replace(i)
        fence = FENCE.match(line)
        if fence and fence.group(1):
            return self.fenced(i, fence.group(1))
        return i + 1

    def rationale(self) -> str:
        """From the RATIONALE: line to the first edit (or the end of the reply)."""
        if self.rationale_at < 0:
            return ""
        stop = self.first_edit_at if self.first_edit_at > self.rationale_at else len(self.lines)
        rest = self.lines[self.rationale_at + 1 : stop]
        return "\n".join([self.rationale_first, *rest]).strip()


def parse_reply(text: str) -> Reply:
    """Split a reply into description, rationale and edits; raise EditError if malformed."""
    scan = _Scan(text.replace("\r\n", "\n").split("\n"))
    i: int | None = 0
    while i is not None and i < len(scan.lines):
        i = scan.step(i)
    if not text.strip():
        raise EditError("the reply is empty")
    problems = scan.problems
    if not scan.description:
        problems.insert(0, "no DESCRIPTION: line before the edits")
    if not scan.edits and not problems:
        problems.append(
            "no edit blocks found: give each file's path alone on a line, then a "
            "<<<<<<< SEARCH / ======= / >>>>>>> REPLACE block"
        )
    if problems:
        raise EditError(problems[:MAX_ERRORS])
    return Reply(scan.description.splitlines()[0][:200], scan.rationale(), scan.edits)


def check_path(path: str, editable: list[str], root: Path | None = None) -> str:
    """The normalized editable path, or EditError naming what is wrong with it."""
    allowed = ", ".join(editable)
    if "\\" in path or path.startswith("~") or PurePosixPath(path).is_absolute():
        raise EditError(f"{path}: absolute paths are not allowed; use one of: {allowed}")
    pure = PurePosixPath(path)
    if ".." in pure.parts:
        raise EditError(f"{path}: paths with '..' are not allowed; use one of: {allowed}")
    norm = str(pure)
    if norm not in editable:
        raise EditError(f"{path} is not editable; you may only change: {allowed}")
    if root is not None:
        current = root
        for part in pure.parts:
            current = current / part
            if current.is_symlink():
                raise EditError(f"{path}: {current.relative_to(root)} is a symlink; not editable")
    return norm


def _line_matches(content: str, search: str) -> list[int]:
    """Offsets where `search` matches a run of whole lines of `content`."""
    found, start = [], 0
    while (at := content.find(search, start)) >= 0:
        end = at + len(search)
        if (at == 0 or content[at - 1] == "\n") and (end == len(content) or content[end] == "\n"):
            found.append(at)
        start = at + 1
    return found


def _no_match_hint(content: str, search: str) -> str:
    def squash(s: str) -> str:
        return "\n".join(" ".join(line.split()) for line in s.split("\n"))

    if squash(search) and squash(search) in squash(content):
        return " It matches only when whitespace is ignored: copy the indentation exactly."
    first = next((line for line in search.split("\n") if line.strip()), "")
    lines = content.split("\n")
    close = difflib.get_close_matches(first, lines, n=1, cutoff=0.6)
    if close:
        return f" The closest line of the file is line {lines.index(close[0]) + 1}: {close[0]!r}."
    return ""


def _apply_one(content: str, edit: Edit, path: str) -> tuple[str | None, str]:
    """(new content, "") or (None, the problem)."""
    if edit.search is None:
        new = edit.replace if edit.replace.endswith("\n") else edit.replace + "\n"
        if new == content:
            return None, f"block {edit.number}: the new {path} is the same as the current one"
        return new, ""
    if not edit.search.strip():
        return None, (
            f"block {edit.number} ({path}): the SEARCH part is empty; copy the lines to "
            "replace, or send the whole file in a fenced block"
        )
    if edit.search == edit.replace:
        return None, f"block {edit.number} ({path}): REPLACE is the same as SEARCH: no change"
    found = _line_matches(content, edit.search)
    if not found:
        return None, (
            f"block {edit.number} ({path}): the SEARCH part does not match the file exactly."
            + _no_match_hint(content, edit.search)
        )
    if len(found) > 1:
        return None, (
            f"block {edit.number} ({path}): the SEARCH part matches {len(found)} places; "
            "include more surrounding lines so it matches exactly one"
        )
    at = found[0]
    end = at + len(edit.search)
    if edit.replace == "" and not edit.search.endswith("\n"):
        if end < len(content):
            end += 1  # delete the lines with their line break
        elif at > 0:
            at -= 1
    return content[:at] + edit.replace + content[end:], ""


def compile_error(path: str, source: str) -> str:
    """The empty string when a Python file compiles, else the error for the model."""
    if not path.endswith(".py"):
        return ""
    try:
        compile(source, path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        where = f"line {exc.lineno}" if exc.lineno else "somewhere"
        text = f": {exc.text.strip()!r}" if exc.text and exc.text.strip() else ""
        return f"{path} does not compile after the edits: {exc.msg} ({where}{text})"
    except ValueError as exc:  # null bytes
        return f"{path} does not compile after the edits: {exc}"
    return ""


def apply_edits(
    files: dict[str, str], edits: list[Edit], editable: list[str], root: Path | None = None
) -> dict[str, str]:
    """Apply every edit in order; return the changed files' new contents, or EditError."""
    current = dict(files)
    problems: list[str] = []
    for edit in edits:
        try:
            path = check_path(edit.path, editable, root)
        except EditError as exc:
            problems.append(f"block {edit.number}: {exc}")
            continue
        if path not in current:
            problems.append(f"block {edit.number}: {path} does not exist in the parent")
            continue
        new, problem = _apply_one(current[path], edit, path)
        if new is None:
            problems.append(problem)
        else:
            current[path] = new
    if problems:
        raise EditError(problems[:MAX_ERRORS])
    changed = {p: s for p, s in current.items() if files.get(p) != s}
    if not changed:
        raise EditError("the edits change nothing")
    errors = [e for p, s in sorted(changed.items()) if (e := compile_error(p, s))]
    if errors:
        raise EditError(errors)
    return changed


def apply_reply(
    text: str, files: dict[str, str], editable: list[str], root: Path | None = None
) -> tuple[Reply, dict[str, str]]:
    """Parse and apply a reply: (the reply, changed editable files) or EditError."""
    reply = parse_reply(text)
    return reply, apply_edits(files, reply.edits, editable, root)


def repair_message(error: EditError, truncated: bool = False) -> str:
    """What the model is told after a reply that could not be applied."""
    problems = "\n".join(f"- {p}" for p in error.problems)
    cut = (
        "\nYour reply was cut off at the output token limit: send shorter SEARCH/REPLACE "
        "blocks instead of whole files."
        if truncated
        else ""
    )
    return (
        f"Your reply could not be applied, so nothing was changed:\n{problems}{cut}\n\n"
        "Send a corrected complete reply in the same format (DESCRIPTION, RATIONALE, edit "
        "blocks), with every edit made against the original files shown above: none of "
        "your previous edits were applied."
    )
