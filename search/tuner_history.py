"""The tuner persona's history: the tree's trials that share the parent's skeleton.

A trial is a node whose editable files equal the parent's apart from constant values
(search/skeleton.py; the skeleton is read once per commit with its other facts,
search/commit_facts.py): its constants' values, its mean over its runs (re-runs and the
base's calibration runs folded in, as `Tree.metric_mean` has it), or a failure (crashed,
timed out), or stopped early (search/early_stopping.py: no value, but its partial loss
curve, read from state.db by `add_curves` and thinned to a few dozen points, which the
tuner tells Optuna as a pruned trial), or in flight (accepted, not measured yet). Invalid
runs (a readonly file changed) and re-run nodes are no trials of their own. While the
parent's skeleton has fewer than SEED_TRIALS measured trials (an LLM persona just changed
the code), the nearest ancestor skeleton's finished trials come first, as the new study's
prior.
`belief` sums the history up for the LLM personas' prompts (agents/memory_prompt.py).
See docs/ARCHITECTURE.md §5.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

import autoresearch_tui.agents.pyast as pyast
from autoresearch_tui.agents.request import ConstantBelief, ProposalRequest, Trial, TunerHistory
from autoresearch_tui.search.commit_facts import FactsCache
from autoresearch_tui.search.early_stop import loss_at, progress_points
from autoresearch_tui.search.early_stopping import comparable_parent
from autoresearch_tui.search.model import BROKEN, Node, node_index
from autoresearch_tui.search.tree import Tree

if TYPE_CHECKING:  # the engine's context, for `add_curves`
    from autoresearch_tui.search.context import RunContext

SEED_TRIALS = 3  # measured trials of its own before a skeleton stands alone
BELIEF_CONSTANTS = 12  # constants shown in the belief, at most
IN_FLIGHT = ("ready", "running")
CURVE_STEP = 4  # a stopped trial's curve: its smoothed loss every 4% of progress (25 at most)


def _trial(tree: Tree, node: Node, values: dict[str, str]) -> Trial | None:
    if node.has_metric:
        mean = tree.metric_mean(node.id)
        return Trial(node.id, values, mean, len(tree.samples(node.id)), node.status)
    if node.status in BROKEN or node.status in IN_FLIGHT or node.status == "stopped":
        return Trial(node.id, values, None, 0, node.status)  # a stopped one's curve: add_curves
    return None  # invalid, failed, proposing: nothing a study can learn


def _trials(tree: Tree, facts: FactsCache, skeleton: str, finished_only: bool) -> list[Trial]:
    found = []
    for node in sorted(tree, key=lambda n: node_index(n.id)):
        known = facts.by_commit.get(node.commit) if node.commit else None
        if node.kind == "rerun" or known is None or known.skeleton != skeleton:
            continue
        trial = _trial(tree, node, known.constants)
        if trial is not None and not (finished_only and trial.status in IN_FLIGHT):
            found.append(trial)
    return found


def _seed_skeleton(tree: Tree, facts: FactsCache, parent_id: str, own: str) -> tuple[str, str]:
    """(node id, skeleton) of the nearest ancestor whose skeleton is not `own`."""
    for node in reversed(tree.lineage(parent_id)):
        known = facts.by_commit.get(node.commit) if node.commit else None
        if known is not None and known.skeleton and known.skeleton != own:
            return node.id, known.skeleton
    return "", ""


def tuner_history(tree: Tree, facts: FactsCache, parent_id: str) -> TunerHistory | None:
    """The history a tuner proposing a child of `parent_id` learns from; None while the
    parent's facts are not read yet."""
    parent = tree[parent_id]
    known = facts.by_commit.get(parent.commit) if parent.commit else None
    if known is None or not known.skeleton:
        return None
    trials = _trials(tree, facts, known.skeleton, finished_only=False)
    seeded_from = ""
    if sum(1 for t in trials if t.mean is not None) < SEED_TRIALS:
        seeded_from, other = _seed_skeleton(tree, facts, parent_id, known.skeleton)
        if other:
            trials = _trials(tree, facts, other, finished_only=True) + trials
    measured = [t for t in trials if t.mean is not None]
    return TunerHistory(
        tuple(trials), seeded_from, belief(measured, tree.goal), measured=len(measured)
    )


def stopped_curve(
    rows: Sequence[tuple[int, float, float, float]], budget_s: float | None
) -> tuple[tuple[int, float], ...]:
    """A stopped run's curve as the tuner is told it, from its stored points rows: its
    smoothed loss (`early_stop.loss_at`, what the rule judged) every CURVE_STEP percent of
    progress and where it was stopped. Percent of progress, not the run's own step
    numbers: Optuna ranks pruned trials by the last step they reached first, and progress
    is the scale every run shares (a change of batch size changes the step count)."""
    curve = progress_points(rows, budget_s)
    if not curve:
        return ()
    reached = int(max(p for p, _ in curve) * 100)
    out = []
    for step in sorted({*range(CURVE_STEP, reached + 1, CURVE_STEP), reached}):
        loss = loss_at(curve, step / 100)
        if step > 0 and loss is not None:
            out.append((step, loss))
    return tuple(out)


Curve = tuple[tuple[int, float], ...]


async def add_curves(ctx: RunContext, request: ProposalRequest, known: dict[str, Curve]) -> None:
    """Give the request's stopped trials their curves, read from state.db on the store
    thread once per node (a stopped run's points never change; `known` keeps them); the
    progress of a run that printed no (p%) is its elapsed time over its parent's run
    time, as the rule read it (search/early_stopping.py)."""
    history = request.tuner
    ids = [t.node_id for t in history.trials if t.status == "stopped"] if history else []
    if history is None or not ids:
        return
    new = [i for i in ids if i not in known]
    rows = await ctx.threads.db(lambda: {i: ctx.store.point_rows(i) for i in new})
    tree = ctx.tree

    def budget(node_id: str) -> float | None:
        parent = comparable_parent(tree, tree[node_id]) if node_id in tree else None
        return parent.run_seconds if parent is not None else None

    known.update((i, stopped_curve(r, budget(i))) for i, r in rows.items())
    trials = tuple(
        dataclasses.replace(t, curve=known[t.node_id])
        if t.node_id in known and t.status == "stopped"
        else t
        for t in history.trials
    )
    request.tuner = dataclasses.replace(history, trials=trials)


def _order(text: str) -> tuple[int, float, str]:
    """Numbers by value, then other values by their text."""
    try:
        value = pyast.literal(text)
    except (ValueError, SyntaxError):
        return 1, 0.0, text
    if isinstance(value, int | float) and not isinstance(value, bool):
        return 0, float(value), text
    return 1, 0.0, text


def belief(measured: list[Trial], goal: str) -> tuple[ConstantBelief, ...]:
    """Per constant that the history varied: the best trial's value and the range over
    the best trials (the top quarter, at least three)."""
    if len(measured) < 2:
        return ()
    sign = 1.0 if goal == "min" else -1.0
    ranked = sorted(measured, key=lambda t: sign * (t.mean or 0.0))
    top = ranked[: max(3, len(ranked) // 4)]
    best = ranked[0].values
    out = []
    for name, value in best.items():
        if "seed" in name.lower() or len({t.values.get(name) for t in measured}) < 2:
            continue
        seen = sorted({t.values[name] for t in top if name in t.values}, key=_order)
        out.append(ConstantBelief(name, value, seen[0], seen[-1]))
    return tuple(out[:BELIEF_CONSTANTS])
