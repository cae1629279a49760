"""The `uct` policy on a hand-built tree: scores computed independently, and the choice
as c moves from exploitation to exploration."""

from __future__ import annotations

import math

import pytest

from autoresearch_tui.search.config import SearchConfig
from autoresearch_tui.search.model import Node
from autoresearch_tui.search.policies import make_policy, policy_options
from autoresearch_tui.search.policies.uct import UCT
from autoresearch_tui.search.tree import Tree


def hand_built() -> Tree:
    def n(nid: str, parent: str | None, metric: float | None, status: str = "done") -> Node:
        kind = "root" if parent is None else "improve"
        return Node(nid, parent, status=status, kind=kind, metric=metric)  # type: ignore[arg-type]

    return Tree(
        "min",
        [
            n("n0000", None, 1.0),
            n("n0001", "n0000", 0.9),
            n("n0002", "n0000", 1.1),
            n("n0003", "n0000", 0.95),
            n("n0004", "n0003", 0.92),
            n("n0005", "n0003", None, "crashed"),
            n("n0006", "n0001", None, "running"),
        ],
    )


def expected(c: float) -> dict[str, float]:
    """Worked by hand from the module docstring: min-max values over the means, the
    worst clipped at median + 3 MAD (not binding here: hi = 1.1, best = 0.9)."""
    v = {"n0000": 0.5, "n0001": 1.0, "n0002": 0.0, "n0003": 0.75, "n0004": 0.9}
    q = {
        "n0000": (0.5 + 1.0 + 0.0 + 0.75) / 4,  # itself + its three finished children
        "n0001": 1.0,  # its only child is still running
        "n0002": v["n0002"],
        "n0003": (0.75 + 0.9 + 0.0) / 3,  # the crashed child counts 0
        "n0004": v["n0004"],
    }
    visits = {"n0000": 3, "n0001": 1, "n0002": 0, "n0003": 2, "n0004": 0}
    total = sum(visits.values())
    return {k: q[k] + c * math.sqrt(math.log(1 + total) / (1 + visits[k])) for k in q}


@pytest.mark.parametrize("c", [0.0, 0.5, 5.0])
def test_uct_scores_match_the_formula(c: float) -> None:
    scores = UCT(c).scores(hand_built())
    assert scores.keys() == expected(c).keys()
    for k, want in expected(c).items():
        assert math.isclose(scores[k], want), k


def test_uct_choice_moves_from_exploitation_to_exploration() -> None:
    tree = hand_built()
    assert UCT(0.0).choose(tree) == "n0001"  # the best mean value
    assert UCT(0.5).choose(tree) == "n0004"  # good and never expanded
    scores = UCT(5.0).scores(tree)  # the bonus dominates: unvisited nodes first
    assert scores["n0002"] > scores["n0001"] and scores["n0004"] > scores["n0002"]
    tree["n0004"].boost = 0.0  # the user's boost multiplies
    assert UCT(0.5).choose(tree) == "n0001"


def test_a_seed_only_node_is_no_arm_and_yields_its_parents_value() -> None:
    """A seed-only edit (only a seed changed) is its parent's code with other luck, as in
    best-first: never expanded itself, and as a finished child worth its parent's value."""
    tree = hand_built()
    lucky = Node("n0007", "n0001", status="done", kind="improve", metric=0.85, seed_only=True)
    tree.add(lucky)
    scores = UCT(0.5).scores(tree)
    assert "n0007" not in scores  # unvisited and "best": it would be chosen if it were an arm
    assert UCT(0.5).choose(tree) != "n0007"
    visits = {"n0000": 3, "n0001": 2, "n0002": 0, "n0003": 2, "n0004": 0}
    bonus = 0.5 * math.sqrt(math.log(1 + sum(visits.values())) / (1 + visits["n0001"]))
    assert math.isclose(scores["n0001"], (1.0 + 1.0) / 2 + bonus)  # the child yields 1.0


def test_uct_is_built_with_the_configured_c() -> None:
    policy = make_policy("uct", **policy_options("uct", SearchConfig(uct_c=1.25)))
    assert isinstance(policy, UCT) and policy.c == 1.25 and not policy.sequential
