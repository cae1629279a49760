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

import statistics
from collections.abc import Sequence

from autoresearch_tui.app.bench.search_runs import Trace
from autoresearch_tui.app.bench.search_scores import (
    Row,
    at_time,
    compared,
    quartiles,
    reach_line,
)

# The variants' suffixes: mutator, tuners, the scripted reader (app/bench/reader.py).
PROPOSERS = ("", "+tpe", "+gp", "+cmaes", "+mixed", "+reader")
NAMES = {"": "mutator", "+tpe": "tuner (TPE)", "+gp": "tuner (GP)", "+cmaes": "tuner (CMA-ES)",
         "+mixed": "mixed", "+reader": "reader"}  # fmt: skip
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
            met = "met" if r.reach_median <= REACH_TARGET * experiments else "not met"
            out.append(f"  {r.landscape}: {reach_line(r, experiments)} ({met})")
    return out


def done_by(trace: Trace, when: float) -> int:
    """Experiments the trace had finished by simulated time `when`."""
    return sum(1 for t in trace.sim_time if t <= when + 1e-9)


def _pair_row(ls: str, suffix: str, pairs: list[tuple[Trace, Trace]]) -> tuple[str, bool]:
    """One table row of best-first vs parallel-greedy (same seeds), each read at the earlier
    of the two ends, and whether best-first's median is the lower."""
    ends = [min(a.sim_time[-1], b.sim_time[-1]) for a, b in pairs]
    bf = [at_time(a, end) for (a, _), end in zip(pairs, ends, strict=True)]
    pg = [at_time(b, end) for (_, b), end in zip(pairs, ends, strict=True)]
    lower = sum(1 for x, y in zip(bf, pg, strict=True) if x < y)
    ties = sum(1 for x, y in zip(bf, pg, strict=True) if x == y)
    tied = f" ({ties} tied)" if ties else ""
    done = [(done_by(a, end), done_by(b, end)) for (a, b), end in zip(pairs, ends, strict=True)]
    row = (
        f"| {ls} | {NAMES[suffix]} | {_iqr(bf)} | {_iqr(pg)} | {lower}/{len(pairs)}{tied} | "
        f"{statistics.median(ends):.1f} | {statistics.median(d for d, _ in done):g} / "
        f"{statistics.median(d for _, d in done):g} |"
    )
    return row, statistics.median(bf) < statistics.median(pg)


def equal_wall_clock(traces: list[Trace]) -> list[str]:
    """Best-first vs parallel-greedy, same proposer and seed, read at the same time: when
    the earlier of the two finished its last experiment (simulated, in run-lengths)."""
    by = {(t.landscape, t.variant, t.seed): t for t in traces}
    landscapes = list(dict.fromkeys(t.landscape for t in traces))
    head = (
        "| landscape | proposer | best-first at equal wall-clock | parallel-greedy | "
        "best-first lower in | read at (run-lengths, median) | experiments by then: "
        "best-first / parallel-greedy (median) |\n|---|---|---|---|---|---|---|"
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
            row, won = _pair_row(ls, suffix, pairs)
            lines.append(row)
            wins.setdefault(suffix, []).append(won)
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
