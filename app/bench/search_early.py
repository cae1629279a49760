"""`bench search --suite early-stop`: best-first with and without early stopping, at
equal slot-hours, on the synthetic landscapes with loss curves (docs/BENCHMARKS.md).

The real scheduler, tree, store, git commits, mutator and the engine's early stopping
(`[search] early_stop`, search/early_stopping.py) run; the experiment is the landscape's
in-process run (app/bench/search_runs.py) printing its curve (app/bench/curves.py) in
chunks on the simulated clock, so the engine's parser and judge see
`step N (p%) | loss: X` lines as they would a trainer's. Both variants get the same
slots and the same simulated time (`--horizon` run-lengths per slot); the search is
stopped when the clock reaches it. Every stopped run is also "run to the end" here: its
would-be value (the same seeded measurement) is known, so a false stop, a stopped run
that would have become the best, is counted two ways: better than the search's best
measured value when it was stopped, and truly better than the search's final best.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import heapq
import json
import math
import random
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from autoresearch_tui.app.bench.curves import SLOW_START, curve, lines
from autoresearch_tui.app.bench.landscapes import LANDSCAPES, read_constants
from autoresearch_tui.app.bench.search_runs import (
    LandscapeExecutor,
    Trace,
    Variant,
    VirtualClock,
    bench_config,
    build_agents,
    drive,
    make_landscape_workspace,
)
from autoresearch_tui.search.config import load_config
from autoresearch_tui.search.early_config import EarlyStopConfig
from autoresearch_tui.search.events import Event, NodeChanged
from autoresearch_tui.search.executor import Job, RunResult
from autoresearch_tui.search.model import FINISHED, ROOT_ID
from autoresearch_tui.search.policies import make_policy, policy_options
from autoresearch_tui.search.scheduler import Scheduler

CHUNKS = 20  # a run's curve reaches the engine in this many pieces of simulated time
PLAIN, EARLY = "best-first", "best-first+early-stop"


@dataclass
class EarlyTrace:
    """One search at a fixed simulated time: what ran, what was stopped, what it found."""

    landscape: str
    variant: str
    seed: int
    horizon: float  # simulated time, in run-lengths (per slot)
    slots: int
    base_true: float
    final_true: float = math.nan  # the true value of the search's best node at the end
    experiments: int = 0  # runs finished after the base's first (stopped ones included)
    measured: int = 0  # of them, with a value
    stopped: int = 0
    saved: float = 0.0  # slot time the stops saved, in run-lengths
    false_then: int = 0  # stopped runs that would have been the best measured when stopped
    false_true: int = 0  # stopped runs truly better than the search's final best
    stopped_true: list[float] = field(default_factory=list)  # their true values
    wall_s: float = 0.0


@dataclass(frozen=True)
class Cut:
    """A run the engine stopped early, as it would have ended."""

    metric: float | None  # its would-be measurement (the same seed)
    true: float | None
    saved: float  # run time left when it was stopped


class HorizonClock(VirtualClock):
    """The simulated clock, which stops the search instead of passing `horizon`."""

    def __init__(self, horizon: float) -> None:
        super().__init__()
        self.horizon = horizon

    async def drive(self, scheduler: Scheduler, done: asyncio.Event) -> None:
        settled_polls = 0
        while not done.is_set():
            await asyncio.sleep(0.001)
            settled_polls = settled_polls + 1 if self._settled(scheduler) else 0
            if settled_polls < 2:
                continue
            settled_polls = 0
            if self._queue[0][0] > self.horizon:
                if not scheduler.stopping:
                    scheduler.stop()  # the runs in flight are cancelled, never counted
                continue
            end, _, future = heapq.heappop(self._queue)
            self.now = max(self.now, end)
            future.set_result(None)


class CurveExecutor(LandscapeExecutor):
    """The landscape's run, printing its loss curve in CHUNKS pieces of simulated time;
    a run cancelled (an early stop, the horizon) leaves its would-be end in `cancelled`."""

    def __init__(
        self, landscape_name: str, clock: HorizonClock, trace: Trace, slow: float = SLOW_START
    ) -> None:
        super().__init__(LANDSCAPES[landscape_name], clock, trace, experiments=0)
        self.cancelled: dict[str, Cut] = {}
        self.slow = slow  # the curves' slow start (app/bench/curves.py)

    async def run(self, job: Job) -> RunResult:
        consts = read_constants(job.files["train.py"])
        true = self.true_of[job.commit] = self.landscape.true_value(consts)
        metric, used, reason = self.landscape.measure(consts, job.seed)
        jitter = random.Random(f"{job.node_id}:{self.trace.seed}").uniform(0.8, 1.2)
        final = (
            metric
            if metric is not None
            else self.landscape.value({**self.landscape.base, **consts})
        )
        key = f"{job.node_id}:{job.seed}"
        points = curve(self.landscape, consts, final, key, used, self.slow)
        printed = lines(points)
        chunks = max(1, math.ceil(used * CHUNKS))
        spent = 0.0
        try:
            for c in range(chunks):
                step = min(used, (c + 1) / CHUNKS) - c / CHUNKS
                await self.clock.sleep(step * jitter)
                spent += step * jitter
                upto = min(used, (c + 1) / CHUNKS)
                text = [
                    t
                    for (p, _), t in zip(points, printed, strict=True)
                    if c / CHUNKS < p <= upto or (c == 0 and p == 0)
                ]
                job.on_output(job.parser.feed("\n".join(text) + "\n", spent), spent)
        except asyncio.CancelledError:
            self.cancelled[job.node_id] = Cut(metric, true, max(0.0, used * jitter - spent))
            raise
        if metric is None:
            job.parser.feed(f"{reason}\n", spent)
            return RunResult(1, False, spent)
        job.parser.feed(f"{job.parser.metric}: {metric!r}\n", spent)
        return RunResult(0, False, spent)


class EarlyListener:
    """Counts the finished runs (the base's first excluded) and judges each stop: would
    the run have become the best measured node, had it run to the end?"""

    def __init__(self, trace: EarlyTrace, scheduler: Scheduler, executor: CurveExecutor) -> None:
        self.trace, self.scheduler, self.executor = trace, scheduler, executor
        self.seen: set[str] = set()

    def __call__(self, event: Event) -> None:
        node = event.node if isinstance(event, NodeChanged) else None
        if node is None or node.status not in FINISHED or node.id in self.seen:
            return
        self.seen.add(node.id)
        if node.id == ROOT_ID:
            return
        trace = self.trace
        trace.experiments += 1
        trace.measured += node.has_metric
        if node.status != "stopped" or (cut := self.executor.cancelled.get(node.id)) is None:
            return
        trace.stopped += 1
        trace.saved += cut.saved
        tree = self.scheduler.tree
        best = tree.best()
        best_mean = tree.metric_mean(best.id) if best is not None else None
        if cut.metric is not None and best_mean is not None and cut.metric < best_mean:
            trace.false_then += 1
        if cut.true is not None:
            trace.stopped_true.append(cut.true)


def run_early(
    landscape_name: str,
    early: EarlyStopConfig,
    seed: int,
    horizon: float,
    slots: int,
    agents: str,
    slow: float = SLOW_START,
) -> EarlyTrace:
    """One best-first search on one landscape for `horizon` run-lengths of simulated
    time, its curves with a slow start of `slow`; runs in a worker process."""
    landscape = LANDSCAPES[landscape_name]
    base_true = landscape.true_value({})
    assert base_true is not None  # the base never crashes
    trace = EarlyTrace(landscape_name, label(early, slow), seed, horizon, slots, base_true)
    with tempfile.TemporaryDirectory(prefix="ar-bench-early-") as tmp:
        ws = make_landscape_workspace(Path(tmp) / "ws", landscape)
        variant = Variant(PLAIN, "best-first")
        config = bench_config(load_config(ws), variant, seed)
        config = dataclasses.replace(config, early_stop=early)
        clock = HorizonClock(horizon)
        executor = CurveExecutor(
            landscape_name, clock, Trace(landscape_name, trace.variant, seed, base_true), slow
        )
        scheduler = Scheduler(
            config,
            build_agents(agents, ws),
            policy=make_policy("best-first", **policy_options("best-first", config.search)),
            slots=executor.slots(slots),
            seed=seed,
            executor=executor,
        )
        scheduler.listeners.append(EarlyListener(trace, scheduler, executor))
        start = time.monotonic()
        asyncio.run(drive(scheduler, clock))
        trace.wall_s = time.monotonic() - start
        best = scheduler.tree.best()
        final = executor.true_of.get(best.commit) if best is not None else None
        trace.final_true = final if final is not None else base_true
    trace.false_true = sum(1 for v in trace.stopped_true if v < trace.final_true)
    return trace


# -- the suite: variants, the table, the summary -----------------------------------------
def settings(spec: str) -> list[EarlyStopConfig]:
    """`0.4:1.0,0.3:2.0` (after:margin pairs) -> the early-stop variants; a ValueError
    naming the bad item."""
    out = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        after, _, margin = item.partition(":")
        try:
            config = EarlyStopConfig(True, float(after), float(margin or 1.0))
        except ValueError:
            raise ValueError(f"--early {item!r}: use after:margin, like 0.4:1.0") from None
        if not 0 < config.after < 1 or config.margin < 0:
            raise ValueError(f"--early {item!r}: after in (0, 1), margin >= 0, like 0.4:1.0")
        out.append(config)
    return out


def _slow(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"--slow-start {text!r}: use numbers, like 0.1,0") from None


def label(early: EarlyStopConfig, slow: float = SLOW_START) -> str:
    """`best-first`, or `best-first+early-stop 0.4/1 slow 0.1` (after/margin, the curves'
    slow start)."""
    if not early.enabled:
        return PLAIN
    return f"{EARLY} {early.after:g}/{early.margin:g} slow {slow:g}"


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def table(traces: list[EarlyTrace]) -> str:
    """One row per landscape and variant: medians over seeds, stops summed."""
    head = (
        f"{'landscape':<12} {'variant':<30} {'final true best':>15} {'exps':>5} "
        f"{'measured':>8} {'stopped':>7} {'saved':>6} {'false(then)':>11} {'false(true)':>11}"
    )
    rows = [head, "-" * len(head)]
    for (landscape, variant), group in _groups(traces).items():
        rows.append(
            f"{landscape:<12} {variant:<30} {_median([t.final_true for t in group]):>15.4f} "
            f"{_median([t.experiments for t in group]):>5.1f} "
            f"{_median([t.measured for t in group]):>8.1f} "
            f"{sum(t.stopped for t in group):>7d} "
            f"{sum(t.saved for t in group) / len(group):>6.2f} "
            f"{sum(t.false_then for t in group):>11d} {sum(t.false_true for t in group):>11d}"
        )
    return "\n".join(rows)


def _groups(traces: list[EarlyTrace]) -> dict[tuple[str, str], list[EarlyTrace]]:
    groups: dict[tuple[str, str], list[EarlyTrace]] = {}
    for t in sorted(
        traces, key=lambda t: (list(LANDSCAPES).index(t.landscape), t.variant != PLAIN, t.variant)
    ):
        groups.setdefault((t.landscape, t.variant), []).append(t)
    return groups


def summary(traces: list[EarlyTrace]) -> str:
    """Each early-stop variant against best-first over every landscape and seed: more
    experiments per slot-hour, the median final best, false stops per stop."""
    plain = {(t.landscape, t.seed): t for t in traces if t.variant == PLAIN}
    out = []
    for variant in sorted({t.variant for t in traces if t.variant != PLAIN}):
        group = [t for t in traces if t.variant == variant and (t.landscape, t.seed) in plain]
        if not group:
            continue
        base = [plain[(t.landscape, t.seed)] for t in group]
        more = sum(t.experiments for t in group) / max(1, sum(b.experiments for b in base)) - 1
        finals = [t.final_true - b.final_true for t, b in zip(group, base, strict=True)]
        stops = sum(t.stopped for t in group)
        then, true = sum(t.false_then for t in group), sum(t.false_true for t in group)
        out.append(
            f"{variant}: {more:+.0%} experiments per slot-hour; final true best minus "
            f"best-first's, median {statistics.median(finals):+.4f} "
            f"(better on {sum(f < 0 for f in finals)}, worse on {sum(f > 0 for f in finals)} "
            f"of {len(finals)}); {stops} stops, {sum(t.saved for t in group):.1f} run-lengths "
            f"saved; false stops {then} ({then / max(1, stops):.1%}) would have been the best "
            f"then, {true} ({true / max(1, stops):.1%}) truly better than the final best"
        )
    return "\n".join(out)


def main_early(args: argparse.Namespace) -> int:
    """`bench search --suite early-stop`: the shared flags, plus --early and --horizon."""
    landscapes = [ls for ls in args.landscapes.split(",") if ls]
    if bad := [ls for ls in landscapes if ls not in LANDSCAPES]:
        print(f"bench search: unknown landscape {bad[0]!r} — use {', '.join(LANDSCAPES)}",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        variants = [(EarlyStopConfig(), SLOW_START)]
        slows = [_slow(x) for x in args.slow_start.split(",") if x.strip()]
        variants += [(early, slow) for early in settings(args.early) for slow in slows]
    except ValueError as exc:
        print(f"bench search: {exc}", file=sys.stderr)
        return 2
    horizon = args.horizon if args.horizon else args.experiments / args.slots
    jobs = [
        (ls, early, seed, horizon, args.slots, args.agents, slow)
        for ls in landscapes
        for seed in range(args.seeds)
        for early, slow in variants
    ]
    start = time.monotonic()
    if args.from_json:
        traces = [EarlyTrace(**t) for t in json.loads(args.from_json.read_text())]
    else:
        with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            traces = list(pool.map(run_early, *zip(*jobs, strict=True)))
    print(
        f"bench search --suite early-stop: {len(landscapes)} landscapes x {len(variants)} "
        f"variants x {args.seeds} seeds, {horizon:g} run-lengths on {args.slots} slots "
        f"({horizon * args.slots:g} slot run-lengths), agents {args.agents} "
        f"({time.monotonic() - start:.0f}s)\n"
    )
    print(table(traces))
    print()
    print(summary(traces))
    if args.json:
        args.json.write_text(json.dumps([dataclasses.asdict(t) for t in traces]))
    return 0
