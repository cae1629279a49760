"""Best-first and ratchet choose as docs/ARCHITECTURE.md §4 specifies, on hand-built trees."""

from __future__ import annotations

import math
import statistics

from autoresearch_tui.search.model import Node
from autoresearch_tui.search.policies import make_policy
from autoresearch_tui.search.tree import Tree


def node(nid: str, parent: str | None, metric: float | None, status: str = "done", **kw) -> Node:
    return Node(
        id=nid,
        parent=parent,
        status=status,
        metric=metric,
        kind="root" if parent is None else kw.pop("kind", "improve"),
        **kw,
    )  # type: ignore[arg-type]


def tree(goal: str = "min") -> Tree:
    #        n0000 (1.00)
    #   n0001 (0.90)   n0002 (1.10)   n0003 crashed
    #   n0004 (0.95)
    return Tree(goal, [
        node("n0000", None, 1.00),
        node("n0001", "n0000", 0.90),
        node("n0002", "n0000", 1.10),
        node("n0003", "n0000", None, status="crashed"),
        node("n0004", "n0001", 0.95),
    ])  # fmt: skip


def expected_weights(t: Tree, lam: float = 2.0) -> dict[str, float]:
    """The rule written out independently: sigmoid(lam*(best-m)/scale)/(1+children)*boost,
    with scale the MAD while no commit has run twice (these trees have no re-runs)."""
    measured = [n for n in t if n.has_metric]
    values = [n.metric for n in measured]
    med = statistics.median(values)
    scale = statistics.median(abs(v - med) for v in values) * 1.4826
    best = min(values) if t.goal == "min" else max(values)
    out = {}
    for n in measured:
        z = (best - n.metric) / scale * (1 if t.goal == "min" else -1)
        children = len([c for c in t.children(n.id) if c.kind != "rerun"])
        out[n.id] = 1 / (1 + math.exp(-lam * z)) / (1 + children) * n.boost
    return out


def test_best_first_weights_follow_the_rule() -> None:
    t = tree()
    policy = make_policy("best-first")
    got = policy.weights(t)
    want = expected_weights(t)
    assert set(got) == set(want)
    for k in want:
        assert math.isclose(got[k], want[k], rel_tol=1e-9)
    assert policy.choose(t) == max(want, key=want.get)


def test_boost_prune_and_goal_max() -> None:
    t = tree()
    policy = make_policy("best-first")
    t["n0002"].boost = 50.0
    assert policy.choose(t) == "n0002"
    t["n0002"].pruned = True
    t.add(node("n0005", "n0002", 0.10))  # far better, but below a pruned node
    assert "n0005" not in policy.weights(t) and "n0002" not in policy.weights(t)
    assert policy.choose(t) != "n0005"
    flipped = Tree("max", list(tree()))
    weights = policy.weights(flipped)
    assert max(weights, key=weights.get) == "n0002"  # the largest metric is best for max


def test_crashed_nodes_get_bounded_debug_children() -> None:
    t = tree()
    policy = make_policy("best-first")
    assert "n0003" not in policy.weights(t, can_debug=False)
    assert "n0003" in policy.weights(t, can_debug=True)
    t.add(node("n0006", "n0003", None, status="crashed", kind="debug"))
    weights = policy.weights(t, can_debug=True, max_debug_depth=3)
    assert "n0003" not in weights  # one debug child per crashed node
    root_value = expected_weights(t)["n0000"] * (1 + 3)  # before root's children penalty
    assert math.isclose(weights["n0006"], 0.5 * root_value)  # inherited from the root
    chain = Tree("min", [node("n0000", None, 1.0), node("n0001", "n0000", None, status="crashed")])
    parent = "n0001"
    for i in range(2, 6):
        chain.add(node(f"n000{i}", parent, None, status="crashed", kind="debug"))
        parent = f"n000{i}"
    assert chain.debug_depth("n0005") == 4
    from autoresearch_tui.search.policies.base import debuggable

    assert debuggable(chain, chain["n0001"], 3) is False  # already has its debug child
    assert debuggable(chain, chain["n0003"], 3) is False  # depth limit
    assert debuggable(chain, chain["n0005"], 3) is False


def test_ratchet_always_extends_the_single_best() -> None:
    t = tree()
    policy = make_policy("ratchet")
    assert policy.sequential and policy.choose(t) == "n0001"
    t["n0002"].boost = 100.0  # boosts do not move the ratchet
    assert policy.choose(t) == "n0001"
    t.add(node("n0005", "n0001", 0.90))  # a tie does not replace the best (strictly better)
    assert policy.choose(t) == "n0001"
    t.add(node("n0006", "n0001", 0.80))
    assert policy.choose(t) == "n0006"


def test_root_is_expanded_speculatively_while_it_runs() -> None:
    t = Tree("min", [node("n0000", None, None, status="running")])
    assert make_policy("best-first").choose(t) == "n0000"
    assert make_policy("ratchet").choose(t) is None
