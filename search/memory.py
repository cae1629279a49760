"""Research memory: what the whole tree has learned, as the `Memory` every prompt shows.

Every measured experiment (done, crashed, timeout, invalid; a re-run and the base's
calibration runs are samples of their node, never experiments of their own) with its
persona, its change as a path of short descriptions and its changed constants, its mean
over its runs and how many, its delta vs its reference (the parent's mean) and a
verdict against the run-to-run spread; a table of every value tried for every constant;
the confirmed best and an unconfirmed better mean; the proposals in flight. The numbers
are search/values.py's (value, Δ, verdict: the one definition every surface shows),
never recomputed differently here.
Past MAX_LISTED experiments the list keeps the base, the confirmed, the best, the most
recent and one example per kind of crash; the table always covers every experiment.
The tree-wide part is the same for every parent (providers cache the prompt's stable
prefix); the parent's lineage and children come separately. agents/memory_prompt.py
renders it. See docs/ARCHITECTURE.md §4 and §5.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from autoresearch_tui.agents.request import ConstantTrial, InFlight, Memory, NodeResult
from autoresearch_tui.search.commit_facts import FactsCache
from autoresearch_tui.search.constants import ConstantChange, constant_changes, short_value, unsaid
from autoresearch_tui.search.model import FINISHED, Node, improvement, node_index
from autoresearch_tui.search.tree import Tree
from autoresearch_tui.search.values import BASE, CONFIRMED, node_value

MAX_LISTED = 150  # experiments listed one by one; past it the list is compressed
KEEP_BEST, KEEP_RECENT, KEEP_CRASHES = 40, 60, 20  # what a compressed list keeps
PATH_STEPS = 2  # ancestors' descriptions shown before a node's own
OWN_CHARS, STEP_CHARS = 70, 28  # a description's length in a path: its own, an ancestor's
IN_FLIGHT = ("proposing", "ready", "running")


def shorten(text: str, limit: int) -> str:
    line = " ".join(text.strip().splitlines()[0].split()) if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def verdict(tree: Tree, node: Node, spread: float | None) -> str:
    """What a node's result means given the noise (search/values.py: never "better" or
    "worse" for a difference within the spread); without a value, its status and why."""
    if not node.has_metric:
        return f"{node.status}: {shorten(node.reason, 120) or 'no metric'}"
    return node_value(tree, node.id, spread).verdict


@dataclass
class _Builder:
    tree: Tree
    facts: FactsCache
    spread: float | None
    cache: dict[str, NodeResult] = field(default_factory=dict)

    def path(self, node: Node) -> tuple[str, ...]:
        steps: list[str] = []
        current = node.parent
        while current is not None and current in self.tree and len(steps) <= PATH_STEPS:
            ancestor = self.tree[current]
            if ancestor.parent is None:
                break
            steps.append(shorten(ancestor.description, STEP_CHARS))
            current = ancestor.parent
        if len(steps) > PATH_STEPS:
            steps[PATH_STEPS:] = ["…"]
        own = shorten(node.description, OWN_CHARS) if node.parent else "the base"
        return (*reversed(steps), own)

    def changes(self, node: Node) -> list[ConstantChange]:
        """Its constants that differ from its (first) parent's; [] when unknown."""
        if node.parent is None or node.parent not in self.tree:
            return []
        mine, theirs = self.facts.constants(node), self.facts.constants(self.tree[node.parent])
        return constant_changes(theirs, mine) if mine is not None and theirs is not None else []

    def constants(self, node: Node) -> tuple[str, ...]:
        """Its changed constants that its description does not already state."""
        return tuple(c.text() for c in unsaid(node.description, self.changes(node)))

    def result(self, node: Node) -> NodeResult:
        if node.id in self.cache:
            return self.cache[node.id]
        value = node_value(self.tree, node.id, self.spread)
        result = NodeResult(
            node_id=node.id,
            persona=node.persona if node.parent else "base",
            parent_id=node.parent or "",
            path=self.path(node),
            constants=self.constants(node),
            status=node.status,
            mean=value.value,
            runs=value.runs if node.has_metric else 1,
            delta=value.delta,
            verdict=verdict(self.tree, node, self.spread),
            pruned=node.pruned,
            better=value.better,
            reference=value.reference or "",
        )
        self.cache[node.id] = result
        return result


def constant_table(
    made_by: list[tuple[NodeResult, list[ConstantChange]]], goal: str, spread: float | None
) -> tuple[ConstantTrial, ...]:
    """Every value tried for every constant: the mean delta vs the parent of the
    experiments that made that move, their runs, and a mark against the spread.

    An experiment that moved several constants at once says nothing about one of them
    alone: the mean is over the experiments that made this move alone when there are
    any; a move only ever made together with others keeps their joint delta, marked
    JOINT (never ✓ or ✗)."""
    moves: dict[tuple[str, str, str], list[tuple[NodeResult, bool]]] = {}
    for result, changes in made_by:
        for change in changes:
            key = (change.name, short_value(change.old), short_value(change.new))
            moves.setdefault(key, []).append((result, len(changes) > 1))
    trials = []
    for (name, old, new), made in moves.items():
        alone = [r for r, joint in made if not joint]
        counted = alone or [r for r, _ in made]
        deltas = [r.delta for r in counted if r.delta is not None and r.mean is not None]
        runs = sum(r.runs for r in counted if r.mean is not None)
        mean_delta = sum(deltas) / len(deltas) if deltas else None
        crashed = sum(1 for r, _ in made if r.mean is None)
        trial = mark(mean_delta, runs, goal, spread)
        if not alone and mean_delta is not None:
            trial = JOINT
        trials.append(ConstantTrial(name, old, new, len(made), runs, mean_delta, crashed, trial))
    return tuple(sorted(trials, key=lambda t: t.name))  # stable: first tries first


JOINT = "joint"  # the table's mark of a move only ever made together with other constants


def mark(delta: float | None, runs: int, goal: str, spread: float | None) -> str:
    """✓ better beyond the spread over two or more runs, ✓? over one, ≈ within the
    spread, ✗ worse beyond it; `crashed` when nothing was measured."""
    if delta is None:
        return "crashed"
    gain = improvement(delta, 0.0, goal)
    limit = spread if spread is not None else 0.0
    unknown = "" if spread is not None else "?"
    if abs(gain) <= limit:
        return "≈"
    if gain < 0:
        return "✗" + unknown
    return "✓" if runs >= 2 and not unknown else "✓?"


def _crash_kind(result: NodeResult) -> str:
    return re.sub(r"\d+", "#", result.verdict)[:60]


def compress(results: list[NodeResult], tree: Tree, goal: str) -> list[NodeResult]:
    """Past MAX_LISTED: the base, the confirmed, the best means, the most recent, and
    one example of each kind of crash; in node id order."""
    if len(results) <= MAX_LISTED:
        return results
    sign = 1.0 if goal == "min" else -1.0
    measured = [r for r in results if r.mean is not None]
    keep = {r.node_id for r in results if r.verdict in (BASE, CONFIRMED)}
    keep |= {r.node_id for r in sorted(measured, key=lambda r: sign * (r.mean or 0.0))[:KEEP_BEST]}
    keep |= {r.node_id for r in results[-KEEP_RECENT:]}
    kinds: dict[str, str] = {}
    for r in results:
        if r.mean is None and len(kinds) < KEEP_CRASHES:
            kinds.setdefault(_crash_kind(r), r.node_id)
    keep |= set(kinds.values())
    return [r for r in results if r.node_id in keep]


def spread_runs(tree: Tree) -> tuple[int, int]:
    groups = tree.noise_groups()
    return sum(len(g) for g in groups), len(groups)


def measured_experiments(tree: Tree) -> list[Node]:
    """The experiments that ran, by id: re-runs and calibration runs are samples of their
    node, not experiments (what the results section lists and the lessons note counts)."""
    return sorted(
        (n for n in tree if n.kind != "rerun" and n.status in FINISHED),
        key=lambda n: node_index(n.id),
    )


def build_memory(tree: Tree, facts: FactsCache, parent_id: str, exclude: str = "") -> Memory:
    """What the tree knows, for a proposal of a child of `parent_id` (`exclude`: the
    proposal itself, left out of the proposals in flight)."""
    spread = tree.noise_spread()
    builder = _Builder(tree, facts, spread)
    experiments = measured_experiments(tree)
    results = [builder.result(n) for n in experiments]
    best, leader = tree.best(confirmed=True), tree.best()
    runs, commits = spread_runs(tree)
    parent = tree[parent_id]
    in_flight = [
        InFlight(n.id, n.persona, n.parent or "", n.status, n.description, builder.constants(n))
        for n in sorted(tree, key=lambda n: node_index(n.id))
        if n.status in IN_FLIGHT and n.kind != "rerun" and n.id != exclude
    ]
    return Memory(
        spread=spread,
        spread_runs=runs,
        spread_commits=commits,
        best=builder.result(best) if best is not None else None,
        best_unconfirmed=(
            builder.result(leader) if leader is not None and leader is not best else None
        ),
        results=tuple(compress(results, tree, tree.goal)),
        measured=len(results),
        constants=constant_table(
            [(r, builder.changes(n)) for r, n in zip(results, experiments, strict=True)],
            tree.goal,
            spread,
        ),
        lineage=tuple(builder.result(n) for n in tree.lineage(parent.id)),
        children=tuple(
            builder.result(c) for c in tree.experiments(parent.id) if c.status in FINISHED
        ),
        in_flight=tuple(in_flight),
    )
