"""`best-first` (default): expand the node with the highest weight

    weight = sigmoid(lam * (best - metric) / scale) / (1 + children) * boost

(signs flipped for goal = "max"), over every measured, unpruned node, where `metric` is
the node's mean over its runs and `best` the best mean. `scale` is the run-to-run noise
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
import statistics

from autoresearch_tui.search.noise import SPREAD_SDS
from autoresearch_tui.search.policies.base import debuggable, register, speculative_root, unpruned
from autoresearch_tui.search.tree import Tree


def robust_scale(values: list[float], median: float) -> float:
    mad = statistics.median(abs(v - median) for v in values) * 1.4826
    return mad if mad > 0 else max(abs(median) * 0.01, 1e-12)


@register("best-first")
class BestFirst:
    name = "best-first"
    sequential = False

    def __init__(self, lam: float = 2.0):
        self.lam = lam

    def weights(
        self, tree: Tree, *, can_debug: bool = False, max_debug_depth: int = 3
    ) -> dict[str, float]:
        nodes = unpruned(tree)
        # A seed-only edit is its parent's code with other luck: expanding it would only
        # split the parent's children (and what they tried) across clones.
        measured = [n for n in nodes if n.has_metric and n.kind != "rerun" and not n.seed_only]
        means = {n.id: tree.ranking_mean(n.id) for n in measured}  # re-runs fold in
        values = list(means.values())
        weights: dict[str, float] = {}
        values_of: dict[str, float] = {}  # sigmoid value before the children penalty
        if values:
            sign = 1.0 if tree.goal == "min" else -1.0
            best = min(values, key=lambda v: sign * v)  # type: ignore[operator]
            spread = tree.noise_spread()
            if spread:
                scale = spread / SPREAD_SDS  # one standard deviation of one run
            else:
                scale = robust_scale(values, statistics.median(values))  # type: ignore[arg-type]
            for node in measured:
                z = sign * (best - means[node.id]) / scale  # type: ignore[operator]
                value = 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, self.lam * z))))
                if node.boost > 1:
                    value = max(value, 0.5)  # a boosted node counts as promising as the best
                values_of[node.id] = value
                weights[node.id] = value / (1 + len(tree.experiments(node.id))) * node.boost
        elif speculative_root(tree):
            root = tree.root
            weights[root.id] = 0.5 / (1 + len(tree.experiments(root.id))) * root.boost  # type: ignore[union-attr]
        if can_debug:
            for node in nodes:
                if not debuggable(tree, node, max_debug_depth):
                    continue
                # A debug chain inherits the value of its nearest measured ancestor.
                ancestor = next(
                    (a.id for a in reversed(tree.lineage(node.id)[:-1]) if a.id in values_of), None
                )
                if ancestor is not None:
                    weights[node.id] = 0.5 * values_of[ancestor] * node.boost
        return weights

    def choose(
        self, tree: Tree, *, can_debug: bool = False, max_debug_depth: int = 3
    ) -> str | None:
        weights = self.weights(tree, can_debug=can_debug, max_debug_depth=max_debug_depth)
        positive = {k: w for k, w in weights.items() if w > 0}
        if not positive:
            return None
        # Highest weight; ties go to the older node.
        return max(positive, key=lambda k: (positive[k], -int(k[1:])))
