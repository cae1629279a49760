"""The prompt a persona gets: program, brief, the parent's files, what the tree knows.

A `Prompt` has three parts, ordered from the most to the least stable so providers can
cache the prefix: `system` (the role, the reply format, the research program and the
persona's brief: the same for every call of a persona), `files` (the parent's editable
files: the same for every child of one parent) and `task`. The task starts with what the
whole tree knows (the person's hints, the lessons note, the run-to-run spread, the best,
every measured experiment and the constants tried: agents/memory_prompt.py), the same
for every parent of one tree; then, after PARENT_MARK, this parent's part (proposals in
flight, its lineage and children, a debug child's crash log or a merge's change) and the
request.

Two modes: "edits" asks for a reply with SEARCH/REPLACE blocks (LLM backends);
"command" asks a coding agent to edit the files in place (the `command` backend).
"""

from __future__ import annotations

from dataclasses import dataclass

from autoresearch_tui.agents.format import fmt_delta, fmt_metric
from autoresearch_tui.agents.instructions import ROLE, Mode, reply_format
from autoresearch_tui.agents.memory_prompt import belief_part, parent_part, shared_part
from autoresearch_tui.agents.request import Memory, ProposalRequest, TriedChange
from autoresearch_tui.agents.run_section import run_section

MAX_CRASH_LOG_CHARS = 12_000
# Where the parent's own part of the task starts: the text before it is the same for
# every parent of one tree (the shared, cacheable part).
PARENT_MARK = "# This proposal"


@dataclass(frozen=True)
class Prompt:
    system: str  # role, reply format, program, brief: stable per persona
    files: str  # the parent's editable files: stable per parent
    task: str  # what the tree knows and what to do now

    def text(self) -> str:
        """The whole prompt as one text (for a command-line agent's stdin)."""
        return f"{self.system}\n\n{self.files}\n\n{self.task}\n"


def judge(delta: float | None, goal: str) -> str:
    """'better', 'worse' or 'equal' for a delta measured as child - parent."""
    if delta is None:
        return ""
    if delta == 0:
        return "equal"
    return "better" if (delta < 0) == (goal == "min") else "worse"


def _result(change: TriedChange, metric: str, goal: str) -> str:
    if change.metric is not None and change.status == "done":
        text = f"{metric} {fmt_metric(change.metric)}"
        if change.delta is not None:
            text += f" ({fmt_delta(change.delta)} vs its parent, {judge(change.delta, goal)})"
        return text
    return {
        "ready": "queued, no result yet",
        "running": "running, no result yet",
        "proposing": "being written",
    }.get(change.status, change.status)


def _line(change: TriedChange, metric: str, goal: str) -> str:
    who = f" [{change.persona}]" if change.persona and change.persona != "base" else ""
    return f"- {change.node_id}{who} {change.description}: {_result(change, metric, goal)}"


def _fence(content: str, lang: str = "") -> str:
    ticks = "````" if "```" in content else "```"
    body = content if content.endswith("\n") else content + "\n"
    return f"{ticks}{lang}\n{body}{ticks}"


def _lang(path: str) -> str:
    return {"py": "python", "md": "markdown", "toml": "toml", "sh": "bash"}.get(
        path.rsplit(".", 1)[-1] if "." in path else "", ""
    )


def build_system(
    program: str, brief: str, editable: list[str], mode: Mode = "edits", repairs: int = 2
) -> str:
    return (
        f"{ROLE}\n\n{reply_format(mode, editable, repairs)}\n\n"
        f"# Research program\n\n{program.strip()}\n\n# Your persona\n\n{brief.strip()}"
    )


def build_files(request: ProposalRequest) -> str:
    parts = [f"# The parent's editable files (node {request.parent_id})"]
    for path in request.editable:
        if path in request.parent_files:
            parts.append(f"{path}\n{_fence(request.parent_files[path], _lang(path))}")
    return "\n\n".join(parts)


def _hints(request: ProposalRequest) -> list[str]:
    hints = [f"- {h.strip()}" for h in request.hints if h.strip()]
    if not hints:
        return []
    return ["## Notes from the person running the search (follow them)\n" + "\n".join(hints)]


def _lessons(request: ProposalRequest) -> list[str]:
    """The current lessons note (search/lessons.py), as written or as the person edited it."""
    note = request.lessons
    if note is None or not note.text.strip():
        return []
    return [f"## Lessons so far ({note.byline()})\n{note.text.strip()}"]


def _remembered(request: ProposalRequest, memory: Memory) -> list[str]:
    """What the whole tree knows (agents/memory_prompt.py): the part every parent shares
    first, then this parent's."""
    return [
        "# The search so far",
        *_hints(request),
        *_lessons(request),
        *shared_part(memory, request.metric, request.goal),
        PARENT_MARK,
        *parent_part(memory, request.parent_id),
        *belief_part(request.tuner),
    ]


def _known(request: ProposalRequest) -> list[str]:
    """What a hand-built request knows: metric, base, parent, best, lineage, tried, hints."""
    if request.memory is not None:
        return _remembered(request, request.memory)
    metric, goal = request.metric, request.goal
    direction = "lower is better" if goal == "min" else "higher is better"
    parts = ["# The search so far"]
    head = [f"Metric: {metric} ({direction})."]
    if request.base_metric is not None:
        head.append(f"Base: {fmt_metric(request.base_metric)}.")
    if request.parent_metric is not None:
        head.append(f"Parent {request.parent_id}: {fmt_metric(request.parent_metric)}.")
    parts.append(" ".join(head))
    if request.best is not None:
        best = request.best
        parts.append(
            f"Best so far: {best.node_id} {metric} {fmt_metric(best.metric)} — "
            f"{best.description or 'the base'}"
        )
    if request.lineage:
        lines = [_line(c, metric, goal) for c in request.lineage]
        parts.append("## Lineage (base -> parent)\n" + "\n".join(lines))
    if request.tried:
        lines = [_line(c, metric, goal) for c in request.tried]
        parts.append(
            "## Already tried near the parent (siblings and cousins; do not repeat them)\n"
            + "\n".join(lines)
        )
    return parts + _hints(request) + _lessons(request)


def _debug(request: ProposalRequest) -> tuple[str, str]:
    """(the parent's crash log, the request to fix it)."""
    status = request.lineage[-1].status if request.lineage else "crashed"
    log = request.crash_log.strip() or "(the log is empty)"
    if len(log) > MAX_CRASH_LOG_CHARS:
        half = MAX_CRASH_LOG_CHARS // 2
        log = f"{log[:half]}\n... (cut) ...\n{log[-half:]}"
    context = f"## The parent's run {status}\nHead and tail of its log:\n{_fence(log, 'text')}"
    return context, (
        f"Fix the parent {request.parent_id} so that it runs to the end and prints "
        f"{request.metric}, with the smallest change that removes the cause; keep its idea."
    )


def _merge(request: ProposalRequest, other: TriedChange) -> tuple[str, str]:
    """(the change to bring in and its diff, the request to merge it)."""
    context = (
        f"## The change to bring in: node {other.node_id}, {other.description}: "
        f"{_result(other, request.metric, request.goal)}\nIts diff against the common "
        f"ancestor of the two branches (the parent changed some of the same lines, so a "
        f"three-way merge conflicted):\n{_fence(request.merge_change or '(empty)', 'diff')}"
    )
    return context, (
        f"Merge: apply {other.node_id}'s change to the parent {request.parent_id}'s "
        "files, keeping the parent's own changes. Where both changed the same lines, "
        "combine them so that both ideas survive. Change nothing else."
    )


def build_task(request: ProposalRequest, mode: Mode = "edits") -> str:
    """What the tree knows, then what to do: fix a crash, merge a change, or improve."""
    parts = _known(request)
    if runs := run_section(request):
        parts.append(runs)
    if request.kind == "debug":
        context, ask = _debug(request)
        parts.append(context)
    elif request.kind == "merge" and request.merge_with is not None:
        context, ask = _merge(request, request.merge_with)
        parts.append(context)
    else:
        ask = (
            f"Propose one child of {request.parent_id} that improves {request.metric}: one "
            "idea, different from everything listed above"
        )
        spread = request.memory.spread if request.memory is not None else None
        ask += (
            f", whose expected effect exceeds the run-to-run spread ({fmt_delta(spread, signed=False)})."
            if spread is not None
            else "."
        )
    if mode == "edits":
        ask += " Reply in the format given at the start (DESCRIPTION, RATIONALE, edit blocks)."
    else:
        ask += " Edit the files in place, then end with the DESCRIPTION and RATIONALE lines."
    if request.rejected:
        parts.append(
            "## Your earlier proposals for this child were sent back\n"
            + "\n".join(f"- {reason}" for reason in request.rejected)
        )
    parts.append(f"## Your task\n{ask}")
    return "\n\n".join(parts)


def build_prompt(
    request: ProposalRequest, program: str, brief: str, mode: Mode = "edits", repairs: int = 2
) -> Prompt:
    """The prompt for one proposal (`repairs`: how many bad replies go back for repair)."""
    return Prompt(
        system=build_system(program, brief, request.editable, mode, repairs),
        files=build_files(request),
        task=build_task(request, mode),
    )
