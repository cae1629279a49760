"""`best-first` (default): expand the node with the highest weight

    weight = sigmoid(lam * (best - metric) / scale) / (1 + children) * boost

(signs flipped for goal = "max"), over every measured, unpruned node with code of its own
(no re-run, no seed-only edit: `ranking` in policies/base.py), where `metric` is the
node's mean over its runs and `best` the best mean. `scale` is the run-to-run noise
(one standard deviation, from noise control's repeated runs), so a node within the noise
of the best is nearly as likely to be expanded as the best, and one several noise widths
worse almost never; before any commit ran twice, or on a noiseless target, `scale` is the
MAD of the measured values. The rule is invariant to the metric's units. The best node
weighs 0.5; after k children it has 0.5 / (1 + k), so a stalled best hands over to the
near-best nodes. Children in flight count, so parallel proposals spread out. A boosted
node (boost > 1) weighs at least what the best would, times its boost: the user's boost
always has teeth. A crashed node may get one debug child, weighted at half its parent's
value (before the parent's children penalty, so a busy parent does not starve its fixes).

Tuned on the search benchmark's landscapes (app/bench/search.py): against the ratchet,
this rule (lam = 2, the best as reference, the noise as scale) ended lower than the
earlier rule (the median as reference, the MAD as scale), which spread its experiments
over too many nodes for a budget of ~60.
"""

from __future__ import annotations

import math

from autoresearch_tui.search.noise import SPREAD_SDS
from autoresearch_tui.search.policies.base import (
    Ranking,
    debuggable,
    ranking,
    register,
    speculative_root_weight,
    unpruned,
)
from autoresearch_tui.search.tree import Tree


@register
class BestFirst:
    name = "best-first"
    sequential = False

    def __init__(self, lam: float = 2.0):
        self.lam = lam

    def weights(
        self, tree: Tree, *, can_debug: bool = False, max_debug_depth: int = 3
    ) -> dict[str, float]:
        ranked = ranking(tree)
        if ranked is None:
            weights = speculative_root_weight(tree)
            values_of: dict[str, float] = {}
        else:
            weights, values_of = self._ranked_weights(tree, ranked)
        if can_debug:
            for node in unpruned(tree):
                if not debuggable(tree, node, max_debug_depth):
                    continue
                # A debug chain inherits the value of its nearest measured ancestor.
                ancestor = next(
                    (a.id for a in reversed(tree.lineage(node.id)[:-1]) if a.id in values_of), None
                )
                if ancestor is not None:
                    weights[node.id] = 0.5 * values_of[ancestor] * node.boost
        return weights

    def _ranked_weights(
        self, tree: Tree, ranked: Ranking
    ) -> tuple[dict[str, float], dict[str, float]]:
        """(weights, sigmoid values before the children penalty) of the ranked nodes."""
        best = ranked.best_mean()
        spread = tree.noise_spread()
        scale = spread / SPREAD_SDS if spread else ranked.scale  # one SD of one run
        weights: dict[str, float] = {}
        values_of: dict[str, float] = {}
        for node in ranked.nodes:
            z = ranked.sign * (best - ranked.means[node.id]) / scale
            value = 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, self.lam * z))))
            if node.boost > 1:
                value = max(value, 0.5)  # a boosted node counts as promising as the best
            values_of[node.id] = value
            weights[node.id] = value / (1 + len(tree.experiments(node.id))) * node.boost
        return weights, values_of

    def choose(
        self, tree: Tree, *, can_debug: bool = False, max_debug_depth: int = 3
    ) -> str | None:
        weights = self.weights(tree, can_debug=can_debug, max_debug_depth=max_debug_depth)
        positive = {k: w for k, w in weights.items() if w > 0}
        if not positive:
            return None
        # Highest weight; ties go to the older node.
        return max(positive, key=lambda k: (positive[k], -int(k[1:])))
