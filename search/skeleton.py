"""A commit's skeleton: its editable files with the values of their module-level constants
masked, hashed. Two commits with one skeleton differ in constant values only, so the
tuner persona (agents/tuner.py) treats their results as trials of one study
(search/tuner_history.py); a code change makes a new skeleton.

A constant is a module-level `NAME = literal` (a number, a negative number, a string or a
boolean), what the mutator and the tuner edit. Comments and layout are not part of a
skeleton (the files are compared as `ast.unparse` writes them); a file that does not
parse, or one that is not Python, counts by its normalised text.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Mapping

import autoresearch_tui.agents.pyast as pyast
from autoresearch_tui.search.constants import module_assignments, normalise

MASK = "<value>"


def _is_literal(value: ast.expr) -> bool:
    if isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.USub | ast.UAdd):
        value = value.operand
    return isinstance(value, ast.Constant) and isinstance(value.value, int | float | str | bool)


def masked(source: str) -> str:
    """`source` with every module-level constant's value replaced by MASK."""
    try:
        module = pyast.parse(source)
    except (SyntaxError, ValueError):
        return normalise(source)
    for statement, _, value in module_assignments(module):
        if _is_literal(value) and isinstance(statement, ast.Assign | ast.AnnAssign):
            statement.value = ast.Constant(MASK)
    return ast.unparse(module)


def skeleton_hash(files: Mapping[str, str]) -> str:
    """The identity of a set of editable files, constant values masked."""
    digest = hashlib.sha256()
    for path in sorted(files):
        text = masked(files[path]) if path.endswith(".py") else normalise(files[path])
        digest.update(path.encode() + b"\0" + text.encode() + b"\0")
    return digest.hexdigest()
