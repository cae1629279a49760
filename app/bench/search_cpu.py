"""The `cpu-train` suite of `bench search`: real searches on the built-in trainer.

The trainer's cpu preset with a short budget in training tokens (so a commit and a seed
give the same value however loaded the machine; each run's torch threads are fixed at
cores / slots), the real scheduler, LocalExecutor and train.py subprocesses, a few seeds
(slow). Each variant runs its own agents (`best-first+tpe`: the tuner, as in the
landscapes suite; app/bench/search_runs.py); `best-first+early` is best-first with
`[search] early_stop = true` at its defaults. Every search gets the same slot budget in
run-lengths of training tokens (`--experiments`; app/bench/search_cpu_budget.py), so
early stopping's saved tokens become more experiments. No true metric exists: each
search's final best is re-run `--eval-runs` times with fresh seeds, and that mean is
scored; each stopped run is re-run to the end once to count false stops.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from autoresearch_tui.app.bench.search_cpu_budget import (
    StopCounter,
    account,
    fresh_mean,
    spend,
)
from autoresearch_tui.app.bench.search_runs import VARIANTS, Variant, bench_config, build_agents
from autoresearch_tui.search.config import Config, load_config
from autoresearch_tui.search.early_config import EarlyStopConfig
from autoresearch_tui.search.local_executor import LocalExecutor
from autoresearch_tui.search.policies import make_policy, policy_options
from autoresearch_tui.search.scheduler import Scheduler

CPU_TRAIN_TOKENS = 100_000  # per run: a quarter of the cpu preset's budget
EVAL_TOKENS = 16_384  # validation tokens a run scores: a quarter of the preset's, for time
EARLY = "best-first+early"  # best-first with [search] early_stop = true, its defaults
CPU_VARIANTS: dict[str, Variant] = {**VARIANTS, EARLY: Variant(EARLY, "best-first")}


@dataclass
class CpuTrace:
    """One real search: its final best re-evaluated, what it ran and what stops saved."""

    variant: str
    seed: int
    base_true: float  # the base's fresh-seed mean
    best_true: float = float("nan")  # the final best's fresh-seed mean
    confirmed: float | None = None  # the confirmed best's mean in the search
    best_description: str = ""
    tuner_children: int = 0  # children whose description starts with "tuner: "
    experiments: int = 0  # finished runs after the base's first, stopped ones included
    measured: int = 0
    stopped: int = 0
    spent: float = 0.0  # run-lengths of training tokens, every run included
    saved: float = 0.0  # run-lengths the stops saved
    saved_s: float = 0.0  # the engine's count of slot-seconds saved (load-dependent)
    false_then: int = 0
    false_final: int = 0
    reruns: int = 0
    merges: int = 0
    crashes: int = 0
    wall_s: float = 0.0


def cpu_config(ws: Path, variant_label: str, seed: int) -> Config:
    """The workspace's config with the variant's [search] settings; `best-first+early`
    turns early stopping on with its defaults."""
    config = bench_config(load_config(ws), CPU_VARIANTS[variant_label], seed)
    if variant_label == EARLY:
        config = dataclasses.replace(config, early_stop=EarlyStopConfig(enabled=True))
    return config


def run_cpu_train(
    variant_label: str,
    seed: int,
    experiments: int,
    slots: int,
    eval_runs: int,
    base: Path,
    base_true: float | None = None,
) -> CpuTrace:
    """One real search on a copy of a prepared cpu-preset workspace, within `experiments`
    run-lengths of slot tokens (the base's runs included); `base_true`: the base's
    fresh-seed mean when already known (it is the same commit for every search)."""
    variant = CPU_VARIANTS[variant_label]
    with tempfile.TemporaryDirectory(prefix="ar-bench-cpu-") as tmp:
        ws = Path(tmp) / "ws"
        subprocess.run(["cp", "-a", str(base), str(ws)], check=True)
        config = cpu_config(ws, variant_label, seed)
        options = {**policy_options(variant.policy, config.search), **variant.options}
        scheduler = Scheduler(
            config,
            build_agents(variant.agents or "explorer@mutator", ws),
            policy=make_policy(variant.policy, **options),
            slots=LocalExecutor().slots(slots),
            seed=seed,
            exit_when_idle=False,  # `spend` ends the search when its slot budget is spent
        )
        stops = StopCounter(scheduler)
        scheduler.listeners.append(stops)
        start = time.monotonic()

        async def search() -> None:
            await asyncio.gather(scheduler.run(), spend(scheduler, float(experiments)))

        asyncio.run(search())
        tree = scheduler.tree
        root, best = tree.root, tree.best()
        assert root is not None and best is not None
        if base_true is None:
            base_true = fresh_mean(config, ws, root.commit, eval_runs, slots)
        trace = CpuTrace(variant_label, seed, base_true)
        best_true = fresh_mean(config, ws, best.commit, eval_runs, slots)
        trace.best_true = best_true if best.id != root.id else base_true
        trace.best_description = best.description
        counts = account(tree, stops.stops, config, ws, slots)
        for name in ("experiments", "measured", "stopped", "spent", "saved", "saved_s"):
            setattr(trace, name, getattr(counts, name))
        trace.false_then, trace.false_final = counts.false_then, counts.false_final
        trace.tuner_children = sum(1 for n in tree if n.description.startswith("tuner: "))
        trace.reruns = sum(1 for n in tree if n.kind == "rerun")
        trace.merges = sum(1 for n in tree if n.kind == "merge")
        trace.crashes = sum(1 for n in tree if n.status in ("crashed", "timeout"))
        confirmed = tree.best(confirmed=True)
        trace.confirmed = tree.metric_mean(confirmed.id) if confirmed else None
        trace.wall_s = time.monotonic() - start
        return trace


def base_mean(base: Path, eval_runs: int, slots: int) -> float:
    """The base's fresh-seed mean, once for every search (the same commit and seeds)."""
    config = load_config(base)
    head = subprocess.run(["git", "-C", str(base), "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    return fresh_mean(config, base, head, eval_runs, slots)


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(traces: list[CpuTrace]) -> str:
    """One row per search, then medians per variant."""
    head = ("| variant | seed | final best (fresh seeds) | confirmed (search mean) | exps | "
            "measured | stopped | run-lengths spent | saved | saved slot-s | false stops "
            "(then/final) | re-runs | crashes | wall |")  # fmt: skip
    rows = [head, "|" + "---|" * 14]
    for t in traces:
        conf = f"{t.confirmed:.4f}" if t.confirmed is not None else "-"
        rows.append(
            f"| {t.variant} | {t.seed} | {t.best_true:.4f} | {conf} | {t.experiments} | "
            f"{t.measured} | {t.stopped} | {t.spent:.2f} | {t.saved:.2f} | {t.saved_s:.0f} | "
            f"{t.false_then}/{t.false_final} | {t.reruns} | {t.crashes} | {t.wall_s:.0f}s |"
        )
    return "\n".join(rows)


def summary(traces: list[CpuTrace]) -> str:
    """Per variant: the median final best (fresh seeds), experiments finished, stops."""
    base = traces[0].base_true if traces else float("nan")
    out = [f"base (fresh seeds): {base:.4f}"]
    for variant in dict.fromkeys(t.variant for t in traces):
        group = [t for t in traces if t.variant == variant]
        finals = ", ".join(f"{t.best_true:.4f}" for t in group)
        out.append(
            f"{variant}: final best median {_median([t.best_true for t in group]):.4f} "
            f"(seeds: {finals}); experiments finished {sum(t.experiments for t in group)} "
            f"({sum(t.measured for t in group)} measured, {sum(t.stopped for t in group)} "
            f"stopped), {sum(t.spent for t in group):.2f} run-lengths spent, "
            f"{sum(t.saved for t in group):.2f} saved; false stops "
            f"{sum(t.false_then for t in group)} then / {sum(t.false_final for t in group)} "
            f"vs the final best"
        )
    return "\n".join(out)


def main_cpu_train(args: argparse.Namespace) -> int:
    """`bench search --suite cpu-train`: the variants x seeds, `--jobs` searches at once."""
    from autoresearch_tui.trainer.workspace import init_workspace

    variants = [v for v in args.policies.split(",") if v]
    if bad := [v for v in variants if v not in CPU_VARIANTS]:
        print(f"bench search: unknown policy {bad[0]!r} — use {', '.join(CPU_VARIANTS)}",
              file=sys.stderr)  # fmt: skip
        return 2
    threads = max(1, (os.cpu_count() or 1) // max(1, args.slots))  # one core per thread
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ar-bench-base-") as tmp:
        base = init_workspace(
            Path(tmp) / "base", preset="cpu", budget_tokens=args.budget_tokens,
            constants={"prepare.py": {"CPU_THREADS": threads, "EVAL_TOKENS": EVAL_TOKENS}},
            log=lambda s: None,
        )  # fmt: skip
        base_true = base_mean(base, args.eval_runs, args.slots)
        jobs = [
            (v, seed, args.experiments, args.slots, args.eval_runs, base, base_true)
            for seed in range(args.seeds)
            for v in variants
        ]
        with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futures = [pool.submit(run_cpu_train, *job) for job in jobs]
            for future in as_completed(futures):  # each search as it ends: a slow suite
                print(f"done: {json.dumps(dataclasses.asdict(future.result()))}", flush=True)
            traces = [f.result() for f in futures]
    print(
        f"bench search --suite cpu-train: {len(variants)} variants x {args.seeds} seeds, "
        f"{args.experiments} run-lengths of {args.budget_tokens:,} tokens each on "
        f"{args.slots} slots, {args.eval_runs} fresh-seed runs per final best, "
        f"{args.jobs} searches at once ({time.monotonic() - start:.0f}s)\n"
    )
    print(table(traces))
    print()
    print(summary(traces))
    if args.json:
        args.json.write_text(json.dumps([dataclasses.asdict(t) for t in traces]))
    return 0
