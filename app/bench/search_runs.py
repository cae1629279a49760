"""One benchmark search on a synthetic landscape: the real scheduler, an in-process executor.

The scheduler, policies, tree, store, git commits and personas are the real ones; only
the experiment is a function (`LandscapeExecutor`, the benchmark's implementation of the
engine's `Executor`; docs/ARCHITECTURE.md §6) that "runs" a scaled run time on a
simulated clock and returns the landscape's value plus seeded noise. The true value of
every node is known, so a `Trace` records what the search *would export* (the true
value of its own best node, by its noisy measurements) experiment by experiment.
"""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import random
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoresearch_tui.agents.backends import NO_KEY_NEEDED
from autoresearch_tui.agents.llm_openai import OpenAIChatProposer
from autoresearch_tui.agents.mutator import Mutator, apply_changes, describe, find_constants
from autoresearch_tui.agents.mutator import mutate_value as mutate
from autoresearch_tui.agents.proposer import AgentSpec, Proposal, ProposalFailed, Proposer
from autoresearch_tui.agents.request import ProposalRequest
from autoresearch_tui.agents.tuner import Tuner
from autoresearch_tui.app.bench.landscapes import LANDSCAPES, Landscape, read_constants
from autoresearch_tui.app.bench.reader import shared_server
from autoresearch_tui.search.config import Config, load_config, parse_agents
from autoresearch_tui.search.events import Event, NodeChanged
from autoresearch_tui.search.executor import Job, RunResult
from autoresearch_tui.search.model import FINISHED, ROOT_ID
from autoresearch_tui.search.policies import make_policy, policy_options
from autoresearch_tui.search.scheduler import Scheduler
from autoresearch_tui.search.slots import Slot
from autoresearch_tui.search.tree import Tree


@dataclass(frozen=True)
class Variant:
    """A policy and the [search] settings it runs with in the bench."""

    label: str
    policy: str
    settings: dict[str, Any] = field(default_factory=dict)  # SearchConfig fields
    options: dict[str, float] = field(default_factory=dict)  # policy constructor options
    agents: str | None = None  # its own `--agents` (None: the command line's)


RATCHET: dict[str, Any] = {"base_runs": 1, "confirm_runs": 0, "merge": False}
READERS = ("reader", "reader-blind")  # `persona@reader`: the scripted reader model
TPE, GP, CMAES = "tuner@optuna", "tuner@optuna:gp", "tuner@optuna:cmaes"  # tuner samplers
MIXED = "explorer@mutator,tuner@optuna"

VARIANTS: dict[str, Variant] = {
    v.label: v
    for v in (
        # autoresearch exactly: sequential, greedy, no noise control, no merges.
        Variant("ratchet", "ratchet", RATCHET),
        Variant("best-first", "best-first"),
        Variant("uct", "uct"),
        Variant("best-first+bandit", "best-first", {"bandit": True}),
        # ablation: the tree alone, without noise control or merges
        Variant(
            "best-first-plain", "best-first", {"base_runs": 1, "confirm_runs": 0, "merge": False}
        ),
        # the scripted reader model (app/bench/reader.py), with and without the results
        Variant("best-first+reader", "best-first", agents="explorer@reader"),
        Variant("best-first+reader-blind", "best-first", agents="explorer@reader-blind"),
        Variant("ratchet+reader", "ratchet", RATCHET, agents="explorer@reader"),
        # the tuner persona (agents/tuner.py) and the parallel peer (issue 13)
        Variant("best-first+tpe", "best-first", agents=TPE),
        Variant("best-first+gp", "best-first", agents=GP),
        Variant("best-first+cmaes", "best-first", agents=CMAES),
        Variant("best-first+mixed", "best-first", agents=MIXED),
        Variant("ratchet+tpe", "ratchet", RATCHET, agents=TPE),
        Variant("ratchet+gp", "ratchet", RATCHET, agents=GP),
        Variant("ratchet+cmaes", "ratchet", RATCHET, agents=CMAES),
        Variant("ratchet+mixed", "ratchet", RATCHET, agents=MIXED),
        # N GPUs proposing from the current best in waves, no noise control, no merges
        Variant("parallel-greedy", "parallel-greedy", RATCHET),
        Variant("parallel-greedy+tpe", "parallel-greedy", RATCHET, agents=TPE),
        Variant("parallel-greedy+gp", "parallel-greedy", RATCHET, agents=GP),
        Variant("parallel-greedy+cmaes", "parallel-greedy", RATCHET, agents=CMAES),
        Variant("parallel-greedy+mixed", "parallel-greedy", RATCHET, agents=MIXED),
        Variant("parallel-greedy+reader", "parallel-greedy", RATCHET, agents="explorer@reader"),
    )
}
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


def _reader(persona: str, model: str, workspace: Path) -> Proposer:
    """A real `openai-compatible` proposer talking to this process's reader server."""
    url = shared_server().url
    spec = AgentSpec(persona, backend="openai-compatible", model=model, base_url=url)
    return OpenAIChatProposer(spec, workspace, api_key=NO_KEY_NEEDED, base_url=url)


def build_agents(spec: str, workspace: Path | None = None) -> list[Proposer]:
    """`explorer@mutator,placebo@mutator,explorer@reader`: `placebo` is the bench-only
    noise chaser; `@reader` and `@reader-blind` the scripted reader model."""
    agents: list[Proposer] = []
    plain = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        persona, _, backend = item.partition("@")
        if backend in READERS:
            agents.append(_reader(persona, backend, workspace or Path.cwd()))
        else:
            plain.append(item)
    for s in parse_agents(",".join(plain)) if plain else []:
        if s.backend == "optuna":
            agents.append(Tuner(s))
        else:
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
    """The variant's [search] settings; no lessons notes (a model-written note is no
    part of a policy's comparison, and the scripted reader would only echo the table)."""
    search = dataclasses.replace(
        config.search,
        policy=variant.policy,
        seed=seed,
        max_cost_usd=0.0,
        lessons_every=0,
        **variant.settings,
    )
    return dataclasses.replace(config, search=search)


class VirtualClock:
    """Simulated time for the in-process runs: a run "sleeps" a number of run-lengths,
    and the clock only moves on when the scheduler has settled (every task in flight is
    a run waiting here, no proposal or merge is being made, no wake-up is pending), so
    proposals take no simulated time, the order of events is deterministic, and git and
    SQLite overheads do not distort it."""

    def __init__(self) -> None:
        self.now = 0.0
        self._queue: list[tuple[float, int, asyncio.Future[None]]] = []
        self._count = 0

    async def sleep(self, duration: float) -> None:
        future = asyncio.get_running_loop().create_future()
        self._count += 1
        entry = (self.now + duration, self._count, future)
        heapq.heappush(self._queue, entry)
        try:
            await future
        except asyncio.CancelledError:  # an early stop, a shutdown: no longer waited for
            if entry in self._queue:
                self._queue.remove(entry)
                heapq.heapify(self._queue)
            raise

    def _settled(self, scheduler: Scheduler) -> bool:
        return (
            bool(self._queue)
            and len(self._queue) == scheduler.runs_in_flight
            and scheduler.settled()
        )

    async def drive(self, scheduler: Scheduler, done: asyncio.Event) -> None:
        settled_polls = 0
        while not done.is_set():
            await asyncio.sleep(0.001)
            settled_polls = settled_polls + 1 if self._settled(scheduler) else 0
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


class LandscapeExecutor:
    """The benchmark's in-process executor: a run measures the landscape at the node's
    constants (seeded noise) and takes a scaled, jittered run time on the clock."""

    name = "in-process"
    checkout = False  # a job comes with its editable files
    timed = False  # its run times are simulated: not slot time
    serial_proposals = True  # so that a search repeats exactly (the reader is real HTTP)

    def __init__(
        self, landscape: Landscape, clock: VirtualClock, trace: Trace, experiments: int
    ) -> None:
        self.landscape, self.clock, self.trace = landscape, clock, trace
        self.experiments = experiments
        self.true_of: dict[str, float | None] = {}  # commit -> true value (None: crashes)

    def slots(self, count: int | None = None) -> list[Slot]:
        return [Slot(f"sim{i}") for i in range(count or 1)]

    async def run(self, job: Job) -> RunResult:
        consts = read_constants(job.files["train.py"])
        self.true_of[job.commit] = self.landscape.true_value(consts)
        metric, used, reason = self.landscape.measure(consts, job.seed)
        jitter = random.Random(f"{job.node_id}:{self.trace.seed}").uniform(0.8, 1.2)
        await self.clock.sleep(used * jitter)
        if metric is None:  # as a trainer that crashes: its last words, an exit code
            if len(self.trace.best_true) < self.experiments:
                self.trace.crash_waste += used
                self.trace.crashes += 1
            job.parser.feed(f"{reason}\n")
            return RunResult(1, False, 0.0)
        job.parser.feed(f"{job.parser.metric}: {metric!r}\n")
        return RunResult(0, False, 0.0)


class TraceListener:
    """Adds to the trace as experiments finish (the base's first run excluded)."""

    def __init__(
        self, trace: Trace, scheduler: Scheduler, executor: LandscapeExecutor, experiments: int
    ) -> None:
        self.trace, self.scheduler, self.executor = trace, scheduler, executor
        self.experiments = experiments

    def __call__(self, event: Event) -> None:
        node = event.node if isinstance(event, NodeChanged) else None
        if node is None or node.status not in FINISHED or node.id == ROOT_ID:
            return
        trace, true_of = self.trace, self.executor.true_of
        if len(trace.best_true) >= self.experiments:
            return
        best = self.scheduler.tree.best()
        value = true_of.get(best.commit) if best is not None else None
        trace.best_true.append(value if value is not None else trace.base_true)
        trace.sim_time.append(self.executor.clock.now)
        ran = true_of.get(node.commit)
        prev = trace.oracle[-1] if trace.oracle else trace.base_true
        trace.oracle.append(min(prev, ran) if ran is not None else prev)


async def drive(scheduler: Scheduler, clock: VirtualClock) -> None:
    """Run the search with the clock moving alongside it."""
    done = asyncio.Event()
    driver = asyncio.create_task(clock.drive(scheduler, done))
    try:
        await scheduler.run()
    finally:
        done.set()
        await driver


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
    assert base_true is not None  # the base never crashes
    trace = Trace(landscape_name, variant.label, seed, base_true)
    with tempfile.TemporaryDirectory(prefix="ar-bench-") as tmp:
        ws = make_landscape_workspace(Path(tmp) / "ws", landscape)
        config = bench_config(load_config(ws), variant, seed)
        clock = VirtualClock()
        executor = LandscapeExecutor(landscape, clock, trace, experiments)
        options = {**policy_options(variant.policy, config.search), **variant.options}
        scheduler = Scheduler(
            config,
            build_agents(variant.agents or agents, ws),
            policy=make_policy(variant.policy, **options),
            slots=executor.slots(slots),
            max_experiments=experiments - (config.search.base_runs - 1),
            seed=seed,
            executor=executor,
        )
        scheduler.listeners.append(TraceListener(trace, scheduler, executor, experiments))
        start = time.monotonic()
        asyncio.run(drive(scheduler, clock))
        trace.wall_s = time.monotonic() - start
        _sum_up(trace, scheduler.tree, executor.true_of)
    _pad(trace, experiments)
    return trace


def _sum_up(trace: Trace, tree: Tree, true_of: dict[str, float | None]) -> None:
    trace.reruns = sum(1 for n in tree if n.kind == "rerun")
    trace.merges = sum(1 for n in tree if n.kind == "merge")
    confirmed = tree.best(confirmed=True)
    trace.confirmed_best_true = true_of.get(confirmed.commit) if confirmed else None


def _pad(trace: Trace, experiments: int) -> None:
    """A search that ran out of proposals keeps its last values to the end."""
    while len(trace.best_true) < experiments:
        trace.best_true.append(trace.best_true[-1] if trace.best_true else trace.base_true)
        trace.oracle.append(trace.oracle[-1] if trace.oracle else trace.base_true)
        trace.sim_time.append(trace.sim_time[-1] if trace.sim_time else 0.0)
