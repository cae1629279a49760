"""The offline `mutator` persona: no LLM, it perturbs module-level constants.

It parses each editable Python file with `ast`, finds module-level assignments of
literals (`MATRIX_LR = 0.04`, `DEPTH = 8`, `USE_VE = True`, `ACT = "relu"`; only the
UPPER_CASE ones where a file has any), and changes one or two of them: floats are scaled
(a value in (0, 1) stays in it), powers of two doubled or halved, other ints
stepped, booleans flipped, and strings swapped for another value the file itself
compares that name against (its "seen set"). Seeds (names containing "seed") are left
alone: a new seed is only new noise, never a gain. Edits are made on the source text at the
literal's position, so comments and layout stay. Choices come from a seeded RNG keyed on
the parent, so a run is reproducible, and a change already tried from the same parent
(same description) is never proposed again. It is the baseline every LLM persona is
measured against, and what runs when no API key is set.
"""

from __future__ import annotations

import ast
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

import autoresearch_tui.agents.pyast as pyast
from autoresearch_tui.agents.proposer import AgentSpec, Proposal, ProposalFailed
from autoresearch_tui.agents.request import ProposalRequest

FLOAT_FACTORS = (0.5, 0.67, 0.8, 1.25, 1.5, 2.0)
MAX_TRIES = 200
Value = int | float | bool | str  # a literal the mutator reads and writes


@dataclass(frozen=True)
class Constant:
    path: str
    name: str
    value: Value
    line: int  # 1-based
    col: int
    end_col: int
    choices: tuple[str, ...] = ()  # strings the file compares this name against


def _literal(node: ast.expr) -> Value | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float | str | bool):
        return node.value
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
    ):
        number = node.operand.value
        if isinstance(number, int | float) and not isinstance(number, bool):
            return -number
    return None


def _compared_strings(tree: ast.Module) -> dict[str, set[str]]:
    """name -> string literals it is compared with (`X == "a"`, `X in ("a", "b")`)."""
    seen: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        names = [o.id for o in operands if isinstance(o, ast.Name)]
        strings = []
        for o in operands:
            if isinstance(o, ast.Constant) and isinstance(o.value, str):
                strings.append(o.value)
            elif isinstance(o, ast.Tuple | ast.List | ast.Set):
                strings += [
                    e.value
                    for e in o.elts
                    if isinstance(e, ast.Constant) and isinstance(e.value, str)
                ]
        for name in names:
            seen.setdefault(name, set()).update(s for s in strings if 0 < len(s) <= 40)
    return seen


def find_constants(path: str, source: str) -> list[Constant]:
    """Module-level `NAME = literal` assignments of `source` (a Python file)."""
    try:
        tree = pyast.parse(source)
    except SyntaxError:
        return []
    compared = _compared_strings(tree)
    found = []
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target, value = stmt.targets[0], stmt.value
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            target, value = stmt.target, stmt.value
        else:
            continue
        literal = _literal(value)
        if not isinstance(target, ast.Name) or literal is None or target.id.startswith("__"):
            continue
        if value.lineno != value.end_lineno or value.end_col_offset is None:
            continue
        choices = (
            tuple(sorted(compared.get(target.id, set()) - {literal}))
            if isinstance(literal, str)
            else ()
        )
        if isinstance(literal, str) and not choices:
            continue
        found.append(
            Constant(
                path,
                target.id,
                literal,
                value.lineno,
                value.col_offset,
                value.end_col_offset,
                choices,
            )
        )
    return found


def _round(x: float) -> float:
    """Three significant digits, so descriptions read like a person wrote them."""
    if x == 0 or not math.isfinite(x):
        return x
    return float(f"{x:.3g}")


def mutate_value(c: Constant, rng: random.Random) -> Value | None:
    v = c.value
    if isinstance(v, bool):
        return not v
    if isinstance(v, str):
        return rng.choice(c.choices)
    if isinstance(v, int):
        if v >= 2 and v & (v - 1) == 0:
            return v * 2 if rng.random() < 0.5 else v // 2
        step = max(1, round(abs(v) * 0.25))
        stepped = v + rng.choice((-step, step))
        return stepped if (v < 0 or stepped >= (1 if v >= 1 else 0)) else v + step
    if v == 0.0:
        return rng.choice((0.01, 0.1))
    factor = rng.choice(FLOAT_FACTORS)
    new = _round(v * factor)
    if 0 < v < 1 <= new:  # a fraction stays one (Adam's beta 0.95 -> 0.96, not 1.19)
        new = _round(1 - (1 - v) / factor)
    return None if new == v else new


def _fmt(v: Value) -> str:
    return repr(v) if not isinstance(v, str) else '"' + v.replace('"', '\\"') + '"'


def apply_changes(
    files: dict[str, str], changes: Sequence[tuple[Constant, Value]]
) -> dict[str, str]:
    """Replace each constant's literal text in place; return the changed files."""
    out = dict(files)
    # Right to left within a line keeps earlier offsets valid.
    for c, new in sorted(changes, key=lambda ch: (ch[0].path, ch[0].line, ch[0].col), reverse=True):
        lines = out[c.path].splitlines(keepends=True)
        raw = lines[c.line - 1].encode()
        lines[c.line - 1] = (raw[: c.col] + _fmt(new).encode() + raw[c.end_col :]).decode()
        out[c.path] = "".join(lines)
    return {p: s for p, s in out.items() if s != files[p]}


def describe(changes: Sequence[tuple[Constant, Value]]) -> str:
    parts = sorted(f"{c.name} {_fmt(c.value)} -> {_fmt(new)}" for c, new in changes)
    return "; ".join(parts)


def tunable_constants(request: ProposalRequest) -> list[Constant]:
    """The constants of the editable Python files that a change may move (the mutator's
    and the tuner's): seeds never (a new seed is never a gain, only new luck), and only
    the UPPER_CASE ones where there are any (hyperparameters, PEP 8 and autoresearch's
    train.py: a file's lower-case module state, `step = 0`, is left alone)."""
    constants = [
        c
        for path in request.editable
        if path.endswith(".py") and path in request.parent_files
        for c in find_constants(path, request.parent_files[path])
        if "seed" not in c.name.lower()
    ]
    upper = [c for c in constants if c.name.isupper()]
    return upper or constants


class Mutator:
    """The `mutator` backend: a Proposer with no model behind it."""

    can_debug = False

    def __init__(self, spec: AgentSpec):
        self.spec = spec

    def propose_sync(self, request: ProposalRequest) -> Proposal:
        constants = tunable_constants(request)
        if not constants:
            raise ProposalFailed(
                "mutator: no module-level constants to perturb in the editable files"
            )
        rng = random.Random(f"{request.seed}:{request.parent_id}:{len(request.tried_descriptions)}")
        tried = set(request.tried_descriptions)
        for _ in range(MAX_TRIES):
            k = 1 if len(constants) == 1 or rng.random() < 0.7 else 2
            picked = rng.sample(constants, k)
            proposed = [(c, mutate_value(c, rng)) for c in picked]
            changes = [(c, new) for c, new in proposed if new is not None and new != c.value]
            if not changes:
                continue
            description = describe(changes)
            if description in tried:
                continue
            files = apply_changes(request.parent_files, changes)
            if not files:
                continue
            return Proposal(
                description=description,
                files=files,
                rationale="Offline mutator: a random perturbation of module-level constants.",
                model="",
            )
        raise ProposalFailed(
            f"mutator: every change it can make from {request.parent_id} was tried"
        )

    async def propose(self, request: ProposalRequest) -> Proposal:
        return self.propose_sync(request)
