"""What a coding agent is told: the prompt on its stdin and the repair message.

The system part (role, how to work, program, brief) and the task (what the tree knows,
what to do) are agents/prompt.py's, in command mode. The files part differs from the
LLM prompt: the agent runs in a checkout of the parent, so the prompt says where the
files are and how long they are instead of inlining them (docs/ARCHITECTURE.md §5).
"""

from __future__ import annotations

from pathlib import Path

from autoresearch_tui.agents.prompt import Prompt, build_system, build_task
from autoresearch_tui.agents.request import ProposalRequest

MAX_OTHER_FILES = 12  # read-only files named in the prompt; the agent can list the rest


def _lines(content: str) -> str:
    count = len(content.splitlines())
    return f"{count} line{'' if count == 1 else 's'}"


def build_files_section(request: ProposalRequest, worktree: Path, others: list[str]) -> str:
    """Where the parent's files are: the editable ones with their length, then others."""
    editable = [
        f"{path} ({_lines(request.parent_files[path])})"
        if path in request.parent_files
        else f"{path} (new)"
        for path in request.editable
    ]
    text = (
        f"# The parent's files (node {request.parent_id})\n\n"
        f"The parent's files are in your working directory {worktree}: "
        f"{', '.join(editable)}. Read them there; they are not repeated here."
    )
    rest = [p for p in others if p not in request.editable]
    if rest:
        shown = ", ".join(rest[:MAX_OTHER_FILES])
        more = f" and {len(rest) - MAX_OTHER_FILES} more" if len(rest) > MAX_OTHER_FILES else ""
        text += f"\nAlso there, for reading only: {shown}{more}."
    return text


def command_prompt(
    request: ProposalRequest,
    worktree: Path,
    others: list[str],
    program: str,
    brief: str,
    repairs: int,
) -> Prompt:
    """The prompt for one proposal by a coding agent working in `worktree`."""
    return Prompt(
        system=build_system(program, brief, request.editable, "command", repairs),
        files=build_files_section(request, worktree, others),
        task=build_task(request, "command"),
    )


def repair_prompt(prompt: str, errors: list[str], repair: int, repairs: int) -> str:
    """The prompt again, with why the last attempt cannot be used (repair n of N)."""
    reasons = "\n".join(f"- {e}" for e in errors)
    return (
        f"{prompt}\n\n# Your previous attempt (repair {repair} of {repairs})\n\n"
        "Your changes to the editable files are still in place. They cannot be used "
        f"yet:\n{reasons}\n\n"
        "Fix this in place, then end with the DESCRIPTION and RATIONALE lines.\n"
    )
