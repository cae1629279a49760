"""`autoresearch-tui bench search`: search policies side by side, over many seeds.

Every policy gets the same experiment budget, slots and agents. Two suites:

* `landscapes` (default): synthetic targets whose true metric is a known function of
  the editable constants (app/bench/landscapes.py). It runs the real scheduler (`Search`),
  policies, tree, store, git commits and mutator persona; only the experiment itself is
  an in-process function (`Search(executor=...)`) that sleeps a scaled run time and
  returns the landscape's value plus seeded Gaussian noise, so hundreds of searches fit
  in minutes on two cores. The true value of every node is known, so the table scores
  what each search *would export* (the true value of its best node, by its own noisy
  measurements), not what it measured.
* `cpu-train`: the built-in trainer's cpu preset, real runs with a short budget, the
  mutator, a few seeds (slow). No true metric exists there: each search's final best
  is re-run `--eval-runs` times with fresh seeds and that mean is scored.

Experiments are counted as slot runs after the base's first run: the base's
calibration re-runs and the confirmation re-runs of noise control count, so a policy
that spends runs on confirmation pays for them. The ratchet is autoresearch exactly: one
run at a time, no re-runs, no merges.

    autoresearch-tui bench search [--suite landscapes|cpu-train] [--seeds 10]
        [--experiments 60] [--slots 2] [--policies ratchet,best-first,uct,...]
        [--landscapes additive,...] [--agents explorer@mutator] [--jobs N]
        [--png docs/bench-search.png] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import heapq
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoresearch_tui.agents.mutator import Mutator, apply_changes, describe, find_constants
from autoresearch_tui.agents.mutator import mutate_value as mutate
from autoresearch_tui.agents.proposer import (
    AgentSpec,
    Proposal,
    ProposalFailed,
    ProposalRequest,
    Proposer,
)
from autoresearch_tui.search.config import Config, load_config, parse_agents
from autoresearch_tui.search.events import Event, NodeChanged
from autoresearch_tui.app.bench.landscapes import LANDSCAPES, Landscape, read_constants
from autoresearch_tui.search.model import FINISHED, Node
from autoresearch_tui.search.policies import make_policy, policy_options
from autoresearch_tui.search.scheduler import Search
from autoresearch_tui.search.slots import Slot, detect_slots


@dataclass(frozen=True)
class Variant:
    """A policy and the [search] settings it runs with in the bench."""

    label: str
    policy: str
    settings: dict[str, Any] = field(default_factory=dict)  # SearchConfig fields
    options: dict[str, float] = field(default_factory=dict)  # policy constructor options


VARIANTS: dict[str, Variant] = {
    v.label: v
    for v in (
        # autoresearch exactly: sequential, greedy, no noise control, no merges.
        Variant("ratchet", "ratchet", {"base_runs": 1, "confirm_runs": 0, "merge": False}),
        Variant("best-first", "best-first"),
        Variant("uct", "uct"),
        Variant("best-first+bandit", "best-first", {"bandit": True}),
        # ablation: the tree alone, without noise control or merges
        Variant(
            "best-first-plain", "best-first", {"base_runs": 1, "confirm_runs": 0, "merge": False}
        ),
    )
}
DEFAULT_POLICIES = "ratchet,best-first,uct"
TOML = """\
[target]
editable  = ["train.py"]
run       = "python train.py"
metric    = "val_bpb"
goal      = "min"
timeout_s = 60

[[agents]]
persona = "explorer"
backend = "mutator"
"""


class Placebo:
    """A bench-only persona that wastes runs: it edits only SEED and LOG_EVERY (knobs
    with no effect on the true metric), as an agent that chases noise would."""

    can_debug = False
    NAMES = ("SEED", "LOG_EVERY")

    def __init__(self, spec: AgentSpec):
        self.spec = spec

    async def propose(self, request: ProposalRequest) -> Proposal:
        source = request.parent_files["train.py"]
        constants = [c for c in find_constants("train.py", source) if c.name in self.NAMES]
        rng = random.Random(f"{request.seed}:{request.parent_id}:{len(request.tried_descriptions)}")
        for _ in range(50):
            c = rng.choice(constants)
            new = mutate(c, rng) if c.name != "SEED" else rng.randrange(1, 10**6)
            if new is None or new == c.value:
                continue
            changes = [(c, new)]
            text = describe(changes)
            if text not in request.tried_descriptions:
                return Proposal(text, apply_changes(request.parent_files, changes))
        raise ProposalFailed("placebo: nothing left to try")


def build_agents(spec: str) -> list[Proposer]:
    """`explorer@mutator,placebo@mutator`: `placebo` is the bench-only noise chaser."""
    agents: list[Proposer] = []
    for s in parse_agents(spec):
        agents.append(Placebo(s) if s.persona == "placebo" else Mutator(s))
    return agents


def _git(path: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", *args],
        cwd=path, check=True, capture_output=True,
    )  # fmt: skip


def make_landscape_workspace(path: Path, landscape: Landscape) -> Path:
    """A git workspace whose train.py is the landscape (runnable as a script too)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "train.py").write_text(landscape.train_py())
    (path / "autoresearch.toml").write_text(TOML)
    (path / "program.md").write_text(f"# {landscape.name}\n{landscape.summary}\n")
    _git(path, "init", "-q", "-b", "main")
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", "base")
    return path


def bench_config(config: Config, variant: Variant, seed: int) -> Config:
    search = dataclasses.replace(
        config.search, policy=variant.policy, seed=seed, max_cost_usd=0.0, **variant.settings
    )
    return dataclasses.replace(config, search=search)


class VirtualClock:
    """Simulated time for the in-process runs: a run "sleeps" a number of run-lengths,
    and the clock only moves on when the scheduler has settled (every task in flight is
    a run waiting here, no proposal or merge is being made, no wake-up is pending), so
    proposals take no simulated time, the order of events is deterministic, and git and
    SQLite overheads do not distort it. (It reads the scheduler's private state: bench
    only.)"""

    def __init__(self) -> None:
        self.now = 0.0
        self._queue: list[tuple[float, int, asyncio.Future[None]]] = []
        self._count = 0

    async def sleep(self, duration: float) -> None:
        future = asyncio.get_running_loop().create_future()
        self._count += 1
        heapq.heappush(self._queue, (self.now + duration, self._count, future))
        await future

    def _settled(self, search: Search) -> bool:
        return (
            bool(self._queue)
            and len(self._queue) == len(search._runs)
            and not search._proposals
            and not search._wake.is_set()
        )

    async def drive(self, search: Search, done: asyncio.Event) -> None:
        settled_polls = 0
        while not done.is_set():
            await asyncio.sleep(0.001)
            settled_polls = settled_polls + 1 if self._settled(search) else 0
            if settled_polls >= 2:  # settled twice in a row: nothing is about to happen
                end, _, future = heapq.heappop(self._queue)
                self.now = max(self.now, end)
                future.set_result(None)
                settled_polls = 0


@dataclass
class Trace:
    """One search's record, experiment by experiment (after the base's first run)."""

    landscape: str
    variant: str
    seed: int
    base_true: float
    best_true: list[float] = field(default_factory=list)  # of the search's own best node
    oracle: list[float] = field(default_factory=list)  # best true value run so far
    crash_waste: float = 0.0  # slot time of crashed runs, in full-run lengths
    crashes: int = 0
    reruns: int = 0
    merges: int = 0
    confirmed_best_true: float | None = None
    wall_s: float = 0.0
    sim_time: list[float] = field(default_factory=list)  # simulated time at each experiment


def run_landscape(
    landscape_name: str,
    variant_label: str | Variant,
    seed: int,
    experiments: int,
    slots: int,
    agents: str,
) -> Trace:
    """One search on one landscape; runs in a worker process."""
    landscape = LANDSCAPES[landscape_name]
    variant = VARIANTS[variant_label] if isinstance(variant_label, str) else variant_label
    base_true = landscape.true_value({})
    assert base_true is not None
    trace = Trace(landscape_name, variant.label, seed, base_true)
    true_of: dict[str, float | None] = {}  # commit -> true value (None: crashes)
    with tempfile.TemporaryDirectory(prefix="ar-bench-") as tmp:
        ws = make_landscape_workspace(Path(tmp) / "ws", landscape)
        config = bench_config(load_config(ws), variant, seed)
        budget = experiments - (config.search.base_runs - 1)

        clock = VirtualClock()

        async def executor(node: Node, files: dict[str, str]) -> tuple[str, float | None, str]:
            consts = read_constants(files["train.py"])
            true_of[node.commit] = landscape.true_value(consts)
            metric, used, reason = landscape.measure(consts, node.seed)
            jitter = random.Random(f"{node.id}:{seed}").uniform(0.8, 1.2)
            await clock.sleep(used * jitter)
            if metric is None:
                if len(trace.best_true) < experiments:
                    trace.crash_waste += used
                    trace.crashes += 1
                return "crashed", None, reason
            return "done", metric, ""

        search: Search

        def listen(event: Event) -> None:
            node = event.node if isinstance(event, NodeChanged) else None
            if node is None or node.status not in FINISHED or node.id == "n0000":
                return
            if len(trace.best_true) >= experiments:
                return
            best = search.tree.best()
            value = true_of.get(best.commit) if best is not None else None
            trace.best_true.append(value if value is not None else base_true)
            trace.sim_time.append(clock.now)
            ran = true_of.get(node.commit)
            prev = trace.oracle[-1] if trace.oracle else base_true
            trace.oracle.append(min(prev, ran) if ran is not None else prev)

        search = Search(
            config,
            build_agents(agents),
            policy=make_policy(
                variant.policy,
                **{**policy_options(variant.policy, config.search), **variant.options},
            ),
            slots=[Slot(f"sim{i}") for i in range(slots)],
            max_experiments=budget,
            seed=seed,
            executor=executor,
            listeners=[listen],
        )

        async def main() -> None:
            done = asyncio.Event()
            driver = asyncio.create_task(clock.drive(search, done))
            try:
                await search.run()
            finally:
                done.set()
                await driver

        start = time.monotonic()
        asyncio.run(main())
        trace.wall_s = time.monotonic() - start
        tree = search.tree
        trace.reruns = sum(1 for n in tree if n.kind == "rerun")
        trace.merges = sum(1 for n in tree if n.kind == "merge")
        confirmed = tree.best(confirmed=True)
        trace.confirmed_best_true = true_of.get(confirmed.commit) if confirmed else None
    while len(trace.best_true) < experiments:  # a search that ran out of proposals
        trace.best_true.append(trace.best_true[-1] if trace.best_true else base_true)
        trace.oracle.append(trace.oracle[-1] if trace.oracle else base_true)
        trace.sim_time.append(trace.sim_time[-1] if trace.sim_time else 0.0)
    return trace


# -- scoring ---------------------------------------------------------------------------
def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    if len(values) == 1:
        return values[0], values[0], values[0]
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], statistics.median(values), q[2]


def at_time(trace: Trace, when: float) -> float:
    """The trace's best true value among the experiments finished by simulated time `when`."""
    value = trace.base_true
    for t, v in zip(trace.sim_time, trace.best_true, strict=True):
        if t > when + 1e-9:
            break
        value = v
    return value


def reach(curve: Sequence[float], target: float) -> float:
    """Experiments until the curve is at or below target (inf: never)."""
    for i, v in enumerate(curve):
        if v <= target + 1e-12:
            return float(i + 1)
    return math.inf


@dataclass
class Row:
    landscape: str
    variant: str
    final: tuple[float, float, float]  # q25, median, q75 of the final true best
    gain: float  # median improvement over the base, true
    reach_median: float  # experiments to the ratchet's final best (same seed)
    reached: int
    seeds: int
    crash_waste: float  # median, in run lengths
    reruns: float
    merges: float
    # at equal wall-clock: the ratchet's best when this policy had run its last experiment
    # (simulated time; the ratchet runs one experiment at a time, the others fill slots)
    ratchet_same_time: float = math.nan
    lower_same_time: int = 0  # seeds where this policy ends lower than that


def score(traces: list[Trace], experiments: int) -> list[Row]:
    rows = []
    by_key: dict[tuple[str, str], list[Trace]] = {}
    for t in traces:
        by_key.setdefault((t.landscape, t.variant), []).append(t)
    landscapes = sorted({t.landscape for t in traces}, key=list(LANDSCAPES).index)
    variants = sorted({t.variant for t in traces}, key=list(VARIANTS).index)
    for ls in landscapes:
        ratchet_traces = {t.seed: t for t in by_key.get((ls, "ratchet"), [])}
        ratchet = {seed: t.best_true[-1] for seed, t in ratchet_traces.items()}
        for v in variants:
            group = sorted(by_key.get((ls, v), []), key=lambda t: t.seed)
            if not group:
                continue
            reaches = [reach(t.best_true, ratchet[t.seed]) for t in group if t.seed in ratchet]
            finals = [t.best_true[-1] for t in group]
            same_time = {
                t.seed: at_time(ratchet_traces[t.seed], t.sim_time[-1])
                for t in group
                if t.seed in ratchet_traces and t.sim_time
            }
            rows.append(
                Row(
                    landscape=ls,
                    variant=v,
                    final=quartiles(finals),
                    gain=statistics.median(t.base_true - t.best_true[-1] for t in group),
                    reach_median=statistics.median(reaches) if reaches else math.nan,
                    reached=sum(1 for r in reaches if math.isfinite(r)),
                    seeds=len(group),
                    crash_waste=statistics.median(t.crash_waste for t in group),
                    reruns=statistics.median(t.reruns for t in group),
                    merges=statistics.median(t.merges for t in group),
                    ratchet_same_time=statistics.median(same_time.values())
                    if same_time
                    else math.nan,
                    lower_same_time=sum(
                        1
                        for t in group
                        if t.seed in same_time and t.best_true[-1] < same_time[t.seed]
                    ),
                )
            )
    return rows


def table(rows: list[Row], experiments: int) -> str:
    head = (
        "| landscape | policy | best true metric, median [IQR] | gain vs base | "
        "experiments to ratchet's final best | reached | crash waste (runs) | re-runs | merges | "
        "ratchet at equal wall-clock | lower at equal wall-clock |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in rows:
        q1, med, q3 = r.final
        reach_text = (
            f"{r.reach_median:.0f} ({100 * r.reach_median / experiments:.0f}%)"
            if math.isfinite(r.reach_median)
            else f">{experiments}"
        )
        lines.append(
            f"| {r.landscape} | {r.variant} | {med:.4f} [{q1:.4f}–{q3:.4f}] | {r.gain:.4f} | "
            f"{reach_text} | {r.reached}/{r.seeds} | {r.crash_waste:.1f} | {r.reruns:.0f} | "
            f"{r.merges:.0f} | "
            + (
                "— | — |"
                if r.variant == "ratchet" or math.isnan(r.ratchet_same_time)
                else f"{r.ratchet_same_time:.4f} | {r.lower_same_time}/{r.seeds} |"
            )
        )
    return "\n".join(lines)


def summary(rows: list[Row], experiments: int) -> str:
    """Per policy: the reach of the ratchet's final best as a share of the budget, per
    landscape, and whether it ends lower (the issue's targets: <= 60% and lower)."""
    out = []
    ratchet = {r.landscape: r.final[1] for r in rows if r.variant == "ratchet"}
    for v in dict.fromkeys(r.variant for r in rows):
        if v == "ratchet":
            continue
        parts = []
        for r in (r for r in rows if r.variant == v):
            share = (
                f"{100 * r.reach_median / experiments:.0f}%"
                if math.isfinite(r.reach_median)
                else f"not reached (in {r.reached}/{r.seeds} seeds)"
            )
            end = "lower" if r.final[1] < ratchet.get(r.landscape, math.inf) else "not lower"
            parts.append(
                f"{r.landscape} {share}, ends {end}; at equal wall-clock lower in "
                f"{r.lower_same_time}/{r.seeds} seeds"
            )
        out.append(f"{v} vs ratchet: " + "; ".join(parts))
    return "\n".join(out)


def plot(traces: list[Trace], experiments: int, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    landscapes = sorted({t.landscape for t in traces}, key=list(LANDSCAPES).index)
    variants = sorted({t.variant for t in traces}, key=list(VARIANTS).index)
    cols = min(2, len(landscapes))
    rows = math.ceil(len(landscapes) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.2 * cols, 4.0 * rows), squeeze=False)
    colors = {"ratchet": "#d62728", "best-first": "#1f77b4", "uct": "#2ca02c",
              "best-first+bandit": "#9467bd", "best-first-plain": "#8c564b"}  # fmt: skip
    xs = list(range(1, experiments + 1))
    for ax, ls in zip(axes.flat, landscapes, strict=False):
        for v in variants:
            group = [t for t in traces if t.landscape == ls and t.variant == v]
            if not group:
                continue
            q = [quartiles([t.best_true[i] for t in group]) for i in range(experiments)]
            ax.plot(xs, [m for _, m, _ in q], label=v, color=colors.get(v), lw=1.8)
            ax.fill_between(
                xs, [a for a, _, _ in q], [b for _, _, b in q], color=colors.get(v), alpha=0.15
            )
        optimum = LANDSCAPES[ls].optimum
        ax.axhline(optimum, color="grey", ls=":", lw=1, label="optimum")
        ax.set_title(f"{ls}: {LANDSCAPES[ls].summary}", fontsize=9)
        ax.set_xlabel("experiments")
        ax.set_ylabel("true metric of the search's best (lower is better)")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(landscapes) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- cpu-train -------------------------------------------------------------------------
def run_cpu_train(
    variant_label: str, seed: int, experiments: int, slots: int, budget_s: float, eval_runs: int,
    base: Path,
) -> Trace:  # fmt: skip
    """One real search on a copy of a prepared cpu-preset workspace."""
    from autoresearch_tui.search.executor import experiment_env
    from autoresearch_tui.search.output import OutputParser

    variant = VARIANTS[variant_label]
    with tempfile.TemporaryDirectory(prefix="ar-bench-cpu-") as tmp:
        ws = Path(tmp) / "ws"
        subprocess.run(["cp", "-a", str(base), str(ws)], check=True)
        config = bench_config(load_config(ws), variant, seed)
        search = Search(
            config,
            [Mutator(AgentSpec("explorer", "mutator"))],
            policy=make_policy(variant.policy, **policy_options(variant.policy, config.search)),
            slots=detect_slots(count=slots),
            max_experiments=experiments - (config.search.base_runs - 1),
            seed=seed,
        )
        start = time.monotonic()
        asyncio.run(search.run())
        tree = search.tree
        root, best = tree.root, tree.best()
        assert root is not None and best is not None

        def fresh_mean(commit: str) -> float:
            values = []
            for i in range(eval_runs):
                subprocess.run(["git", "checkout", "-q", "--detach", commit], cwd=ws, check=True)
                env = experiment_env({"AR_SEED": str(10_000 + i)})  # the venv's python
                out = subprocess.run(
                    config.target.run, shell=True, cwd=ws, env=env, capture_output=True,
                    text=True, timeout=config.target.timeout_s,
                )  # fmt: skip
                parser = OutputParser(config.target.metric, config.target.metric_regex)
                parser.feed(out.stdout)
                parser.close()
                if parser.value is not None:
                    values.append(parser.value)
            return statistics.fmean(values) if values else math.nan

        base_true = fresh_mean(root.commit)
        best_true = fresh_mean(best.commit) if best.id != root.id else base_true
        trace = Trace("cpu-train", variant_label, seed, base_true)
        trace.best_true = [best_true]
        trace.oracle = [best_true]
        trace.reruns = sum(1 for n in tree if n.kind == "rerun")
        trace.merges = sum(1 for n in tree if n.kind == "merge")
        trace.crashes = sum(1 for n in tree if n.status in ("crashed", "timeout"))
        trace.wall_s = time.monotonic() - start
        confirmed = tree.best(confirmed=True)
        trace.confirmed_best_true = tree.metric_mean(confirmed.id) if confirmed else None
        return trace


def main_cpu_train(args: argparse.Namespace) -> int:
    from autoresearch_tui.trainer.workspace import init_workspace

    variants = [v for v in args.policies.split(",") if v]
    with tempfile.TemporaryDirectory(prefix="ar-bench-base-") as tmp:
        base = init_workspace(
            Path(tmp) / "base", preset="cpu", budget_s=args.budget_s, log=lambda s: None
        )
        traces = [
            run_cpu_train(
                v, seed, args.experiments, args.slots, args.budget_s, args.eval_runs, base
            )
            for seed in range(args.seeds)
            for v in variants
        ]
    print("| policy | seed | base (re-evaluated) | final best (re-evaluated) | confirmed best "
          "(search's mean) | re-runs | merges | crashes | wall |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for t in traces:
        conf = f"{t.confirmed_best_true:.4f}" if t.confirmed_best_true is not None else "-"
        print(
            f"| {t.variant} | {t.seed} | {t.base_true:.4f} | {t.best_true[-1]:.4f} | {conf} | "
            f"{t.reruns} | {t.merges} | {t.crashes} | {t.wall_s:.0f}s |"
        )
    return 0


# -- entry point -----------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="autoresearch-tui bench search", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--suite", choices=("landscapes", "cpu-train"), default="landscapes")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--experiments", type=int, default=60)
    p.add_argument("--slots", type=int, default=2)
    p.add_argument("--policies", default=DEFAULT_POLICIES, help=f"of {', '.join(VARIANTS)}")
    p.add_argument("--landscapes", default=",".join(LANDSCAPES))
    p.add_argument("--agents", default="explorer@mutator",
                   help="persona@mutator,...; `placebo` edits only SEED and LOG_EVERY")  # fmt: skip
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--png", type=Path, default=Path("bench-search.png"))
    p.add_argument("--json", type=Path, default=None, help="also write every trace here")
    p.add_argument("--budget-s", type=float, default=20.0, help="cpu-train: training seconds")
    p.add_argument("--eval-runs", type=int, default=3, help="cpu-train: re-runs of each final best")
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    unknown = [v for v in args.policies.split(",") if v and v not in VARIANTS]
    if unknown:
        print(f"bench search: unknown policy {unknown[0]!r} — use {', '.join(VARIANTS)}",
              file=sys.stderr)  # fmt: skip
        return 2
    if args.suite == "cpu-train":
        return main_cpu_train(args)
    landscapes = [ls for ls in args.landscapes.split(",") if ls]
    variants = [v for v in args.policies.split(",") if v]
    if "ratchet" not in variants:
        variants.insert(0, "ratchet")  # the reference every row is measured against
    bad = [ls for ls in landscapes if ls not in LANDSCAPES]
    if bad:
        print(f"bench search: unknown landscape {bad[0]!r} — use {', '.join(LANDSCAPES)}",
              file=sys.stderr)  # fmt: skip
        return 2
    jobs = [
        (ls, v, seed, args.experiments, args.slots, args.agents)
        for ls in landscapes
        for seed in range(args.seeds)
        for v in variants
    ]
    start = time.monotonic()
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        traces = list(pool.map(run_landscape, *zip(*jobs, strict=True)))
    rows = score(traces, args.experiments)
    print(
        f"bench search: {len(landscapes)} landscapes x {len(variants)} policies x {args.seeds} "
        f"seeds, {args.experiments} experiments, {args.slots} slots, agents {args.agents} "
        f"({time.monotonic() - start:.0f}s)\n"
    )
    print(table(rows, args.experiments))
    print()
    print(summary(rows, args.experiments))
    plot(
        traces,
        args.experiments,
        args.png,
        f"best-so-far true metric (median, IQR band) over {args.seeds} seeds; "
        f"{args.experiments} experiments, {args.slots} slots, agents {args.agents}",
    )
    print(f"\nplot: {args.png}")
    if args.json:
        args.json.write_text(json.dumps([dataclasses.asdict(t) for t in traces]))
    return 0
