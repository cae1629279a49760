"""Noise control: the spread, the confirmation rule, seed-only edits, and the scheduler's
base calibration runs and confirmation re-runs (docs/ARCHITECTURE.md §4, issue 5)."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import statistics
from pathlib import Path
from typing import Any

from synthetic import InProcess, ScriptedProposer, git

from autoresearch_tui.search.config import load_config
from autoresearch_tui.search.executor import Job
from autoresearch_tui.search.model import Node
from autoresearch_tui.search.noise import SPREAD_SDS, pooled_std, seed_only_change
from autoresearch_tui.search.scheduler import Scheduler
from autoresearch_tui.search.slots import Slot
from autoresearch_tui.search.snapshot import load_snapshot
from autoresearch_tui.search.tree import Tree


def node(nid: str, parent: str | None, metric: float | None, kind: str = "improve", **kw) -> Node:
    return Node(id=nid, parent=parent, status="done", kind=kind, metric=metric, **kw)


def rerun(nid: str, of: str, metric: float) -> Node:
    return node(nid, of, metric, kind="rerun")


def test_pooled_std_matches_the_textbook_formula() -> None:
    a, b = [1.0, 1.02, 0.98], [0.5, 0.53]
    ss = sum((x - statistics.fmean(a)) ** 2 for x in a) + sum(
        (x - statistics.fmean(b)) ** 2 for x in b
    )
    assert math.isclose(pooled_std([a, b, [7.0]]), math.sqrt(ss / 3))  # type: ignore[arg-type]
    assert pooled_std([[1.0], [2.0]]) is None


def noisy_tree() -> Tree:
    """Base run 3 times (sd 0.02); children with real, noise-only and seed-only gains."""
    nodes = [
        node("n0000", None, 1.00, kind="root"),
        rerun("n0001", "n0000", 1.02),
        rerun("n0002", "n0000", 0.98),
        node("n0003", "n0000", 0.97),  # lucky noise: beats the base once ...
        rerun("n0004", "n0003", 1.01),  # ... and its re-run does not: mean 0.99
        node("n0005", "n0000", 0.90),  # a real gain, re-run: 0.90, 0.91
        rerun("n0006", "n0005", 0.91),
        node("n0007", "n0000", 0.89),  # a real gain, not re-run yet
        node("n0008", "n0000", 0.80, seed_only=True),  # only the seed changed
        rerun("n0009", "n0008", 0.80),
        node("n0010", "n0000", 1.05),  # worse
        node("n0011", "n0000", None),  # still running
    ]
    nodes[-1].status = "running"
    return Tree("min", nodes)


def test_confirmation_rule_on_a_hand_built_tree() -> None:
    tree = noisy_tree()
    sd = statistics.stdev([1.00, 1.02, 0.98])  # the only repeated commits: base + 3 nodes
    groups = [[1.00, 1.02, 0.98], [0.97, 1.01], [0.90, 0.91], [0.80, 0.80]]
    assert math.isclose(tree.noise_spread(), SPREAD_SDS * pooled_std(groups))  # type: ignore[arg-type,operator]
    assert tree.noise_spread() > SPREAD_SDS * sd * 0.5  # type: ignore[operator]
    assert tree.samples("n0000") == [1.00, 1.02, 0.98]
    assert math.isclose(tree.metric_mean("n0003"), 0.99)  # type: ignore[arg-type]
    states = {n.id: tree.gain_state(n.id) for n in tree}
    assert states == {
        "n0000": "base", "n0001": "rerun", "n0002": "rerun",
        "n0003": "unconfirmed",  # a noise-only "gain": within the spread after its re-run
        "n0004": "rerun",
        "n0005": "confirmed", "n0006": "rerun",
        "n0007": "unconfirmed",  # better, but not re-run
        "n0008": "seed-only", "n0009": "rerun",
        "n0010": "no-gain", "n0011": "pending",
    }  # fmt: skip
    assert tree.is_confirmed("n0005") and tree.is_confirmed("n0000")
    assert not tree.is_confirmed("n0003") and not tree.is_confirmed("n0008")
    # The best is by mean; a seed-only edit never counts, however lucky.
    assert tree.best().id == "n0007"  # type: ignore[union-attr]
    assert tree.best(confirmed=True).id == "n0005"  # type: ignore[union-attr]


def test_a_gain_within_the_spread_is_not_confirmed_even_when_re_run() -> None:
    tree = Tree("max", [node("n0000", None, 10.0, kind="root"), rerun("n0001", "n0000", 10.4),
                        node("n0002", "n0000", 10.5), rerun("n0003", "n0002", 10.3)])  # fmt: skip
    # spread = 2 * pooled sd of [10, 10.4] and [10.5, 10.3] ~ 0.47; gain 0.2
    assert tree.gain_state("n0002") == "unconfirmed"
    tree.add(node("n0004", "n0000", 12.0))
    tree.add(rerun("n0005", "n0004", 12.2))
    assert tree.gain_state("n0004") == "confirmed"


def test_seed_only_change_detection() -> None:
    base = "import torch\nSEED = 1337\nLR = 0.04\ntorch.manual_seed(SEED)\nx = f(seed=3)\n"
    assert seed_only_change({"t.py": base}, {"t.py": base.replace("1337", "7")})
    assert seed_only_change(
        {"t.py": base}, {"t.py": base.replace("manual_seed(SEED)", "manual_seed(1)")}
    )
    assert seed_only_change({"t.py": base}, {"t.py": base.replace("seed=3", "seed=4")})
    assert not seed_only_change({"t.py": base}, {"t.py": base.replace("0.04", "0.08")})
    assert not seed_only_change(
        {"t.py": base}, {"t.py": base.replace("0.04", "0.08").replace("1337", "7")}
    )
    assert not seed_only_change({"t.py": base}, {"t.py": base + "# a comment\n"})
    assert not seed_only_change({"t.py": base}, {"t.py": base})
    assert seed_only_change({"c.yaml": "seed: 1\nlr: 2\n"}, {"c.yaml": "seed: 5\nlr: 2\n"})
    assert not seed_only_change({"c.yaml": "seed: 1\nlr: 2\n"}, {"c.yaml": "seed: 5\nlr: 3\n"})


NOISY_TRAIN = """\
import os
LR = 0.04
NOTE = 1
SEED = 1
print("val_bpb: 1.0")  # never run: the test's executor computes the metric
"""


def test_scheduler_calibrates_the_base_and_re_runs_a_new_best(workspace: Path) -> None:
    """Real engine, in-process runs: a noise-only edit is re-run and stays unconfirmed,
    a real gain is confirmed, a seed-only edit is never re-run nor the best."""
    # The true value depends on LR only; NOTE and SEED only move the noise draw.
    noise = {  # (NOTE, SEED, AR_SEED) -> noise; the base runs with AR_SEED 0, 1, 2
        (1, 1, 0): 0.0, (1, 1, 1): 0.02, (1, 1, 2): -0.02,
        (2, 1, 0): -0.03, (2, 1, 1): 0.01,  # NOTE = 2 is lucky once
        (1, 9, 0): -0.5,  # a lucky seed
    }  # fmt: skip

    def measure(job: Job) -> float:
        ns: dict[str, Any] = {}
        exec(job.files["train.py"].split("print(")[0], ns)  # the constants
        true = 1.0 if ns["LR"] == 0.04 else 0.90
        return true + noise.get((ns["NOTE"], ns["SEED"], job.seed), 0.0)

    (workspace / "train.py").write_text(NOISY_TRAIN)
    git(workspace, "commit", "-qam", "a noisy target")
    config = load_config(workspace, check_clean=False)
    config = dataclasses.replace(
        config,
        search=dataclasses.replace(
            config.search, base_runs=3, confirm_runs=1, confirm_after=0, merge=False
        ),
    )
    script = [[("NOTE = 1", "NOTE = 2")], [("SEED = 1", "SEED = 9")], [("LR = 0.04", "LR = 0.08")]]
    s = Scheduler(config, [ScriptedProposer(script)], slots=[Slot("cpu0")], max_experiments=5,
                  executor=InProcess(measure))  # fmt: skip
    asyncio.run(s.run())
    tree = s.tree
    by_desc = {n.description: n for n in tree if n.kind == "improve"}
    noise, seed, real = (
        by_desc["NOTE = 1 -> NOTE = 2"],
        by_desc["SEED = 1 -> SEED = 9"],
        by_desc["LR = 0.04 -> LR = 0.08"],
    )
    assert tree.samples("n0000") == [1.00, 1.02, 0.98]  # three base runs, seeds 0..2
    assert tree.samples(noise.id) == [0.97, 1.01]  # became the best, so it was re-run
    assert tree.gain_state(noise.id) == "unconfirmed"
    assert seed.seed_only and tree.gain_state(seed.id) == "seed-only"
    assert not [c for c in tree.children(seed.id) if c.kind == "rerun"]
    assert len(tree.samples(real.id)) == 2 and tree.gain_state(real.id) == "confirmed"
    assert tree.best().id == real.id  # type: ignore[union-attr]
    # status --json carries it
    data = load_snapshot(load_config(workspace, check_clean=False)).as_json()
    rows = {r["id"]: r for r in data["nodes"]}
    assert rows[real.id]["confirmed"] and rows[real.id]["samples"] == tree.samples(real.id)
    assert not rows[noise.id]["confirmed"] and rows[noise.id]["gain"] == "unconfirmed"
    assert rows[seed.id]["seed_only"] and not rows[seed.id]["confirmed"]
    assert math.isclose(rows[noise.id]["metric_mean"], 0.99)
    assert data["noise_spread"] > 0 and data["confirmed_best"]["id"] == real.id


class Stepper:
    """A real Proposer: LR doubles at the steps listed; every other proposal sets NOTE
    to a new value (no effect on the metric)."""

    can_debug = False

    def __init__(self, lr_steps: set[int]):
        from autoresearch_tui.agents.proposer import AgentSpec

        self.spec = AgentSpec(persona="stepper", backend="scripted")
        self.lr_steps, self.calls = lr_steps, 0

    async def propose(self, request):
        import re

        from autoresearch_tui.agents.proposer import Proposal

        self.calls += 1
        source = request.parent_files["train.py"]
        if self.calls in self.lr_steps and not request.rejected:  # a duplicate was sent back
            lr = float(re.search(r"LR = ([0-9.]+)", source)[1])  # type: ignore[index]
            new, text = source.replace(f"LR = {lr}", f"LR = {lr * 2}"), f"LR x2 ({self.calls})"
        else:
            new = re.sub(r"NOTE = \d+", f"NOTE = {self.calls + 1}", source)
            text = f"NOTE {self.calls + 1}"
        return Proposal(text, {"train.py": new})


def lazy_search(workspace: Path, lr_steps: set[int], max_experiments: int) -> Scheduler:
    def measure(job: Job) -> float:
        ns: dict[str, Any] = {}
        exec(job.files["train.py"].split("print(")[0], ns)
        return 1.0 / float(ns["LR"]) / 25.0

    (workspace / "train.py").write_text(NOISY_TRAIN)
    git(workspace, "commit", "-qam", "a noiseless target")
    config = load_config(workspace, check_clean=False)
    search = dataclasses.replace(
        config.search, base_runs=1, confirm_runs=1, confirm_after=2, merge=False
    )
    s = Scheduler(dataclasses.replace(config, search=search), [Stepper(lr_steps)],
                  slots=[Slot("cpu0")], max_experiments=max_experiments,
                  executor=InProcess(measure))  # fmt: skip
    asyncio.run(s.run())
    return s


def events(s: Scheduler, kind: str) -> list[dict]:
    from autoresearch_tui.search.store import Store

    return Store(s.config.db_path, readonly=True).events(kind)


def test_a_best_that_survives_two_experiments_is_re_run(workspace: Path) -> None:
    """confirm_after = 2: the best is re-run once two more experiments finished without
    beating it."""
    s = lazy_search(workspace, lr_steps={1, 2}, max_experiments=9)
    tree, best = s.tree, s.tree.best()
    assert best is not None and best.description.startswith("LR")
    (confirm,) = [n for n in tree if n.kind == "rerun"]
    assert confirm.parent == best.id and tree.gain_state(best.id) == "confirmed"
    (event,) = events(s, "confirm")
    assert event["node"] == best.id
    assert event["data"]["reason"] == "the best for 2 finished experiments"
    finished = [e["node"] for e in events(s, "finished")]
    # the re-run was queued after the best and two more experiments had finished
    assert len(finished[finished.index(best.id) + 1 : finished.index(confirm.id)]) >= 2
    assert s.started == 9


def test_an_overtaken_best_is_not_re_run_and_the_last_experiment_confirms(
    workspace: Path,
) -> None:
    """Each LR step is overtaken by the next before it survives two experiments, so none
    is re-run, except the final best, by the bounded search's last experiment."""
    s = lazy_search(workspace, lr_steps={1, 2, 3, 4}, max_experiments=5)
    tree = s.tree
    (confirm,) = [n for n in tree if n.kind == "rerun"]
    target = tree[confirm.parent]  # type: ignore[index]
    assert tree.metric_mean(target.id) == tree.metric_mean(tree.best().id)  # type: ignore[union-attr]
    assert tree.gain_state(target.id) == "confirmed" and s.started == 5
    (event,) = events(s, "confirm")
    assert event["node"] == target.id and event["data"]["reason"] == "the best, at the budget's end"


def test_best_first_measures_distance_from_the_best_in_noise_units() -> None:
    from autoresearch_tui.search.policies import make_policy

    tree = noisy_tree()
    weights = make_policy("best-first").weights(tree)
    sd = tree.noise_spread() / SPREAD_SDS  # type: ignore[operator]
    means = {k: tree.ranking_mean(k) for k in weights}
    best = min(means.values())  # type: ignore[type-var]
    for k, w in weights.items():
        children = len(tree.experiments(k))
        z = (best - means[k]) / sd  # type: ignore[operator]
        assert math.isclose(w, 1 / (1 + math.exp(-2 * z)) / (1 + children)), k
    # a seed-only edit is ranked at its parent's mean, not at its lucky run, and is never
    # expanded itself (its code is its parent's)
    assert math.isclose(tree.ranking_mean("n0008"), tree.metric_mean("n0000"))  # type: ignore[arg-type]
    assert "n0008" not in weights and "n0000" in weights
