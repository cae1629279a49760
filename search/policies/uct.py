"""`uct`: upper confidence bounds over the nodes to expand.

Expanding a node is an arm; its reward is the normalised value of what it yields:

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
import statistics

from autoresearch_tui.search.model import FINISHED
from autoresearch_tui.search.policies.base import debuggable, register, speculative_root, unpruned
from autoresearch_tui.search.policies.best_first import robust_scale
from autoresearch_tui.search.tree import Tree


def normalised_values(tree: Tree, means: dict[str, float]) -> dict[str, float]:
    """Node id -> value in [0, 1]: 1 for the best mean, 0 at the (clipped) worst."""
    if not means:
        return {}
    sign = 1.0 if tree.goal == "min" else -1.0
    costs = {k: sign * m for k, m in means.items()}  # lower is better
    lo = min(costs.values())
    median = statistics.median(costs.values())
    hi = min(max(costs.values()), median + 3 * robust_scale(list(costs.values()), median))
    if hi <= lo:
        return {k: 0.5 for k in costs}
    return {k: min(1.0, max(0.0, (hi - c) / (hi - lo))) for k, c in costs.items()}


@register("uct")
class UCT:
    name = "uct"
    sequential = False

    def __init__(self, c: float = 0.5):
        self.c = c

    def scores(
        self, tree: Tree, *, can_debug: bool = False, max_debug_depth: int = 3
    ) -> dict[str, float]:
        nodes = unpruned(tree)
        measured = [n for n in nodes if n.has_metric and n.kind != "rerun"]
        means = {n.id: tree.ranking_mean(n.id) for n in measured}
        values = normalised_values(tree, means)  # type: ignore[arg-type]
        scores: dict[str, float] = {}
        if values:
            visits = {n.id: len(tree.experiments(n.id)) for n in measured}
            total = sum(visits.values())
            for node in measured:
                outcomes = [
                    values.get(c.id, 0.0) for c in tree.experiments(node.id) if c.status in FINISHED
                ]
                q = (values[node.id] + sum(outcomes)) / (1 + len(outcomes))
                bonus = self.c * math.sqrt(math.log(1 + total) / (1 + visits[node.id]))
                scores[node.id] = (q + bonus) * node.boost
        elif speculative_root(tree):
            root = tree.root
            scores[root.id] = 0.5 / (1 + len(tree.experiments(root.id))) * root.boost  # type: ignore[union-attr]
        if can_debug:
            for node in nodes:
                if debuggable(tree, node, max_debug_depth) and node.parent in scores:
                    scores[node.id] = 0.5 * scores[node.parent] * node.boost
        return scores

    def choose(
        self, tree: Tree, *, can_debug: bool = False, max_debug_depth: int = 3
    ) -> str | None:
        scores = self.scores(tree, can_debug=can_debug, max_debug_depth=max_debug_depth)
        positive = {k: s for k, s in scores.items() if s > 0}
        if not positive:
            return None
        return max(positive, key=lambda k: (positive[k], -int(k[1:])))
