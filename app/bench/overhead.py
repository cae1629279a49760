"""`autoresearch-tui bench overhead`: what the engine costs around each experiment.

(a) Orchestration overhead per experiment — proposal commit, branch, worktree, launch,
    teardown, store — measured as each experiment's slot time minus the bare run time
    of the same command, on a fresh tree and on a tree of 5,000 nodes.
(b) Slot utilization — training time / (slots x wall) — with a fake agent whose latency
    is 20% of the run time, 4 slots, best-first; and the ratchet's sequential figure.
Figures are printed, never asserted: these machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from autoresearch_tui.agents.mutator import Mutator
from autoresearch_tui.agents.proposer import AgentSpec, Proposal, Proposer
from autoresearch_tui.agents.request import ProposalRequest
from autoresearch_tui.search.config import load_config, state_db_path
from autoresearch_tui.search.model import ROOT_ID, Node, node_id
from autoresearch_tui.search.policies import make_policy
from autoresearch_tui.search.processes import experiment_env
from autoresearch_tui.search.scheduler import Scheduler
from autoresearch_tui.search.slots import Slot
from autoresearch_tui.search.store import Store

TRAIN = textwrap.dedent(
    """\
    import sys, time
    LR = 0.04
    DEPTH = 8
    WARMUP = 0.1
    BATCH = 32
    time.sleep(dict(run_s={sleep})["run_s"])  # the run time; not a constant the mutator sees
    print("val_bpb:", 1 + (LR - 0.06) ** 2 + (DEPTH - 12) ** 2 / 100 + (WARMUP - .2) ** 2 + BATCH / 1e4)
    """
)
TOML = textwrap.dedent(
    """\
    [target]
    editable = ["train.py"]
    run = "{run}"
    metric = "val_bpb"
    timeout_s = 60
    [search]
    base_runs = 1
    merge = false
    sandbox = "{sandbox}"
    """
)


def make_workspace(root: Path, sleep: float, run: str, sandbox: str = "auto") -> Path:
    root.mkdir(parents=True)
    (root / "train.py").write_text(TRAIN.format(sleep=sleep))
    (root / "autoresearch.toml").write_text(TOML.format(run=run, sandbox=sandbox))
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "base"]):
        subprocess.run(
            ["git", "-c", "user.name=b", "-c", "user.email=b@b", *args], cwd=root, check=True
        )
    return root


def bare_run_s(root: Path, command: str, n: int = 15) -> float:
    times = []
    env = experiment_env({})  # the same `python` the engine runs
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(["bash", "-c", command], cwd=root, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def grow_tree(root: Path, n: int, seed: int = 0) -> None:
    """Write n finished nodes (random parents, random metrics) into a fresh run's store."""
    rng = random.Random(seed)
    store = Store(state_db_path(root))
    base = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True
    ).stdout.strip()
    store.set_meta("run", "bench")
    store.set_meta("base", base)
    now = time.time()
    nodes = [Node(id=ROOT_ID, parent=None, status="done", kind="root", commit=base, metric=1.05,
                  branch="autoresearch/bench/n0000", created_at=now)]  # fmt: skip
    for i in range(1, n):
        parent = nodes[rng.randrange(len(nodes))]
        nodes.append(dataclasses.replace(
            parent, id=node_id(i), parent=parent.id, kind="improve", persona="explorer",
            description=f"synthetic {i}", metric=1.0 + rng.random() * 0.1, pruned=False,
        ))  # fmt: skip
    with store.db.conn:
        for node in nodes:
            store.save_node(node)
    subprocess.run(["git", "branch", "-q", "autoresearch/bench/n0000"], cwd=root, check=True)
    store.close()


async def _search(
    root: Path, proposers: list[Proposer], slots: int, experiments: int, policy: str = "best-first"
) -> Scheduler:
    scheduler = Scheduler(
        load_config(root, check_clean=False), proposers, policy=make_policy(policy),
        slots=[Slot(f"cpu{i}", threads=1) for i in range(slots)],
        max_experiments=experiments, seed=1,
    )  # fmt: skip
    await scheduler.run()
    return scheduler


def overhead(root: Path, command: str, experiments: int) -> tuple[float, float]:
    """(wall per experiment minus the bare run, the bare run), 1 slot, the mutator.

    With one slot every experiment waits for the previous one, so wall / experiments is
    run + proposal + commit + worktree + launch + teardown + store: the bare run is the
    only part that is not the engine's."""
    bare = bare_run_s(root, command)
    start = time.perf_counter()
    scheduler = asyncio.run(_search(root, [Mutator(AgentSpec("explorer"))], 1, experiments))
    wall = time.perf_counter() - start
    runs = len([n for n in scheduler.tree if n.finished_at and n.kind != "root"]) or experiments
    return wall / runs - bare, bare


class SlowAgent(Mutator):
    """The mutator behind a fixed latency, standing in for an LLM call."""

    def __init__(self, latency_s: float):
        super().__init__(AgentSpec("explorer", backend="mutator"))
        self.latency_s = latency_s

    async def propose(self, request: ProposalRequest) -> Proposal:
        await asyncio.sleep(self.latency_s)
        return self.propose_sync(request)


def utilization(
    root: Path, slots: int, latency_s: float, experiments: int, policy: str
) -> tuple[float, float]:
    """Command run time / (slots x wall), (steady, whole).

    steady: from the first child's start to the last child's start, while work remains;
    whole: to the last finish, so it includes the ramp-down of the final runs. Every run
    counts as busy (re-runs for confirmation too); set-up and teardown count as idle."""
    scheduler = asyncio.run(_search(root, [SlowAgent(latency_s)], slots, experiments, policy))
    spans = [  # (kind, start, end) of every run
        (n.kind, n.started_at, n.finished_at)
        for n in scheduler.tree
        if n.started_at is not None and n.finished_at is not None
    ]
    first = min(start for kind, start, _ in spans if kind == "improve")

    def busy_until(end: float) -> float:
        busy = (min(stop, end) - max(start, first) for _, start, stop in spans)
        return sum(max(0.0, span) for span in busy) / (slots * (end - first))

    last_start = max(start for _, start, _ in spans)
    return busy_until(last_start), busy_until(max(stop for _, _, stop in spans))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="autoresearch-tui bench overhead", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--experiments", type=int, default=40)
    p.add_argument("--big-tree", type=int, default=5000)
    p.add_argument("--run-s", type=float, default=1.0, help="run time for the utilization test")
    p.add_argument("--latency-frac", type=float, default=0.2)
    p.add_argument("--slots", type=int, default=4)
    p.add_argument("--util-experiments", type=int, default=60)
    p.add_argument("--sandbox", choices=["auto", "bwrap", "none"], default="auto",
                   help="[search] sandbox of the workspaces (compare bwrap with none)")  # fmt: skip
    args = p.parse_args(argv)
    command = "python train.py"
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        print(f"python {sys.version.split()[0]}, {args.experiments} experiments per figure, "
              f"sandbox {args.sandbox}")  # fmt: skip
        small = make_workspace(tmp_path / "small", 0.0, command, args.sandbox)
        over, bare = overhead(small, command, args.experiments)
        print(f"(a) overhead per experiment, fresh tree:      {over * 1000:6.1f} ms"
              f"   (wall per experiment on 1 slot minus the bare `{command}`, {bare * 1000:.1f} ms)")  # fmt: skip
        big = make_workspace(tmp_path / "big", 0.0, command, args.sandbox)
        grow_tree(big, args.big_tree)
        over_big, _ = overhead(big, command, args.experiments)
        print(f"(a) overhead per experiment, {args.big_tree}-node tree: {over_big * 1000:6.1f} ms")
        latency = args.run_s * args.latency_frac
        for policy, slots in (("best-first", args.slots), ("ratchet", 1)):
            ws = make_workspace(tmp_path / f"util-{policy}", args.run_s, command, args.sandbox)
            n = args.util_experiments if slots > 1 else args.util_experiments // 4
            steady, whole = utilization(ws, slots, latency, n, policy)
            print(f"(b) slot utilization, {policy:10} {slots} slot(s), run {args.run_s:g}s, agent {latency:g}s, "
                  f"{n} experiments: {steady * 100:5.1f}% while work remains, {whole * 100:5.1f}% to the last finish"
                  f"  (sequential T/(T+L) = {args.run_s / (args.run_s + latency) * 100:.1f}%)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
