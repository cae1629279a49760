"""Noise control: run-to-run spread, confirmed gains, and seed-only edits.

A node's metric is one sample of a noisy run. Re-runs (`kind="rerun"` children, another
AR_SEED) add samples; the base is run `[search] base_runs` times at the start. The
spread is two pooled standard deviations of one run (over every commit that has two or
more samples), so a pure-noise difference of two means rarely exceeds it. A gain is
*confirmed* when the node has been re-run and its mean beats its parent's mean by more
than the spread. An edit that changes only a seed (a constant or call argument
named like `seed`) is never a gain: whatever it "finds" is noise. The re-runs themselves
are search/confirming.py's; see docs/ARCHITECTURE.md §4.
"""

from __future__ import annotations

import ast
import difflib
import math
import re
import statistics
from collections.abc import Iterable

import autoresearch_tui.agents.pyast as pyast

SPREAD_SDS = 2.0  # the spread, in standard deviations of one run
SEED_NAME = re.compile(r"seed", re.IGNORECASE)
SEED_LINE = re.compile(r"^\s*[\w.]*seed\w*\s*[:=]", re.IGNORECASE)


def pooled_std(groups: Iterable[list[float]]) -> float | None:
    """The pooled sample standard deviation of groups of repeated measurements.

    Groups with fewer than two samples carry no information on spread; None when no
    group has two."""
    ss, dof = 0.0, 0
    for samples in groups:
        if len(samples) < 2:
            continue
        mean = statistics.fmean(samples)
        ss += sum((x - mean) ** 2 for x in samples)
        dof += len(samples) - 1
    if dof == 0:
        return None
    return math.sqrt(ss / dof)


class _BlankSeeds(ast.NodeTransformer):
    """Replace every value that only feeds a seed with a constant placeholder."""

    @staticmethod
    def _named_seed(node: ast.AST) -> bool:
        if isinstance(node, ast.Name):
            return bool(SEED_NAME.search(node.id))
        if isinstance(node, ast.Attribute):
            return bool(SEED_NAME.search(node.attr))
        return False

    def visit_Assign(self, node: ast.Assign) -> ast.AST:
        if any(self._named_seed(t) for t in node.targets):
            node.value = ast.Constant("<seed>")
        return self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        if self._named_seed(node.target) and node.value is not None:
            node.value = ast.Constant("<seed>")
        return self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        if self._named_seed(node.func):
            node.args = [ast.Constant("<seed>") for _ in node.args]
        for kw in node.keywords:
            if kw.arg and SEED_NAME.search(kw.arg):
                kw.value = ast.Constant("<seed>")
        return self.generic_visit(node)


def _seed_blind(source: str) -> str | None:
    try:
        tree = pyast.parse(source)
    except SyntaxError:
        return None
    return ast.dump(_BlankSeeds().visit(tree))


def seed_only_change(old: dict[str, str], new: dict[str, str]) -> bool:
    """True when `new` differs from `old` only in seeds (and comments or layout). `new`
    may hold only the files that changed (a proposal's or a merge's files).

    Python files are compared as syntax trees with every seed value blanked (assignments
    to a name like `SEED`, arguments of calls like `torch.manual_seed`, `seed=` keywords);
    other files line by line, where each changed line must assign something named seed.
    An edit that changes nothing is not seed-only."""
    changed = [p for p in new if new[p] != old.get(p)]
    if not changed:
        return False
    touched_seed = False
    for path in changed:
        before, after = old.get(path, ""), new[path]
        if path.endswith(".py"):
            a, b = _seed_blind(before), _seed_blind(after)
            if a is None or b is None or a != b:
                return False
            touched_seed = touched_seed or _differs_in_seed_lines(before, after)
        else:
            if not _differs_in_seed_lines(before, after, strict=True):
                return False
            touched_seed = True
    return touched_seed


def _differs_in_seed_lines(before: str, after: str, *, strict: bool = False) -> bool:
    """Some changed line mentions a seed; with strict, every changed line assigns one."""
    lines = [
        line[1:]
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    lines = [line for line in lines if line.strip()]
    if not lines:
        return False
    if strict:
        return all(SEED_LINE.match(line) for line in lines)
    return any(SEED_NAME.search(line) for line in lines)
