"""`uct`: upper confidence bounds over the nodes to expand.

Expanding a node is an arm; its reward is the normalised value of what it yields. The
arms are policies/base.py's `ranking`: measured, unpruned nodes with code of their own (a
seed-only edit is its parent's code with other luck: never an arm, and as a child it
yields its parent's value).

    v(m)  = (hi - mean(m)) / (hi - best), clipped to [0, 1]   (goal "min"; flipped for "max")
    Q(n)  = (v(n) + sum of v(c) over its finished children) / (1 + finished children)
    U(n)  = Q(n) + c * sqrt(ln(1 + N) / (1 + k(n)))            times the user's boost

`best` is the best mean in the tree and `hi` the worst, clipped at median + 3 robust
spreads so one disastrous run does not squash every other value. A crashed, timed-out or
invalid child counts as value 0; children in flight count as visits (k) but not yet in
Q, so parallel proposals spread out. N is the number of children over all nodes and `c`
is `[search] uct_c`. A crashed node may get one debug child at half its parent's score.
"""

from __future__ import annotations

import math

from autoresearch_tui.search.model import FINISHED
from autoresearch_tui.search.policies.base import (
    Ranking,
    debuggable,
    ranking,
    register,
    speculative_root_weight,
    unpruned,
)
from autoresearch_tui.search.tree import Tree


def normalised_values(ranked: Ranking) -> dict[str, float]:
    """Node id -> value in [0, 1]: 1 for the best mean, 0 at the (clipped) worst."""
    sign = ranked.sign
    costs = [sign * ranked.means[n.id] for n in ranked.nodes]  # lower is better
    lo = min(costs)
    hi = min(max(costs), sign * ranked.median + 3 * ranked.scale)
    if hi <= lo:
        return {k: 0.5 for k in ranked.means}
    return {k: min(1.0, max(0.0, (hi - sign * m) / (hi - lo))) for k, m in ranked.means.items()}


@register
class UCT:
    name = "uct"
    sequential = False

    def __init__(self, c: float = 0.5):
        self.c = c

    def scores(
        self, tree: Tree, *, can_debug: bool = False, max_debug_depth: int = 3
    ) -> dict[str, float]:
        ranked = ranking(tree)
        scores = speculative_root_weight(tree) if ranked is None else self._ucb(tree, ranked)
        if can_debug:
            for node in unpruned(tree):
                if debuggable(tree, node, max_debug_depth) and node.parent in scores:
                    scores[node.id] = 0.5 * scores[node.parent] * node.boost
        return scores

    def _ucb(self, tree: Tree, ranked: Ranking) -> dict[str, float]:
        """U(n) of every ranked node (the module docstring's formula)."""
        values = normalised_values(ranked)
        visits = {n.id: len(tree.experiments(n.id)) for n in ranked.nodes}
        total = sum(visits.values())
        scores: dict[str, float] = {}
        for node in ranked.nodes:
            outcomes = [
                values.get(c.id, 0.0) for c in tree.experiments(node.id) if c.status in FINISHED
            ]
            q = (values[node.id] + sum(outcomes)) / (1 + len(outcomes))
            bonus = self.c * math.sqrt(math.log(1 + total) / (1 + visits[node.id]))
            scores[node.id] = (q + bonus) * node.boost
        return scores

    def choose(
        self, tree: Tree, *, can_debug: bool = False, max_debug_depth: int = 3
    ) -> str | None:
        scores = self.scores(tree, can_debug=can_debug, max_debug_depth=max_debug_depth)
        positive = {k: s for k, s in scores.items() if s > 0}
        if not positive:
            return None
        return max(positive, key=lambda k: (positive[k], -int(k[1:])))
