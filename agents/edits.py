"""Parse a model's reply and apply its edits to the parent's files, strictly.

A reply is an optional `ANALYSIS:` (free text, never read as edits), `DESCRIPTION: ...`,
`RATIONALE: ...` and edit blocks: a path line followed either by an aider-style
SEARCH/REPLACE block or by a fenced block holding the whole new file (the prompt states
the format exactly; see agents/instructions.py). Common variants are read too: headings
(`## Description`, `**Description:**`) with the value on the same or the next line, the
path in a fence's info string (```` ```python:train.py ````), unified diffs
(agents/diffs.py), and an echoed copy of the format's own example, which is skipped.
Every problem is an `EditError` whose message is what the model is told when it gets a
chance to repair its reply: paths must be relative, without `..`, not symlinks and
editable; a SEARCH must match a run of whole lines once, exactly or, failing that, by a
unique tolerant match (agents/matching.py); a block that changes nothing, edits that
change nothing overall and Python files that do not compile are errors. Nothing is
applied unless everything applies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from autoresearch_tui.agents.diffs import diff_start, read_diff, starts_diff
from autoresearch_tui.agents.matching import replace_lines

SEARCH = re.compile(r"^\s*<{5,9} ?SEARCH\s*$")
DIVIDER = re.compile(r"^\s*={5,9}\s*$")
REPLACE = re.compile(r"^\s*>{5,9} ?REPLACE\s*$")
FENCE = re.compile(  # ```python, ```python:train.py, ```python title="train.py"
    r"^\s*(`{3,}|~{3,})\s*([\w+.#-]*)(?:(?::|\s+(?:title=)?)[\"']?([\w./~-]+)[\"']?)?\s*$"
)
SECTION = re.compile(
    r"^(?P<pre>\W*)(?P<name>analysis|description|rationale)\b(?P<post>[^\w:]*)"
    r"(?P<colon>:)?(?P<value>.*)$",
    re.IGNORECASE,
)
PLACEHOLDER = re.compile(r"<[^<>]*\s[^<>]*>")  # the format's own `<what goes here>`
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
    kind: str = "block"  # "block", or "hunk" of a unified diff

    @property
    def label(self) -> str:
        return f"{self.kind} {self.number}"


@dataclass(frozen=True)
class Reply:
    description: str
    rationale: str
    edits: list[Edit]
    analysis: str = ""  # the optional ANALYSIS: section before DESCRIPTION

    def rationale_with_analysis(self) -> str:
        """The rationale, then the analysis as "Analysis: ..." when the reply has one."""
        analysis = f"Analysis: {self.analysis}" if self.analysis else ""
        return "\n\n".join(part for part in (self.rationale, analysis) if part)


def _path_of(line: str) -> str | None:
    """The file path a line names (`train.py`, `### train.py`, `**train.py:**`), or None."""
    text = line.strip()
    text = re.sub(r"^#+\s*", "", text)
    text = re.sub(r"^(file|path)\s*:\s*", "", text, flags=re.IGNORECASE)
    text = text.strip("*`'\"").rstrip(":").strip("*`'\"").strip()
    if not re.fullmatch(r"[\w./~-]+", text) or text.endswith("."):
        return None
    return text if "/" in text or re.search(r"\.\w+$", text) else None


def _fence_path(line: str) -> str | None:
    """The path a fence opener names in its info string (```` ```python:train.py ````)."""
    fence = FENCE.match(line)
    if fence is None:
        return None
    return _path_of(fence.group(3) or "") or _path_of(fence.group(2))


def _clean(text: str) -> str:
    return text.strip().strip("*_").strip()


def _section(line: str) -> tuple[str, str] | None:
    """(name, value) when the line opens an ANALYSIS, DESCRIPTION or RATIONALE section:
    `NAME: value`, `**Name:** value`, or a heading (`## Name`, `**Name**`) alone. The
    format's own placeholder (`DESCRIPTION: <one line, ...>`) opens nothing."""
    found = SECTION.match(line)
    if found is None:
        return None
    value = _clean(found["value"])
    heading = re.search(r"[#*_]", found["pre"] + found["post"])
    if not found["colon"] and (value or not heading):
        return None
    if PLACEHOLDER.fullmatch(value):
        return None
    return found["name"].lower(), value


def _is_placeholder(lines: list[str]) -> bool:
    """Whether these lines are only one of the format's `<what goes here>` lines."""
    text = [x.strip() for x in lines if x.strip()]
    return len(text) == 1 and bool(PLACEHOLDER.fullmatch(text[0]))


def _fence_end(lines: list[str], start: int, fence: str) -> int:
    """Index of the line closing the fence opened at `start`, or -1."""
    for j in range(start + 1, len(lines)):
        if lines[j].strip() == fence:
            return j
    return -1


def _path_before(lines: list[str], i: int) -> tuple[str | None, str, int]:
    """The path for a block at line i: the line before it (skipping blank lines), or the
    info string of the fence the block is in: (its path, its text, its index)."""
    j = i - 1
    while j >= 0 and (FENCE.match(lines[j]) or not lines[j].strip()):
        if (path := _fence_path(lines[j])) is not None:
            return path, lines[j].strip(), j
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
    sections: dict[str, tuple[int, str]] = field(default_factory=dict)  # first of each
    starts: list[int] = field(default_factory=list)  # every section's first line
    current: str = ""  # the section we are in
    first_edit_at: int = -1  # index of the line naming the first edit's file
    last_path: str | None = None
    last_end: int = -2  # index where the previous SEARCH/REPLACE block ended
    wrapper: str = ""  # the fence around SEARCH/REPLACE blocks or a diff we are in

    def header(self, i: int) -> None:
        """ANALYSIS:, DESCRIPTION: and RATIONALE: sections before the first edit."""
        if self.edits or (found := _section(self.lines[i])) is None:
            return
        name, value = found
        self.starts.append(i)
        self.sections.setdefault(name, (i, value))
        self.current = name

    @property
    def in_analysis(self) -> bool:
        """In an ANALYSIS section before the DESCRIPTION: free text, never edits."""
        return self.current == "analysis" and "description" not in self.sections

    def _block_path(self, i: int, number: int) -> tuple[str | None, int]:
        """The path of the SEARCH/REPLACE block at line i and the line naming it."""
        lines = self.lines
        path, was, path_at = _path_before(lines, i)
        between = [x for x in lines[self.last_end + 1 : i] if x.strip() and not FENCE.match(x)]
        if path is None and self.last_path is not None and self.last_end >= 0 and not between:
            path = self.last_path  # consecutive blocks for the same file
        if path is None:
            self.problems.append(
                f"block {number}: no file path alone on the line before <<<<<<< SEARCH"
                + (f" (found {was!r})" if was else "")
            )
        return path, path_at

    def search_replace(self, i: int) -> int | None:
        """The aider-style block opening at line i; the next line to read, or None when
        the block is broken (the rest of the reply cannot be trusted)."""
        lines, number = self.lines, len(self.edits) + 1
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
        if _is_placeholder(search) and _is_placeholder(replace):
            return j + 1  # the format's example, echoed
        path, path_at = self._block_path(i, number)
        if self.first_edit_at < 0:
            self.first_edit_at = path_at
        if path is not None:
            self.edits.append(Edit(path, "\n".join(search), "\n".join(replace), number))
            self.last_path = path
        self.last_end = j
        return j + 1

    def diff(self, i: int) -> int:
        """The unified diff of one file whose `---` line is i; the next line to read."""
        found = read_diff(self.lines, i)
        if self.first_edit_at < 0:
            self.first_edit_at = diff_start(self.lines, i)
        if found.problem:
            self.problems.append(found.problem)
        for hunk in found.hunks:
            number = len(self.edits) + 1
            self.edits.append(Edit(found.path, hunk.search, hunk.replace, number, "hunk"))
        return found.end

    def fenced(self, i: int, fence: str) -> int | None:
        """A code block opening at line i: a wrapper around SEARCH/REPLACE blocks or a
        diff, a whole new file (its path in the fence's info string or on the line
        before), or plain text; the next line to read, or None."""
        lines = self.lines
        end = _fence_end(lines, i, fence)
        body = lines[i + 1 : end] if end >= 0 else lines[i + 1 :]
        if any(SEARCH.match(x) for x in body) or any(
            starts_diff(body, k) for k in range(len(body))
        ):
            self.wrapper = fence
            return i + 1
        info_path = _fence_path(lines[i])
        named_at = i if info_path else i - 1
        path = info_path or (_path_of(lines[i - 1]) if i > 0 else None)
        if path is not None and not _is_placeholder(body):
            number = len(self.edits) + 1
            if end < 0:
                self.problems.append(
                    f"block {number}: the code block with the whole of {path} is not "
                    "closed (was the reply cut off?)"
                )
                return None
            if self.first_edit_at < 0:
                self.first_edit_at = named_at
            self.edits.append(Edit(path, None, "\n".join(body), number))
        return (end + 1) if end >= 0 else len(lines)

    def step(self, i: int) -> int | None:
        """Read the line at i; the next line to read, or None to stop."""
        self.header(i)
        line = self.lines[i]
        if self.wrapper and line.strip() == self.wrapper:
            self.wrapper = ""  # the fence around SEARCH/REPLACE blocks closes
            return i + 1
        fence = FENCE.match(line)
        if self.in_analysis:  # skip code quoted in the analysis, whole
            end = _fence_end(self.lines, i, fence.group(1)) if fence else i
            return end + 1 if end >= 0 else i + 1  # an unclosed fence hides nothing
        if SEARCH.match(line):
            return self.search_replace(i)
        if starts_diff(self.lines, i):
            return self.diff(i)
        if fence:
            return self.fenced(i, fence.group(1))
        return i + 1

    def text(self, name: str) -> str:
        """A section's text: from its header to the next section or the first edit."""
        if name not in self.sections:
            return ""
        at, value = self.sections[name]
        ends = [s for s in self.starts if s > at]
        if self.first_edit_at > at:
            ends.append(self.first_edit_at)
        body = self.lines[at + 1 : min(ends, default=len(self.lines))]
        while body and (not body[-1].strip() or FENCE.match(body[-1])):
            body.pop()  # blank lines and the fence opening the edits
        return "\n".join([value, *body]).strip()

    def description(self) -> str:
        first = next((x for x in self.text("description").split("\n") if x.strip()), "")
        return _clean(first)[:200]


def parse_reply(text: str) -> Reply:
    """Split a reply into description, rationale, analysis and edits; raise EditError if
    malformed."""
    scan = _Scan(text.replace("\r\n", "\n").split("\n"))
    i: int | None = 0
    while i is not None and i < len(scan.lines):
        i = scan.step(i)
    if not text.strip():
        raise EditError("the reply is empty")
    problems, description = scan.problems, scan.description()
    if not description:
        problems.insert(
            0,
            "the DESCRIPTION is empty: write one line after DESCRIPTION:"
            if "description" in scan.sections
            else "no DESCRIPTION: line before the edits",
        )
    if not scan.edits and not problems:
        problems.append(
            "no edit blocks found: give each file's path alone on a line, then a "
            "<<<<<<< SEARCH / ======= / >>>>>>> REPLACE block"
        )
    if problems:
        raise EditError(problems[:MAX_ERRORS])
    return Reply(description, scan.text("rationale"), scan.edits, scan.text("analysis"))


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


def _apply_one(content: str, edit: Edit, path: str) -> tuple[str | None, str]:
    """(new content, "") or (None, the problem)."""
    where = f"{edit.label} ({path})"
    if edit.search is None:
        new = edit.replace if edit.replace.endswith("\n") else edit.replace + "\n"
        if new == content:
            return None, f"{edit.label}: the new {path} is the same as the current one"
        return new, ""
    if not edit.search.strip():
        if edit.kind == "hunk":
            return None, (
                f"{where}: the hunk has no context lines; include two or three unchanged "
                "lines around the change"
            )
        return None, (
            f"{where}: the SEARCH part is empty; copy the lines to replace, or send the "
            "whole file in a fenced block"
        )
    if edit.search == edit.replace:
        if edit.kind == "hunk":
            return None, f"{where}: the hunk changes nothing (no '-' or '+' lines)"
        return None, f"{where}: REPLACE is the same as SEARCH: no change"
    what = "the SEARCH part" if edit.kind == "block" else "its context and '-' lines"
    replaced, problem = replace_lines(content, edit.search, edit.replace, what)
    return replaced, (f"{where}: {problem}" if problem else "")


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
            problems.append(f"{edit.label}: {exc}")
            continue
        if path not in current:
            problems.append(f"{edit.label}: {path} does not exist in the parent")
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


def tries_note(tries_left: int) -> str:
    """How many replies the model may still send, this one included (>= 1)."""
    if tries_left <= 1:
        return "This is your last try: if this reply cannot be applied either, the proposal fails."
    return f"You have {tries_left} tries left, this one included."


def repair_message(error: EditError, truncated: bool = False, tries_left: int = 0) -> str:
    """What the model is told after a reply that could not be applied; `tries_left`
    (when > 0) is how many replies it may still send, the corrected one included."""
    problems = "\n".join(f"- {p}" for p in error.problems)
    cut = (
        "\nYour reply was cut off at the output token limit: send shorter SEARCH/REPLACE "
        "blocks instead of whole files."
        if truncated
        else ""
    )
    tries = f" {tries_note(tries_left)}" if tries_left > 0 else ""
    return (
        f"Your reply could not be applied, so nothing was changed:\n{problems}{cut}\n\n"
        "Send a corrected complete reply in the same format (DESCRIPTION, RATIONALE, edit "
        "blocks), with every edit made against the original files shown above: none of "
        f"your previous edits were applied.{tries}"
    )
