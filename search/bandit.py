"""The persona bandit: which persona proposes the next child, by its record.

Each persona's record is the sum of its *confirmed* gains (Tree.gain of its nodes whose
gain_state is "confirmed", in metric units) and its cost: the experiments its proposals
used (finished runs of its own nodes; proposals in flight count too, so parallel picks
spread). Agent dollars are not part of the cost here; `[search] max_cost_usd` caps them.

    rate(p)  = (gains(p) + k * pooled_rate) / (cost(p) + k)         shrunk to the pool, k = 2
    score(p) = rate(p) / max rate + c * sqrt(ln(1 + total cost) / (1 + cost(p)))

times the persona's weight; the highest score proposes (ties: the least used). With no
confirmed gain anywhere yet every rate is 0 and the bonus alone spreads the work, like
the weighted round robin it replaces (`[search] bandit = true`, `bandit_c` = c).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from autoresearch_tui.agents.proposer import Proposer
from autoresearch_tui.search.model import FINISHED
from autoresearch_tui.search.tree import Tree

PRIOR_COST = 2.0
IN_FLIGHT = frozenset({"proposing", "ready", "running"})


@dataclass
class Record:
    gains: float = 0.0
    confirmed: int = 0
    cost: float = 0.0


def persona_key(persona: str, backend: str) -> str:
    return f"{persona}@{backend}"


def records(tree: Tree) -> dict[str, Record]:
    """persona@backend -> its record of confirmed gains and experiments."""
    spread = tree.noise_spread()
    out: dict[str, Record] = {}
    for node in tree:
        if node.kind in ("root", "rerun", "merge"):
            continue
        rec = out.setdefault(persona_key(node.persona, node.backend), Record())
        if node.status in FINISHED or node.status in IN_FLIGHT:
            rec.cost += 1.0
        if node.has_metric and tree.gain_state(node.id, spread) == "confirmed":
            rec.confirmed += 1
            rec.gains += tree.gain(node.id) or 0.0
    return out


class PersonaBandit:
    def __init__(self, c: float = 0.5):
        self.c = c

    def scores(self, tree: Tree, proposers: Sequence[Proposer]) -> dict[str, float]:
        """Proposer label -> score (see the module docstring)."""
        recs = records(tree)
        mine = {p.spec.label: recs.get(_key(p), Record()) for p in proposers}
        total_cost = sum(r.cost for r in mine.values())
        pooled = sum(r.gains for r in mine.values()) / max(total_cost, 1.0)
        rates = {
            label: (r.gains + PRIOR_COST * pooled) / (r.cost + PRIOR_COST)
            for label, r in mine.items()
        }
        top = max(rates.values(), default=0.0)
        scores = {}
        for p in proposers:
            label = p.spec.label
            exploit = rates[label] / top if top > 0 else 0.0
            bonus = self.c * math.sqrt(math.log(1 + total_cost) / (1 + mine[label].cost))
            scores[label] = (exploit + bonus) * p.spec.weight
        return scores

    def choose(
        self, tree: Tree, proposers: Sequence[Proposer], uses: dict[str, int] | None = None
    ) -> Proposer:
        scores = self.scores(tree, proposers)
        uses = uses or {}
        return max(proposers, key=lambda p: (scores[p.spec.label], -uses.get(p.spec.label, 0)))


def _key(p: Proposer) -> str:
    return persona_key(p.spec.persona, p.spec.backend)
