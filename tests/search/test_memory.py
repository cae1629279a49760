"""Research memory: what the whole tree knows reaches every prompt (search/memory.py,
search/commit_facts.py, agents/memory_prompt.py), on the real scheduler in a real git
workspace; duplicates are rejected naming the node; proposals in flight are shown."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import re
from pathlib import Path
from typing import Any

import pytest
from synthetic import TRAIN_PY, InProcess, ScriptedProposer, set_knob

from autoresearch_tui.agents.memory_prompt import constants_table
from autoresearch_tui.agents.prompt import PARENT_MARK, build_prompt
from autoresearch_tui.agents.request import NodeResult, ProposalRequest
from autoresearch_tui.search.commit_facts import FactsCache, facts_of
from autoresearch_tui.search.config import load_config
from autoresearch_tui.search.constants import (
    ConstantChange,
    constant_changes,
    content_hash,
    module_constants,
)
from autoresearch_tui.search.executor import Job
from autoresearch_tui.search.memory import JOINT, MAX_LISTED, build_memory, constant_table
from autoresearch_tui.search.model import Node
from autoresearch_tui.search.policies import make_policy
from autoresearch_tui.search.scheduler import Scheduler
from autoresearch_tui.search.tree import Tree

NOISE = 0.004  # the in-process runs' seeded noise (uniform, +-)


def measure(job: Job) -> float | None:
    """The synthetic formula of the job's constants, plus seeded noise; None: a crash."""
    ns: dict[str, Any] = {}
    exec(job.files["train.py"].split("\nif ACT")[0], ns)
    if ns["KNOBS"]["crash"]:
        return None
    value = 1.0 + (ns["LR"] / 0.08 - 1) ** 2 * 0.05 + ((ns["DEPTH"] - 12) / 8) ** 2 * 0.1
    return float(value + random.Random(job.seed).uniform(-NOISE, NOISE))


def scheduler(ws: Path, proposers: list[Any], max_experiments: int, **kw: Any) -> Scheduler:
    config = load_config(ws, check_clean=False)
    search = dataclasses.replace(config.search, base_runs=3, confirm_runs=1, confirm_after=0)
    return Scheduler(dataclasses.replace(config, search=search), proposers,
                     max_experiments=max_experiments, executor=InProcess(measure),
                     slots=InProcess(measure).slots(kw.pop("slots", 1)), **kw)  # fmt: skip


def request_for(s: Scheduler, parent_id: str) -> ProposalRequest:
    """The request the search would build now for a new child of `parent_id`."""
    proposing = s.parts().proposing
    files = {"train.py": TRAIN_PY}
    return proposing.request(Node(id="n9999", parent=parent_id), files, None)


def ran(s: Scheduler) -> Scheduler:
    asyncio.run(s.run())
    return s


def test_results_section_from_a_real_search(workspace: Path) -> None:
    script = [
        [("LR = 0.04", "LR = 0.08")],  # better by ~0.0125, beyond the noise
        set_knob("crash", True),  # crashes
        [("DEPTH = 8", "DEPTH = 12")],  # better by 0.025
        [("DEPTH = 12", "DEPTH = 13")],  # within the noise
        *([("WARMUP = 0.1", f"WARMUP = 0.{i}")] for i in range(2, 9)),  # no effect
    ]
    s = ran(scheduler(workspace, [ScriptedProposer(script)], 7, policy=make_policy("ratchet")))
    tree = s.tree
    by_desc = {n.description: n for n in tree if n.kind != "rerun"}
    lr, crash = by_desc["LR = 0.04 -> LR = 0.08"], by_desc["crash=False -> crash=True"]
    depth = by_desc["DEPTH = 8 -> DEPTH = 12"]
    reruns = [n for n in tree if n.kind == "rerun"]
    assert len([r for r in reruns if r.parent == "n0000"]) == 2 and crash.status == "crashed"
    assert any(r.parent != "n0000" for r in reruns)  # a confirmation re-run too
    memory = request_for(s, depth.id).memory
    assert memory is not None
    listed = {r.node_id: r for r in memory.results}
    # Calibration runs and re-runs are samples of their node, never experiments.
    assert not set(listed) & {r.id for r in reruns}
    experiments = [n for n in tree if n.kind != "rerun" and n.status in ("done", "crashed")]
    assert listed["n0000"].runs == 3 and memory.measured == len(listed) == len(experiments) >= 5
    for node_id, result in listed.items():
        if result.mean is not None:
            samples = tree.samples(node_id)
            assert (
                result.runs == len(samples)
                and abs(result.mean - sum(samples) / len(samples)) < 1e-12
            )
    # Verdicts against the tree's own spread.
    spread = tree.noise_spread()
    assert spread is not None and memory.spread == spread and memory.spread_runs >= 5
    assert listed[crash.id].verdict.startswith("crashed: ")
    assert listed[crash.id].constants[0].startswith("KNOBS dict(crash=False")
    assert listed[lr.id].constants == ("LR 0.04->0.08",)
    assert listed[depth.id].delta is not None
    for result in listed.values():
        if result.delta is not None and abs(result.delta) <= spread:
            assert result.verdict == "within noise"
    task = build_prompt(request_for(s, depth.id), "P", "B").task
    assert f"Run-to-run spread ≈ {spread:.4f} over {memory.spread_runs} runs" in task
    assert "re-run of" not in task and "- n0000 base: " in task and "(mean of 3)" in task
    # The constants table shows each value tried, with its runs and a mark.
    assert re.search(r"- LR: 0\.04->0\.08 -0\.0\d+ \(\d runs?\) ✓", task), task
    assert re.search(r"- DEPTH: 8->12 -0\.0\d+ \(\d runs?\) ✓", task), task
    # The best is the confirmed best; the stable part comes first.
    best = tree.best(confirmed=True)
    assert best is not None and f"Best so far (confirmed): {best.id}" in task
    assert (
        task.index("## Results so far") < task.index("## Constants tried") < task.index(PARENT_MARK)
    )
    assert (
        task.index(PARENT_MARK)
        < task.index("## Lineage of the parent")
        < task.index("## Your task")
    )


def test_the_shared_part_is_the_same_for_every_parent(workspace: Path) -> None:
    script = [[("LR = 0.04", "LR = 0.08")], [("DEPTH = 8", "DEPTH = 12")]]
    s = ran(scheduler(workspace, [ScriptedProposer(script)], 2, policy=make_policy("ratchet")))
    first, second = (build_prompt(request_for(s, p), "P", "B") for p in ("n0000", "n0004"))
    shared, _, own = first.task.partition(PARENT_MARK)
    assert shared and own and second.task.partition(PARENT_MARK)[0] == shared
    assert first.task != second.task and "Lineage of the parent n0004" in second.task


def test_a_proposal_identical_to_a_node_is_sent_back_then_rejected_naming_it(
    workspace: Path,
) -> None:
    back = [("DEPTH = 12", "DEPTH = 8")]  # from the DEPTH node: the LR node's files again
    script = [[("LR = 0.04", "LR = 0.08")], [("DEPTH = 8", "DEPTH = 12")], back, back, back]
    script += [[("WARMUP = 0.1", f"WARMUP = 0.{i}")] for i in range(2, 9)]
    proposer = ScriptedProposer(script)
    s = ran(scheduler(workspace, [proposer], 6, policy=make_policy("ratchet")))
    lr = next(n for n in s.tree if n.description == "LR = 0.04 -> LR = 0.08")
    (failed,) = [n for n in s.tree if n.status == "failed"]
    assert failed.reason.startswith(f"the proposal's files are identical to {lr.id}'s (")
    assert "already measured: val_bpb" in failed.reason
    # Each duplicate went back to the persona with the reason before the last one failed.
    asked = [r for r in proposer.requests if r.parent_id == failed.parent]
    assert [len(r.rejected) for r in asked[:3]] == [0, 1, 2]
    text = build_prompt(asked[2], "P", "B").task
    assert f"identical to {lr.id}'s" in text.split("## Your earlier proposals")[1]
    # The failed node keeps the change, so later requests from that parent list it as
    # tried (a seeded mutator would otherwise draw it again and again).
    assert failed.description == "DEPTH = 12 -> DEPTH = 8"
    later = [r for r in proposer.requests[proposer.requests.index(asked[2]) + 1 :]]
    assert later and all(
        failed.description in r.tried_descriptions for r in later if r.parent_id == failed.parent
    )
    assert any(r.parent_id == failed.parent for r in later)


class PricedProposer(ScriptedProposer):
    """Every proposal costs $0.40 in one model call."""

    async def propose(self, request: ProposalRequest) -> Any:
        from autoresearch_tui.agents.proposer import CallRecord

        proposal = await super().propose(request)
        proposal.calls = [CallRecord("scripted", "scripted", "m", cost_usd=0.40)]
        return proposal


def test_a_duplicate_is_not_asked_again_once_the_budget_is_spent(workspace: Path) -> None:
    back = [("DEPTH = 12", "DEPTH = 8")]  # the LR node's files again
    script = [[("LR = 0.04", "LR = 0.08")], [("DEPTH = 8", "DEPTH = 12")], back, back, back]
    proposer = PricedProposer(script)
    s = scheduler(workspace, [proposer], 6, policy=make_policy("ratchet"))
    s.config = dataclasses.replace(
        s.config, search=dataclasses.replace(s.config.search, max_cost_usd=1.0)
    )
    ran(s)
    (failed,) = [n for n in s.tree if n.status == "failed"]
    assert failed.reason.endswith("(not asked again: the cost budget is spent)")
    # $0.80 recorded by two proposals, then the duplicate's $0.40 reaches $1.00: no re-ask.
    assert len([r for r in proposer.requests if r.parent_id == failed.parent]) == 1
    assert s.cost_usd == pytest.approx(1.20)


def test_whitespace_does_not_make_a_change_new() -> None:
    a = {"train.py": "LR = 0.04\n\n\n\ndef f():\n    return 1\n"}
    b = {"train.py": "LR = 0.04   \r\n\r\ndef f():  \n    return 1\n\n"}
    assert content_hash(a) == content_hash(b)
    assert content_hash(a) != content_hash({"train.py": "LR = 0.05\n"})
    assert [c.text() for c in constant_changes(module_constants("A = 1\nB = 'x'\n"),
                                               module_constants("A = 2\nC: int = 3\n"))] == [
        "A 1->2", "C (new)->3", "B 'x'->(removed)"]  # fmt: skip


def test_proposals_in_flight_reach_a_concurrent_proposal(workspace: Path) -> None:
    class Waiting(ScriptedProposer):
        """Holds the first proposal until a second request has been made."""

        async def propose(self, request: ProposalRequest) -> Any:
            self.requests.append(request)
            while len(self.requests) < 2:
                await asyncio.sleep(0.01)
            self.requests.pop()
            return await super().propose(request)

    proposer = Waiting([[("LR = 0.04", "LR = 0.06")], [("DEPTH = 8", "DEPTH = 10")]])
    ran(scheduler(workspace, [proposer], 2, slots=2))
    first, second = proposer.requests[:2]
    assert first.memory is not None and second.memory is not None
    shown = {f.node_id: f for f in second.memory.in_flight}
    assert any(f.status == "proposing" and f.parent_id == first.parent_id for f in shown.values())
    task = build_prompt(second, "P", "B").task
    assert "## Being tried right now" in task and "being written" in task


CRASHES = ("RuntimeError: out of memory at step 12", "ValueError: bad shape", "NameError: x")


def synthetic_tree(size: int) -> tuple[Tree, FactsCache]:
    """A tree of `size` nodes, chains and fans, with files, crashes and re-runs."""
    rng = random.Random(7)
    tree, facts = Tree("min"), FactsCache()
    nodes = [Node("n0000", None, "done", "root", commit="c0", metric=1.0)]
    for i in range(1, size):
        parent = nodes[rng.randrange(max(0, len(nodes) - 20), len(nodes))]
        rerun = i % 25 == 0
        status = "crashed" if i % 13 == 0 else "done"
        nodes.append(Node(f"n{i:04d}", parent.id, status, "rerun" if rerun else "improve",
                          persona="explorer", description=f"change {i}",
                          commit=parent.commit if rerun else f"c{i}",
                          metric=rng.uniform(0.9, 1.1) if status == "done" else None,
                          reason=CRASHES[i % 3]))  # fmt: skip
    for node in nodes:
        tree.add(node)
        files = {
            "train.py": f"LR = {0.01 * (int(node.id[1:]) % 7)}\nDEPTH = {int(node.id[1:]) % 5}\n"
        }
        facts.add({node.commit: facts_of(files)}, tree)
    return tree, facts


def test_compression_keeps_the_lineage_and_the_best() -> None:
    tree, facts = synthetic_tree(1000)
    deepest = max(tree, key=lambda n: len(tree.lineage(n.id)) if n.status == "done" else 0)
    memory = build_memory(tree, facts, deepest.id)
    task = build_prompt(
        ProposalRequest(workspace=Path("."), parent_id=deepest.id, parent_files={},
                        editable=["train.py"], metric="val_bpb", goal="min", seed=0,
                        memory=memory), "P", "B",
    ).task  # fmt: skip
    assert memory.measured > MAX_LISTED >= len(memory.results) - 40
    listed = {r.node_id for r in memory.results}
    best = tree.best()
    assert best is not None and best.id in listed and "n0000" in listed
    assert [r.node_id for r in memory.lineage] == [n.id for n in tree.lineage(deepest.id)]
    assert f"{memory.measured - len(memory.results)} more experiments not listed" in task
    assert {f"crashed: {reason}" for reason in CRASHES} <= {r.verdict for r in memory.results}
    assert "- LR: " in task and "- DEPTH: " in task and len(task) < 60_000
    lineage = task.split("## Lineage of the parent")[1].split("\n## ")[0].splitlines()[1:]
    assert [line.split()[1] for line in lineage] == [n.id for n in tree.lineage(deepest.id)]


def test_a_move_made_with_other_constants_is_not_credited_as_its_own() -> None:
    def result(node_id: str, delta: float) -> NodeResult:
        return NodeResult(node_id, "p", "n0000", ("x",), (), "done", 1.0 + delta, 2, delta, "")

    lr, warm = ConstantChange("LR", "0.04", "0.08"), ConstantChange("WARMUP", "0.1", "0.2")
    made_by = [
        (result("n0001", -0.02), [lr]),  # LR alone: better
        (result("n0002", +0.05), [lr, warm]),  # LR and WARMUP together: worse
    ]
    table = {t.name: t for t in constant_table(made_by, "min", spread=0.005)}
    # LR's mean is its own experiment's, not the pair's: still ✓ (2 runs), one joint seen
    assert table["LR"].mean_delta == pytest.approx(-0.02) and table["LR"].mark == "✓"
    assert table["LR"].experiments == 2 and table["LR"].runs == 2
    # WARMUP was only moved with LR: its delta is theirs together, never a ✗ of its own
    assert table["WARMUP"].mean_delta == pytest.approx(0.05) and table["WARMUP"].mark == JOINT
    lines = constants_table(tuple(table.values()))
    assert "- WARMUP: 0.1->0.2 +0.0500 (2 runs) joint" in lines, lines
