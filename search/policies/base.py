"""The policy interface, the registry, and what every policy ranks and may expand.

`ranking(tree)` is the one opening of the ranking policies (best-first, uct): the
measured, unpruned nodes that have code of their own, the mean each is ranked by, and
the median and robust scale of those means (docs/ARCHITECTURE.md §4).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from autoresearch_tui.search.model import BROKEN, Node
from autoresearch_tui.search.tree import Tree

if TYPE_CHECKING:  # config imports this package (for the policies' names)
    from autoresearch_tui.search.config import SearchConfig


class Policy(Protocol):
    name: str  # what `[search] policy` and `--policy` call it (a class attribute)
    sequential: bool  # True: never more than one experiment in flight

    def choose(self, tree: Tree, *, can_debug: bool, max_debug_depth: int) -> str | None:
        """The node to expand next, or None when nothing should be expanded now."""
        ...


PolicyClass = TypeVar("PolicyClass", bound=type[Policy])
POLICIES: dict[str, Callable[..., Policy]] = {}  # name -> the class; the one list of names


def register(cls: PolicyClass) -> PolicyClass:
    """Class decorator: make the policy known under its `name`."""
    POLICIES[cls.name] = cls
    return cls


def make_policy(name: str, **options: float) -> Policy:
    if name not in POLICIES:
        raise ValueError(f"policy {name!r} is unknown — use one of {', '.join(sorted(POLICIES))}")
    return POLICIES[name](**options)


def policy_options(name: str, search: SearchConfig) -> dict[str, float]:
    """The [search] settings a policy takes as constructor options."""
    return {"c": search.uct_c} if name == "uct" else {}


def debuggable(tree: Tree, node: Node, max_debug_depth: int) -> bool:
    """A crashed or timed-out node may get one debug child, at most `max_debug_depth` deep."""
    return (
        node.status in BROKEN
        and node.kind != "root"
        and tree.debug_depth(node.id) < max_debug_depth
        and not any(c.kind == "debug" for c in tree.children(node.id))
    )


def speculative_root(tree: Tree) -> bool:
    """Before the base has a metric, its children may be proposed while it runs."""
    root = tree.root
    return root is not None and root.status in ("ready", "running") and not root.pruned


def speculative_root_weight(tree: Tree) -> dict[str, float]:
    """Before anything is measured: the running base's weight (as the best would have it,
    0.5, spread over its children in flight), or nothing."""
    root = tree.root
    if root is None or not speculative_root(tree):
        return {}
    return {root.id: 0.5 / (1 + len(tree.experiments(root.id))) * root.boost}


def unpruned(tree: Tree) -> list[Node]:
    """Every node not in a pruned subtree."""
    return tree.unpruned()


def robust_scale(values: list[float], median: float) -> float:
    """The MAD of `values` in standard deviations (x 1.4826); 1% of the median if it is 0."""
    mad = statistics.median(abs(v - median) for v in values) * 1.4826
    return mad if mad > 0 else max(abs(median) * 0.01, 1e-12)


@dataclass(frozen=True)
class Ranking:
    """What a ranking policy ranks: the measured, unpruned nodes and their means.

    `nodes` are the ones a policy may expand: measured and unpruned, but neither re-runs
    (samples of their parent) nor seed-only edits (their parent's code with other luck:
    expanding one would only split the parent's children across clones). `means` holds,
    for those and for the seed-only nodes beside them, the mean a node is ranked by (its
    re-runs fold in; a seed-only node's is its reference's), so a seed-only child still
    counts as what its parent yielded. `median` and `scale` (a robust spread, see
    `robust_scale`) are over the means of `nodes`.
    """

    goal: str
    nodes: list[Node]
    means: dict[str, float]
    median: float
    scale: float

    @property
    def sign(self) -> float:
        """+1 for goal "min", -1 for "max": sign * metric is a cost (lower is better)."""
        return 1.0 if self.goal == "min" else -1.0

    def best_mean(self) -> float:
        return min((self.means[n.id] for n in self.nodes), key=lambda m: self.sign * m)


def ranking(tree: Tree) -> Ranking | None:
    """The measured, unpruned nodes of `tree` and their means; None before any."""
    nodes: list[Node] = []
    means: dict[str, float] = {}
    for node in unpruned(tree):
        if not node.has_metric or node.kind == "rerun":
            continue
        mean = tree.ranking_mean(node.id)
        if mean is None:
            continue
        means[node.id] = mean
        if not node.seed_only:
            nodes.append(node)
    if not nodes:
        return None
    values = [means[n.id] for n in nodes]
    median = statistics.median(values)
    return Ranking(tree.goal, nodes, means, median, robust_scale(values, median))
