"""What an edit changed, as a model reads it: module-level constants, and one content hash.

`module_constants` reads the module-level assignments of a Python file with `ast`
(`DEPTH = 8`, `MATRIX_LR: float = 0.04`, `WINDOW = 2**19`: only the UPPER_CASE names
where the file has any, since a script's lowercase module-level names are its working
variables), each value as its source text. `constant_changes` compares two files' worth
of them: `DEPTH 4->8`. `content_hash` is the identity of a commit's editable files after
normalising whitespace (line ends, trailing spaces, runs of blank lines), so two
proposals that differ only in layout are the same experiment. The results section of a
prompt (search/memory.py) and the duplicate check (search/proposing.py) use these.
"""

from __future__ import annotations

import ast
import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import autoresearch_tui.agents.pyast as pyast

VALUE_CHARS = 24  # a value longer than this is shortened in a change's text
_UPPER = re.compile(r"^_*[A-Z][A-Z0-9_]*$")
_BLANK_RUNS = re.compile(r"\n{3,}")


@dataclass(frozen=True)
class ConstantChange:
    """One module-level constant that differs between a parent's files and a child's."""

    name: str
    old: str  # its source text in the parent ("" when the child added it)
    new: str  # its source text in the child ("" when the child removed it)

    def text(self) -> str:
        """`DEPTH 4->8`, `LR 0.04->(removed)`, `NEW_FLAG (new)->True`."""
        return f"{self.name} {short_value(self.old) or '(new)'}->{short_value(self.new) or '(removed)'}"


def short_value(value: str) -> str:
    """A constant's value as a change shows it: one line, at most VALUE_CHARS."""
    value = " ".join(value.split())
    return value if len(value) <= VALUE_CHARS else value[: VALUE_CHARS - 1] + "…"


def module_assignments(module: ast.Module) -> Iterator[tuple[ast.stmt, str, ast.expr]]:
    """(statement, name, value) of each module-level `NAME = value` or `NAME: T = value`."""
    for statement in module.body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target, value = statement.targets[0], statement.value
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            target, value = statement.target, statement.value
        else:
            continue
        if isinstance(target, ast.Name):
            yield statement, target.id, value


def module_constants(source: str) -> dict[str, str]:
    """name -> value source text of a file's module-level constants; {} if it does not
    parse (a crash's files still have a change, just none that reads as constants)."""
    try:
        module = pyast.parse(source)
    except (SyntaxError, ValueError):
        return {}
    found = {name: ast.unparse(value) for _, name, value in module_assignments(module)}
    upper = {name: value for name, value in found.items() if _UPPER.match(name)}
    return upper or found


def files_constants(files: Mapping[str, str]) -> dict[str, str]:
    """The constants of every editable Python file; a name in a second file is prefixed
    with that file's name (`model.py:HEADS`) so two files' names never clash."""
    merged: dict[str, str] = {}
    for index, path in enumerate(sorted(p for p in files if p.endswith(".py"))):
        for name, value in module_constants(files[path]).items():
            merged[name if index == 0 else f"{path}:{name}"] = value
    return merged


def constant_changes(old: Mapping[str, str], new: Mapping[str, str]) -> list[ConstantChange]:
    """The constants that differ, in the child's order (removed ones last)."""
    changes = [
        ConstantChange(name, old.get(name, ""), value)
        for name, value in new.items()
        if old.get(name) != value
    ]
    changes += [ConstantChange(name, value, "") for name, value in old.items() if name not in new]
    return changes


def unsaid(description: str, changes: list[ConstantChange]) -> list[ConstantChange]:
    """The changes a description does not already state (`LR 0.04 -> 0.08` states
    `LR 0.04->0.08`), so that a line never says the same thing twice."""
    said = _plain(description)
    return [c for c in changes if _plain(c.text()) not in said]


def _plain(text: str) -> str:
    return "".join(text.split()).replace('"', "'")


def normalise(text: str) -> str:
    """Whitespace that cannot change a run: CRLF, trailing spaces, runs of blank lines."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip("\n") + "\n"


def content_hash(files: Mapping[str, str]) -> str:
    """The identity of a set of editable files, whitespace normalised."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + normalise(files[path]).encode() + b"\0")
    return digest.hexdigest()
