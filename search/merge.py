"""Merge nodes: stack the gains of two improving branches that changed different things.

Karpathy's ~20 real gains were additive. When the tree's best node and another
improving node sit on different branches, their editable files are merged three ways
against the common ancestor commit (`git merge-base`). The merge is line based, like
`git merge-file`, except that changes on *adjacent* but not overlapping lines are both
kept: module-level constants of a train.py sit on consecutive lines, and two branches
that each tuned one of them do not conflict. Changes to the same lines (or insertions
at the same place) that differ are a conflict, which a model-backed persona may resolve
(search/merging.py makes the merge node). The merge node has two parents: the best
node first (its lineage), the other branch in `other_parents`; its commit is a real git
merge commit, so `git log` and `format-patch` see both lineages. See
docs/ARCHITECTURE.md §4.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import networkx as nx

from autoresearch_tui.search.model import ROOT_ID
from autoresearch_tui.search.tree import Tree

Change = tuple[int, int, tuple[str, ...]]  # base lines [start, end) replaced by these lines


def _changes(base: list[str], other: list[str]) -> list[Change]:
    matcher = difflib.SequenceMatcher(None, base, other, autojunk=False)
    return [
        (i1, i2, tuple(other[j1:j2]))
        for tag, i1, i2, j1, j2 in matcher.get_opcodes()
        if tag != "equal"
    ]


def _conflict(a: Change, b: Change) -> bool:
    if a == b:
        return False  # the same change on both sides
    (a1, a2, _), (b1, b2, _) = a, b
    if a1 == a2 and b1 == b2:
        return a1 == b1  # two insertions at the same place
    if a1 == a2:
        return b1 < a1 < b2
    if b1 == b2:
        return a1 < b1 < a2
    return max(a1, b1) < min(a2, b2)


def merge3(base: str, ours: str, theirs: str) -> str | None:
    """Three-way merge of one text; None on a conflict."""
    if ours == theirs or theirs == base:
        return ours
    if ours == base:
        return theirs
    b = base.splitlines(keepends=True)
    ours_ch = _changes(b, ours.splitlines(keepends=True))
    theirs_ch = _changes(b, theirs.splitlines(keepends=True))
    for x in ours_ch:
        for y in theirs_ch:
            if _conflict(x, y):
                return None
    merged = sorted(set(ours_ch) | set(theirs_ch), key=lambda c: (c[0], c[1] != c[0]))
    out: list[str] = []
    pos = 0
    for start, end, lines in merged:
        out += b[pos:start]
        out += lines
        pos = max(pos, end)
    out += b[pos:]
    return "".join(out)


def merge_files(
    base: dict[str, str], ours: dict[str, str], theirs: dict[str, str]
) -> tuple[dict[str, str] | None, list[str]]:
    """Merge every file; return (the files that differ from `ours`, or None on a
    conflict; the paths that conflicted)."""
    changed: dict[str, str] = {}
    conflicts = []
    for path in sorted(set(ours) | set(theirs)):
        merged = merge3(base.get(path, ""), ours.get(path, ""), theirs.get(path, ""))
        if merged is None:
            conflicts.append(path)
        elif merged != ours.get(path, ""):
            changed[path] = merged
    return (None if conflicts else changed), conflicts


@dataclass(frozen=True)
class MergePlan:
    ours: str  # the first parent: the current best
    theirs: str  # the other improving branch


def improving(tree: Tree, node_id: str, spread: float | None) -> bool:
    """A node whose mean beats its reference by more than the noise spread (one run is
    enough: the merge node is tested by running it), and not a seed-only edit."""
    node = tree[node_id]
    if node.kind in ("root", "rerun") or node.seed_only or not node.has_metric:
        return False
    gain = tree.gain(node_id)
    return gain is not None and gain > (spread or 0.0)


def merge_candidate(tree: Tree, tried: set[frozenset[str]]) -> MergePlan | None:
    """The best node and the improving node on another branch with the largest gain
    whose pair was not tried yet; None when there is none."""
    best = tree.best()
    if best is None or best.id == ROOT_ID or not best.commit:
        return None
    spread = tree.noise_spread()
    related = nx.ancestors(tree.graph, best.id) | nx.descendants(tree.graph, best.id)
    candidates = [
        n
        for n in tree.measured()
        if n.id != best.id
        and n.id not in related
        and n.commit
        and n.commit != best.commit
        and frozenset((best.id, n.id)) not in tried
        and not tree.is_pruned(n.id)
        and improving(tree, n.id, spread)
    ]
    if not candidates:
        return None
    other = max(candidates, key=lambda n: (tree.gain(n.id), -int(n.id[1:])))
    return MergePlan(best.id, other.id)


def tried_pairs(tree: Tree) -> set[frozenset[str]]:
    """Pairs the tree already holds a merge node for."""
    return {
        frozenset((n.parent, other))
        for n in tree
        if n.kind == "merge" and n.parent
        for other in n.other_parents
    }
