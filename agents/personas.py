"""Personas from briefs: the research program and one Markdown brief per persona.

The built-in briefs ship as package data of `autoresearch_tui.briefs` (`program.md`,
`architect.md`, `optimizer.md`, `simplifier.md`, `explorer.md`, `debugger.md`). A
workspace's own `program.md` replaces the built-in program, and a workspace
`briefs/NAME.md` overrides the built-in brief of that persona or adds a new one. A
search refuses a persona with no brief anywhere (`unknown_persona`: a typo such as
`explorr` would otherwise run as a persona of its own); `load_persona` alone still
falls back to a short generic brief built from the name.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

BRIEFS_PACKAGE = "autoresearch_tui.briefs"
PROGRAM = "program"


@dataclass(frozen=True)
class Persona:
    name: str
    brief: str
    source: str  # "workspace", "built-in" or "generic"


def _builtin(name: str) -> str | None:
    entry = resources.files(BRIEFS_PACKAGE).joinpath(f"{name}.md")
    return entry.read_text(encoding="utf-8") if entry.is_file() else None


def _workspace_brief(workspace: Path, name: str) -> str | None:
    path = workspace / "briefs" / f"{name}.md"
    return path.read_text(encoding="utf-8") if path.is_file() else None


def builtin_personas() -> list[str]:
    """The personas that ship with the package."""
    names = (
        entry.name.removesuffix(".md")
        for entry in resources.files(BRIEFS_PACKAGE).iterdir()
        if entry.name.endswith(".md")
    )
    return sorted(n for n in names if n != PROGRAM)


def available_personas(workspace: Path) -> list[str]:
    """Built-in personas plus those the workspace's briefs/ adds."""
    folder = workspace / "briefs"
    extra = {p.stem for p in folder.glob("*.md")} if folder.is_dir() else set()
    return sorted((set(builtin_personas()) | extra) - {PROGRAM})


def unknown_persona(names: list[str], workspace: Path) -> str:
    """The problem with the first persona that has no brief, or "": one line listing
    the known personas and how to add one."""
    known = available_personas(workspace)
    for name in names:
        if name not in known:
            return (
                f"unknown persona {name!r} — use one of {', '.join(known)}, or add "
                f"{workspace / 'briefs' / name}.md with its brief"
            )
    return ""


def load_program(workspace: Path) -> str:
    """The workspace's program.md, else the built-in research program."""
    path = workspace / "program.md"
    if path.is_file():
        return path.read_text(encoding="utf-8")
    return _builtin(PROGRAM) or ""


def generic_brief(name: str) -> str:
    return (
        f"# Persona: {name}\n\n"
        f"You are the researcher called {name!r}. Propose the change you judge most likely "
        "to improve the metric, in the spirit of your name, and make it different from "
        "what the tree already tried.\n"
    )


def load_persona(name: str, workspace: Path) -> Persona:
    """The persona's brief: workspace briefs/NAME.md, else built-in, else generic."""
    if (text := _workspace_brief(workspace, name)) is not None:
        return Persona(name, text, "workspace")
    if name != PROGRAM and (text := _builtin(name)) is not None:
        return Persona(name, text, "built-in")
    return Persona(name, generic_brief(name), "generic")
