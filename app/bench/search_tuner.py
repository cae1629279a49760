"""Scoring `bench search` for the tuner persona and the parallel peer (issue 13).

Three comparisons, per landscape, each printed with its target:

* the tuner (TPE, CMA-ES, mixed with the mutator) vs the mutator under best-first: the
  median final true best over seeds;
* best-first with the tuner: the experiments it needs to reach the ratchet's final best
  (the ratchet runs the command line's agents: the mutator by default; same seed);
* best-first vs parallel-greedy with the same proposer at equal wall-clock: both read at
  the simulated time the earlier of the two finished its last experiment, same seed.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from autoresearch_tui.app.bench.search_runs import Trace
from autoresearch_tui.app.bench.search_scores import Row, at_time, compared, quartiles

PROPOSERS = ("", "+tpe", "+cmaes", "+mixed")  # the variants' suffixes: mutator, tuners
NAMES = {"": "mutator", "+tpe": "tuner (TPE)", "+cmaes": "tuner (CMA-ES)", "+mixed": "mixed"}
REACH_TARGET = 0.4  # best-first with the tuner: the ratchet's final best within 40%


def _iqr(values: Sequence[float]) -> str:
    q1, med, q3 = quartiles(values)
    return f"{med:.4f} [{q1:.4f}–{q3:.4f}]"


def tuner_vs_mutator(rows: list[Row]) -> list[str]:
    out = []
    for suffix in PROPOSERS[1:]:
        out += compared(
            rows, f"best-first{suffix}", "best-first",
            f"{NAMES[suffix]} vs mutator under best-first (median final true best): lower on "
            "{lower} of {n} landscapes (target: all)",
            "{a:.4f} vs {b:.4f}",
        )  # fmt: skip
    return out


def tuner_reach(rows: list[Row], experiments: int) -> list[str]:
    out = []
    for suffix in PROPOSERS[1:]:
        reach = [r for r in rows if r.variant == f"best-first{suffix}"]
        if not reach:
            continue
        hits = sum(1 for r in reach if r.reach_median <= REACH_TARGET * experiments)
        out.append(
            f"best-first with {NAMES[suffix]} reaches the ratchet's final best (median seed) "
            f"within {REACH_TARGET:.0%} of {experiments} experiments on {hits} of {len(reach)} "
            "landscapes (target: at least 3 of 4)"
        )
        for r in reach:
            share = (
                f"{r.reach_median:.0f} ({r.reach_median / experiments:.0%})"
                if math.isfinite(r.reach_median)
                else f"not reached (in {r.reached}/{r.seeds} seeds)"
            )
            out.append(f"  {r.landscape}: {share}, reached in {r.reached}/{r.seeds} seeds")
    return out


def equal_wall_clock(traces: list[Trace]) -> list[str]:
    """Best-first vs parallel-greedy, same proposer and seed, read at the same time."""
    by = {(t.landscape, t.variant, t.seed): t for t in traces}
    landscapes = list(dict.fromkeys(t.landscape for t in traces))
    head = (
        "| landscape | proposer | best-first at equal wall-clock | parallel-greedy | "
        "best-first lower in |\n|---|---|---|---|---|"
    )
    lines: list[str] = [head]
    wins: dict[str, list[bool]] = {}
    for suffix in PROPOSERS:
        for ls in landscapes:
            pairs = [
                (t, by[(ls, f"parallel-greedy{suffix}", t.seed)])
                for (l2, v, _), t in by.items()
                if l2 == ls and v == f"best-first{suffix}"
                and (ls, f"parallel-greedy{suffix}", t.seed) in by
            ]  # fmt: skip
            if not pairs:
                continue
            ends = [min(a.sim_time[-1], b.sim_time[-1]) for a, b in pairs]
            bf = [at_time(a, end) for (a, _), end in zip(pairs, ends, strict=True)]
            pg = [at_time(b, end) for (_, b), end in zip(pairs, ends, strict=True)]
            lower = sum(1 for x, y in zip(bf, pg, strict=True) if x < y)
            wins.setdefault(suffix, []).append(statistics.median(bf) < statistics.median(pg))
            lines.append(
                f"| {ls} | {NAMES[suffix]} | {_iqr(bf)} | {_iqr(pg)} | {lower}/{len(pairs)} |"
            )
    if len(lines) == 1:
        return []
    verdicts = [
        f"best-first vs parallel-greedy with {NAMES[s]} at equal wall-clock: lower median on "
        f"{sum(w)} of {len(w)} landscapes (target: at least 3 of 4)"
        for s, w in wins.items()
    ]
    return [*lines, "", *verdicts]


def tuner_summary(traces: list[Trace], rows: list[Row], experiments: int) -> str:
    """The three comparisons; "" when the traces hold none of them."""
    parts = [tuner_vs_mutator(rows), tuner_reach(rows, experiments), equal_wall_clock(traces)]
    return "\n\n".join("\n".join(p) for p in parts if p)
