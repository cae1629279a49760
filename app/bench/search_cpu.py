"""The `cpu-train` suite of `bench search`: real searches on the built-in trainer.

The trainer's cpu preset with a short budget in training tokens (so a commit and a seed
give the same value however loaded the machine; each run's torch threads are fixed at
cores / slots), the mutator, a few seeds (slow). No true metric exists there: each
search's final best is re-run `--eval-runs` times with fresh seeds, and that mean is
scored.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from autoresearch_tui.agents.mutator import Mutator
from autoresearch_tui.agents.proposer import AgentSpec
from autoresearch_tui.app.bench.search_runs import VARIANTS, Trace, bench_config
from autoresearch_tui.search.config import load_config
from autoresearch_tui.search.local_executor import LocalExecutor
from autoresearch_tui.search.output import OutputParser
from autoresearch_tui.search.policies import make_policy, policy_options
from autoresearch_tui.search.processes import experiment_env
from autoresearch_tui.search.scheduler import Scheduler

CPU_TRAIN_TOKENS = 100_000  # per run: a quarter of the cpu preset's budget


def run_cpu_train(
    variant_label: str, seed: int, experiments: int, slots: int, eval_runs: int, base: Path
) -> Trace:
    """One real search on a copy of a prepared cpu-preset workspace."""
    variant = VARIANTS[variant_label]
    with tempfile.TemporaryDirectory(prefix="ar-bench-cpu-") as tmp:
        ws = Path(tmp) / "ws"
        subprocess.run(["cp", "-a", str(base), str(ws)], check=True)
        config = bench_config(load_config(ws), variant, seed)
        scheduler = Scheduler(
            config,
            [Mutator(AgentSpec("explorer", "mutator"))],
            policy=make_policy(variant.policy, **policy_options(variant.policy, config.search)),
            slots=LocalExecutor().slots(slots),
            max_experiments=experiments - (config.search.base_runs - 1),
            seed=seed,
        )
        start = time.monotonic()
        asyncio.run(scheduler.run())
        tree = scheduler.tree
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
    threads = max(1, (os.cpu_count() or 1) // max(1, args.slots))  # one core per thread
    with tempfile.TemporaryDirectory(prefix="ar-bench-base-") as tmp:
        base = init_workspace(
            Path(tmp) / "base", preset="cpu", budget_tokens=args.budget_tokens,
            constants={"prepare.py": {"CPU_THREADS": threads}}, log=lambda s: None,
        )  # fmt: skip
        traces = [
            run_cpu_train(v, seed, args.experiments, args.slots, args.eval_runs, base)
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
