"""The persona bandit: which persona proposes the next child, by its record.

Each persona's record is the sum of its *confirmed* gains (Tree.gain of its nodes whose
gain_state is "confirmed", in metric units) and what it cost, in dollars: its agent
calls (`calls.cost_usd`, failed proposals included) plus the slot time its experiments
took at `[search] slot_hour_usd`. An experiment with no run time yet (in flight, so that
parallel picks spread) counts as the tree's mean run time (before any run has finished:
the experiment timeout). Costs are then expressed in
experiments' worth: dollars / (all dollars / all experiments), so with equal costs one
experiment is one unit, and with nothing priced the cost is the experiment count.

    rate(p)  = (gains(p) + k * pooled_rate) / (cost(p) + k)         shrunk to the pool, k = 2
    score(p) = rate(p) / max rate + c * sqrt(ln(1 + total cost) / (1 + cost(p)))

times the persona's weight; the highest score proposes (ties: the least used). With no
confirmed gain anywhere yet every rate is 0 and the bonus alone spreads the work, like
the weighted round robin it replaces (`[search] bandit = true`, `bandit_c` = c).
search/personas.py asks it; see docs/ARCHITECTURE.md §4.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from autoresearch_tui.agents.proposer import Proposer
from autoresearch_tui.search.model import FINISHED
from autoresearch_tui.search.tree import Tree

if TYPE_CHECKING:
    from autoresearch_tui.search.config import Config

PRIOR_COST = 2.0
IN_FLIGHT = frozenset({"proposing", "ready", "running"})


@dataclass
class Record:
    gains: float = 0.0
    confirmed: int = 0
    experiments: int = 0  # its nodes' runs, finished or in flight
    run_hours: float = 0.0  # slot time of those with a run time
    timed: int = 0  # how many have one
    usd: float = 0.0  # dollars: agent calls, plus slot time once priced
    cost: float = 0.0  # in experiments' worth (see the module docstring)


def persona_key(persona: str, backend: str) -> str:
    return f"{persona}@{backend}"


def records(
    tree: Tree,
    agent_usd: Mapping[str, float] | None = None,
    slot_hour_usd: float = 0.0,
    default_run_s: float = 0.0,
) -> dict[str, Record]:
    """persona@backend -> its record of confirmed gains and costs; `agent_usd` is the
    dollars of each one's agent calls."""
    spread = tree.noise_spread()
    out: dict[str, Record] = {key: Record() for key in agent_usd or {}}
    all_hours = [n.run_seconds / 3600 for n in tree if n.run_seconds is not None]
    mean_hours = sum(all_hours) / len(all_hours) if all_hours else default_run_s / 3600
    for node in tree:
        if node.kind in ("root", "rerun", "merge"):
            continue
        rec = out.setdefault(persona_key(node.persona, node.backend), Record())
        if node.status in FINISHED or node.status in IN_FLIGHT:
            rec.experiments += 1
            if node.run_seconds is not None:
                rec.run_hours += node.run_seconds / 3600
                rec.timed += 1
        if node.has_metric and tree.gain_state(node.id, spread) == "confirmed":
            rec.confirmed += 1
            rec.gains += tree.gain(node.id) or 0.0
    for key, rec in out.items():
        hours = rec.run_hours + (rec.experiments - rec.timed) * mean_hours
        rec.usd = (agent_usd or {}).get(key, 0.0) + slot_hour_usd * hours
    usd, experiments = sum(r.usd for r in out.values()), sum(r.experiments for r in out.values())
    for rec in out.values():
        rec.cost = rec.usd * experiments / usd if usd > 0 else float(rec.experiments)
    return out


class PersonaBandit:
    def __init__(self, c: float = 0.5, slot_hour_usd: float = 0.0, default_run_s: float = 0.0):
        self.c = c
        self.slot_hour_usd = slot_hour_usd
        self.default_run_s = default_run_s  # an experiment's run time before any is known

    def scores(
        self,
        tree: Tree,
        proposers: Sequence[Proposer],
        agent_usd: Mapping[str, float] | None = None,
    ) -> dict[str, float]:
        """Proposer label -> score (see the module docstring)."""
        recs = records(tree, agent_usd, self.slot_hour_usd, self.default_run_s)
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
        self,
        tree: Tree,
        proposers: Sequence[Proposer],
        uses: dict[str, int] | None = None,
        agent_usd: Mapping[str, float] | None = None,
    ) -> Proposer:
        scores = self.scores(tree, proposers, agent_usd)
        uses = uses or {}
        return max(proposers, key=lambda p: (scores[p.spec.label], -uses.get(p.spec.label, 0)))


def make_bandit(config: Config, *, priced: bool = True) -> PersonaBandit | None:
    """The bandit `[search] bandit` asks for (None: off). Unpriced, slot time costs
    nothing (an in-process executor, whose run times mean nothing)."""
    search = config.search
    if not search.bandit:
        return None
    hour_usd = search.slot_hour_usd if priced else 0.0
    return PersonaBandit(search.bandit_c, hour_usd, config.target.timeout_s)


def _key(p: Proposer) -> str:
    return persona_key(p.spec.persona, p.spec.backend)
