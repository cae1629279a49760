"""The lessons note's prompt and its word cap.

Every `[search] lessons_every` experiments one model persona writes a note of at most
MAX_WORDS words in two headed parts, "What we have learned" and "What is still open"
(search/lessons.py decides when and stores it). Its prompt: the research program, what
the whole tree knows (the shared part of every proposal's task: the spread, the best,
every measured experiment, the constants tried; agents/memory_prompt.py), the note so far
and the person's hints. The reply is cut to the cap. See docs/ARCHITECTURE.md §5.
"""

from __future__ import annotations

import re

from autoresearch_tui.agents.memory_prompt import shared_part
from autoresearch_tui.agents.prompt import Prompt
from autoresearch_tui.agents.request import LessonsNote, LessonsRequest

MAX_WORDS = 400
LEARNED, OPEN = "What we have learned", "What is still open"

LESSONS_ROLE = """\
You are the research lead of autoresearch-tui: a best-first search over changes to a
training script, where several agents propose experiments and each one is trained and
measured. You do not propose an experiment now. You write the team's shared lessons
note, which every agent reads before its next proposal."""


def lessons_format(max_words: int) -> str:
    return (
        "# Reply format\n\n"
        f"Reply with the note only, at most {max_words} words, in exactly two parts:\n\n"
        f"## {LEARNED}\n"
        "- what the measured results show, citing node ids, constants and how sure it is "
        "given the run-to-run spread (a difference within it is noise, not a finding)\n\n"
        f"## {OPEN}\n"
        "- the questions the results leave open and the experiments most worth running "
        "next; directions that are exhausted, so nobody repeats them\n\n"
        "Be concrete and short: bullets, numbers, node ids. Keep what the previous note "
        "got right, correct what the new results contradict. Follow the person's notes."
    )


def trim_words(text: str, limit: int = MAX_WORDS) -> str:
    """`text` cut after its `limit`-th word (line breaks kept), marked with `…`."""
    text = text.strip()
    words = list(re.finditer(r"\S+", text))
    if len(words) <= limit:
        return text
    return text[: words[limit - 1].end()] + " …"


def _previous(note: LessonsNote | None) -> list[str]:
    if note is None or not note.text.strip():
        return ["## The previous lessons note\n(none yet: this is the first)"]
    return [f"## The previous lessons note ({note.byline()})\n{note.text.strip()}"]


def _hints(hints: tuple[str, ...]) -> list[str]:
    lines = [f"- {h.strip()}" for h in hints if h.strip()]
    if not lines:
        return []
    return ["## Notes from the person running the search (follow them)\n" + "\n".join(lines)]


def build_lessons_prompt(request: LessonsRequest, program: str) -> Prompt:
    """The lessons prompt: role and format, the program, then what the tree knows."""
    task = [
        f"# The search so far ({request.experiments} experiments measured)",
        *_hints(request.hints),
        *shared_part(request.memory, request.metric, request.goal),
        *_previous(request.previous),
        "## Your task\n"
        f"Write the lessons note now: at most {request.max_words} words, in the two parts "
        f'"{LEARNED}" and "{OPEN}".',
    ]
    return Prompt(
        system=f"{LESSONS_ROLE}\n\n{lessons_format(request.max_words)}",
        files=f"# Research program\n\n{program.strip() or '(none)'}",
        task="\n\n".join(task),
    )
