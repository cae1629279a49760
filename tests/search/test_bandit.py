"""The persona bandit on a hand-built tree: records, scores computed independently, and
the scheduler picking by it when `[search] bandit = true`."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from synthetic import ScriptedProposer

from autoresearch_tui.search.bandit import PRIOR_COST, PersonaBandit, records
from autoresearch_tui.search.config import load_config, state_db_path
from autoresearch_tui.search.model import Node
from autoresearch_tui.search.scheduler import Scheduler
from autoresearch_tui.search.slots import Slot
from autoresearch_tui.search.tree import Tree


def hand_built() -> Tree:
    def n(nid: str, parent: str | None, metric: float | None, persona: str = "",
          kind: str = "improve", status: str = "done") -> Node:  # fmt: skip
        return Node(nid, parent, status=status, kind=kind, metric=metric,  # type: ignore[arg-type]
                    persona=persona, backend="scripted")  # fmt: skip

    return Tree(
        "min",
        [
            n("n0000", None, 1.00, "base", "root"),
            n("n0001", "n0000", 1.01, "base", "rerun"),
            n("n0002", "n0000", 0.99, "base", "rerun"),
            n("n0003", "n0000", 0.90, "a"),  # a confirmed gain of 0.1 for persona a
            n("n0004", "n0003", 0.90, "a", "rerun"),
            n("n0005", "n0000", 1.05, "a"),
            n("n0006", "n0003", None, "a", status="crashed"),
            n("n0007", "n0000", 1.04, "b"),  # b: three experiments, no gain
            n("n0008", "n0000", 1.02, "b"),
            n("n0009", "n0000", None, "b", status="running"),  # in flight: counts as cost
        ],
    )


def test_records_count_confirmed_gains_and_experiments() -> None:
    recs = records(hand_built())
    a, b = recs["a@scripted"], recs["b@scripted"]
    assert (a.confirmed, b.confirmed) == (1, 0)
    assert math.isclose(a.gains, 0.1) and b.gains == 0.0
    assert (a.cost, b.cost) == (3.0, 3.0)  # nothing priced: the cost is the experiments
    assert "base@scripted" not in recs  # the base and re-runs are nobody's proposals


def expected_scores(c: float, costs: dict[str, float], gains: dict[str, float]) -> dict[str, float]:
    total = sum(costs.values())
    pooled = sum(gains.values()) / max(total, 1.0)
    rates = {k: (gains[k] + PRIOR_COST * pooled) / (costs[k] + PRIOR_COST) for k in costs}
    top = max(rates.values())
    return {k: rates[k] / top + c * math.sqrt(math.log(1 + total) / (1 + costs[k])) for k in costs}


def test_the_bandit_prefers_the_persona_with_confirmed_gains_and_explores_new_ones() -> None:
    tree = hand_built()
    a, b, c = (ScriptedProposer([], persona=p) for p in "abc")
    bandit = PersonaBandit(0.5)
    scores = bandit.scores(tree, [a, b])
    want = expected_scores(0.5, {"a": 3, "b": 3}, {"a": 0.1, "b": 0.0})
    assert math.isclose(scores[a.spec.label], want["a"])
    assert math.isclose(scores[b.spec.label], want["b"])
    assert bandit.choose(tree, [a, b]) is a and bandit.choose(tree, [b, a]) is a
    # a persona with no record yet: its rate is the pool's; a large c explores it
    want = expected_scores(1.0, {"a": 3, "b": 3, "c": 0}, {"a": 0.1, "b": 0.0, "c": 0.0})
    assert want["c"] > want["a"] > want["b"]
    assert PersonaBandit(1.0).choose(tree, [a, b, c]) is c
    assert PersonaBandit(0.1).choose(tree, [a, b, c]) is a
    # the persona's weight multiplies its score
    heavy_b = ScriptedProposer([], persona="b")
    heavy_b.spec = dataclasses.replace(heavy_b.spec, weight=10.0)
    assert PersonaBandit(0.5).choose(tree, [a, heavy_b]) is heavy_b


def test_the_scheduler_picks_personas_by_the_bandit_when_enabled(workspace: Path) -> None:
    config = load_config(workspace, check_clean=False)
    a, b = ScriptedProposer([], persona="a"), ScriptedProposer([], persona="b")
    on = dataclasses.replace(config, search=dataclasses.replace(config.search, bandit=True))
    tree = hand_built()
    s = Scheduler(on, [b, a], slots=[Slot("cpu0")])
    assert s.personas.pick("improve", tree) is a
    s.personas.uses = {a.spec.label: 5, b.spec.label: 0}  # round robin would pick b
    assert s.personas.pick("improve", tree) is a
    off = Scheduler(config, [b, a], slots=[Slot("cpu0")])
    off.personas.uses = {a.spec.label: 5, b.spec.label: 0}
    assert off.personas.pick("improve", tree) is b


def test_costs_are_agent_dollars_plus_slot_time_in_experiments_worth() -> None:
    tree = hand_built()
    times = {"n0003": 600, "n0005": 300, "n0006": 60, "n0007": 300, "n0008": 300}  # seconds
    for node_id, seconds in times.items():
        tree[node_id].started_at, tree[node_id].finished_at = 1000.0, 1000.0 + seconds
    tree["n0000"].started_at, tree["n0000"].finished_at = 0.0, 120.0
    recs = records(tree, {"a@scripted": 1.50, "c@scripted": 0.25}, slot_hour_usd=3.0)
    a, b, c = recs["a@scripted"], recs["b@scripted"], recs["c@scripted"]
    mean_h = (120 + 600 + 300 + 60 + 300 + 300) / 6 / 3600  # every timed run, base included
    usd_a = 1.50 + 3.0 * (600 + 300 + 60) / 3600
    usd_b = 3.0 * ((300 + 300) / 3600 + mean_h)  # n0009 is running: the mean run time
    usd_c = 0.25  # its proposals all failed: calls, no experiments
    assert math.isclose(a.usd, usd_a) and math.isclose(b.usd, usd_b) and c.usd == 0.25
    unit = (usd_a + usd_b + usd_c) / 6  # dollars per experiment, over everyone
    assert math.isclose(a.cost, usd_a / unit) and math.isclose(b.cost, usd_b / unit)
    assert math.isclose(c.cost, usd_c / unit) and c.experiments == 0
    assert math.isclose(a.cost + b.cost + c.cost, 6.0)
    # before any run has a time, one in flight is priced at the timeout: picks still spread
    fresh = hand_built()
    early = records(fresh, {"a@scripted": 1.50}, slot_hour_usd=3.0, default_run_s=600)
    assert math.isclose(early["b@scripted"].usd, 3.0 * 3 * 600 / 3600)
    # a's gain cost it far more than b's runs: priced, the bandit's rate for a drops
    pa, pb = ScriptedProposer([], persona="a"), ScriptedProposer([], persona="b")
    priced = PersonaBandit(0.5, slot_hour_usd=3.0).scores(tree, [pa, pb], {"a@scripted": 30.0})
    unpriced = PersonaBandit(0.5).scores(tree, [pa, pb])
    assert priced[pa.spec.label] - priced[pb.spec.label] < (
        unpriced[pa.spec.label] - unpriced[pb.spec.label]
    )


def test_the_scheduler_keeps_each_personas_agent_dollars_across_a_restart(
    workspace: Path,
) -> None:
    import asyncio

    from autoresearch_tui.agents.proposer import CallRecord
    from autoresearch_tui.search.store import Store

    config = load_config(workspace, check_clean=False)
    on = dataclasses.replace(config, search=dataclasses.replace(config.search, bandit=True))
    a, b = ScriptedProposer([], persona="a"), ScriptedProposer([], persona="b")

    async def scenario() -> dict[str, float]:
        s = Scheduler(on, [a, b], slots=[Slot("cpu0")], max_experiments=0)
        await s.open()
        node, proposing = next(iter(s.tree)), s.parts().proposing
        await proposing.record_calls(node, [CallRecord("a", "scripted", "m", cost_usd=0.5),
                                            CallRecord("b", "scripted", "m", cost_usd=0.125)])  # fmt: skip
        await proposing.record_calls(node, [CallRecord("a", "scripted", "m", cost_usd=0.25)])
        seen = dict(s.personas.agent_usd)
        await s.run()
        return seen

    seen = asyncio.run(scenario())
    assert seen == {"a@scripted": 0.75, "b@scripted": 0.125}
    stored = Store(state_db_path(workspace)).agent_usd()
    assert stored == {("a", "scripted"): 0.75, ("b", "scripted"): 0.125}
    again = Scheduler(on, [a, b], slots=[Slot("cpu0")], max_experiments=0)
    asyncio.run(again.run())
    assert again.personas.agent_usd == seen
