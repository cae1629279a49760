"""`autoresearch-tui bench search`: search policies side by side, over many seeds.

Every policy gets the same experiment budget, slots and agents (`--agents`), except the
`+reader` variants, which bring their own: the scripted reader model
(app/bench/reader.py) behind the real `openai-compatible` backend, with the prompt's
results sections (`best-first+reader`, `ratchet+reader`) or without them
(`best-first+reader-blind`); the printout then ends with the reader's figures (reader
vs blind per landscape, and how soon best-first with the reader reaches the ratchet's
final best). Two suites:

* `landscapes` (default): synthetic targets whose true metric is a known function of
  the editable constants (app/bench/landscapes.py). It runs the real scheduler,
  policies, tree, store, git commits and mutator persona; only the experiment itself is
  an in-process executor (app/bench/search_runs.py) that sleeps a scaled run time on a
  simulated clock and returns the landscape's value plus seeded Gaussian noise, so
  hundreds of searches fit in minutes on two cores. The true value of every node is known, so the table scores
  what each search *would export* (the true value of its best node, by its own noisy
  measurements), not what it measured.
* `cpu-train`: the built-in trainer's cpu preset, real runs with a short budget in
  training tokens (values repeat for a seed), each variant's agents (`best-first+early`:
  best-first with early stopping), every search within `--experiments` run-lengths of
  tokens, a few seeds (slow; app/bench/search_cpu.py). No true metric exists there:
  each search's final best is re-run `--eval-runs` times with fresh seeds and that mean
  is scored.

Experiments are counted as slot runs after the base's first run: the base's
calibration re-runs and the confirmation re-runs of noise control count, so a policy
that spends runs on confirmation pays for them. The ratchet is autoresearch exactly: one
run at a time, no re-runs, no merges.

    autoresearch-tui bench search [--suite landscapes|cpu-train] [--seeds 10]
        [--experiments 60] [--slots 2] [--policies ratchet,best-first,uct,...]
        [--landscapes additive,...] [--agents explorer@mutator] [--jobs N]
        [--png docs/bench-search.png] [--json FILE] [--from-json FILE]

The tuner persona's variants (`best-first+tpe`, `+gp`, `+cmaes`, `+mixed`, the same for
`ratchet` and `parallel-greedy`) run `tuner@optuna`, `tuner@optuna:gp`, `tuner@optuna:cmaes` or
`explorer@mutator,tuner@optuna` whatever `--agents` says; their comparisons (tuner vs
mutator, the reach of the ratchet's final best, best-first vs parallel-greedy at equal
wall-clock) follow the tables (app/bench/search_tuner.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from autoresearch_tui.app.bench.landscapes import LANDSCAPES
from autoresearch_tui.app.bench.search_cpu import CPU_TRAIN_TOKENS, main_cpu_train
from autoresearch_tui.app.bench.search_early import main_early
from autoresearch_tui.app.bench.search_runs import VARIANTS, Trace, run_landscape
from autoresearch_tui.app.bench.search_scores import plot, reader_summary, score, summary, table
from autoresearch_tui.app.bench.search_tuner import tuner_summary

DEFAULT_POLICIES = "ratchet,best-first,uct"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="autoresearch-tui bench search", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument(
        "--suite", choices=("landscapes", "cpu-train", "early-stop"), default="landscapes"
    )
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--experiments", type=int, default=60)
    p.add_argument("--slots", type=int, default=2)
    p.add_argument("--policies", default=DEFAULT_POLICIES, help=f"of {', '.join(VARIANTS)}")
    p.add_argument("--landscapes", default=",".join(LANDSCAPES))
    p.add_argument("--agents", default="explorer@mutator",
                   help="persona@mutator,...; `placebo` edits only SEED and LOG_EVERY; "
                        "persona@reader (or @reader-blind): the scripted reader model "
                        "(the +reader policies bring their own)")  # fmt: skip
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--png", type=Path, default=Path("bench-search.png"))
    p.add_argument("--json", type=Path, default=None, help="also write every trace here")
    p.add_argument("--from-json", type=Path, default=None,
                   help="score the traces an earlier --json wrote instead of running")  # fmt: skip
    p.add_argument("--budget-tokens", type=int, default=CPU_TRAIN_TOKENS,
                   help="cpu-train: training tokens per run")  # fmt: skip
    p.add_argument("--eval-runs", type=int, default=3, help="cpu-train: re-runs of each final best")
    p.add_argument("--early", default="0.4:1.0",
                   help="early-stop: after:margin variants, like 0.4:1.0,0.3:2.0")  # fmt: skip
    p.add_argument("--slow-start", default="0.1",
                   help="early-stop: the curves' slow start of bigger models, like 0.1,0")  # fmt: skip
    p.add_argument("--horizon", type=float, default=0.0,
                   help="early-stop: simulated run-lengths per slot (0: experiments / slots)")  # fmt: skip
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.suite == "cpu-train":  # its own variants too: best-first+early
        return main_cpu_train(args)
    unknown = [v for v in args.policies.split(",") if v and v not in VARIANTS]
    if unknown:
        print(f"bench search: unknown policy {unknown[0]!r} — use {', '.join(VARIANTS)}",
              file=sys.stderr)  # fmt: skip
        return 2
    if args.suite == "early-stop":  # app/bench/search_early.py
        return main_early(args)
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
    if args.from_json:
        traces = [Trace(**t) for t in json.loads(args.from_json.read_text())]
        traces = [t for t in traces if t.landscape in landscapes and t.variant in variants]
        traces = [t for t in traces if t.seed < args.seeds]
    else:
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
    if readers := reader_summary(rows, args.experiments):
        print()
        print(readers)
    if tuners := tuner_summary(traces, rows, args.experiments):
        print()
        print(tuners)
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
