"""Scoring `bench search`: the table, the summary against the ratchet, and the plot.

Every policy's traces are compared with the ratchet's on the same landscape and seed:
the final true best (median and quartiles over seeds), the experiments it took to reach
the ratchet's final best, and the ratchet's best at equal simulated wall-clock.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from autoresearch_tui.app.bench.landscapes import LANDSCAPES
from autoresearch_tui.app.bench.search_runs import VARIANTS, Trace

READER, BLIND = "best-first+reader", "best-first+reader-blind"


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


def reach_text(median: float, experiments: int) -> str:
    """A median count of experiments and its share of the budget, as "32.5 (41%)": over an
    even number of seeds the median can fall between two counts, and rounding it to "32"
    beside a share above 40% would contradict the target check."""
    return f"{median:g} ({median / experiments:.0%})"


def not_reached(reached: int, seeds: int) -> str:
    """A median seed that never reaches the target, and how many seeds did."""
    return f"not reached by the median seed ({reached}/{seeds} seeds reach it)"


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


def reach_line(r: Row, experiments: int) -> str:
    """The row's median experiments to the ratchet's final best and how many seeds reach it."""
    if math.isfinite(r.reach_median):
        return f"{reach_text(r.reach_median, experiments)}, reached in {r.reached}/{r.seeds} seeds"
    return not_reached(r.reached, r.seeds)


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
        reached = (
            reach_text(r.reach_median, experiments)
            if math.isfinite(r.reach_median)
            else f">{experiments}"
        )
        lines.append(
            f"| {r.landscape} | {r.variant} | {med:.4f} [{q1:.4f}–{q3:.4f}] | {r.gain:.4f} | "
            f"{reached} | {r.reached}/{r.seeds} | {r.crash_waste:.1f} | {r.reruns:.0f} | "
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
                f"{r.reach_median / experiments:.0%}"
                if math.isfinite(r.reach_median)
                else not_reached(r.reached, r.seeds)
            )
            end = "lower" if r.final[1] < ratchet.get(r.landscape, math.inf) else "not lower"
            parts.append(
                f"{r.landscape} {share}, ends {end}; at equal wall-clock lower in "
                f"{r.lower_same_time}/{r.seeds} seeds"
            )
        out.append(f"{v} vs ratchet: " + "; ".join(parts))
    return "\n".join(out)


def compared(rows: list[Row], variant: str, other: str, headline: str, pair: str) -> list[str]:
    """`variant` vs `other` by median final true best, on the landscapes that ran both:
    `headline` (filled with `lower`, on how many `variant` is lower, and `n`), then one
    line per landscape (`pair` filled with `a`, `variant`'s figure, and `b`, `other`'s)."""
    by = {(r.landscape, r.variant): r for r in rows}
    pairs = [
        (ls, by[(ls, variant)].final[1], by[(ls, other)].final[1])
        for ls in dict.fromkeys(r.landscape for r in rows)
        if (ls, variant) in by and (ls, other) in by
    ]
    if not pairs:
        return []
    lower = sum(1 for _, a, b in pairs if a < b)
    return [headline.format(lower=lower, n=len(pairs))] + [
        f"  {ls}: {pair.format(a=a, b=b)} ({'lower' if a < b else 'not lower'})"
        for ls, a, b in pairs
    ]


def reader_summary(rows: list[Row], experiments: int) -> str:
    """The reader benchmark's two figures (issue 12): per landscape, the median final
    true best of best-first with the reader vs the same reader with the results hidden,
    and whether best-first with the reader reaches the ratchet's final best (same seed)
    in at most half of the experiments. "" when the rows hold neither comparison."""
    by = {(r.landscape, r.variant): r for r in rows}
    landscapes = list(dict.fromkeys(r.landscape for r in rows))
    out = compared(
        rows, READER, BLIND,
        "reader vs reader-blind (median final true best, best-first): lower on {lower} of "
        "{n} landscapes (target: at least 3 of 4)",
        "reader {a:.4f}, blind {b:.4f}",
    )  # fmt: skip
    reach_rows = [
        (ls, by[(ls, READER)]) for ls in landscapes if (ls, READER) in by and (ls, "ratchet") in by
    ]
    if reach_rows:
        half = experiments / 2
        hits = sum(1 for _, r in reach_rows if r.reach_median <= half)
        out.append(
            f"best-first+reader reaches the ratchet's final best (same seed; median over seeds) "
            f"in <= 50% of the {experiments} experiments on {hits} of {len(reach_rows)} landscapes"
        )
        for ls, r in reach_rows:
            verdict = "yes" if r.reach_median <= half else "no"
            out.append(f"  {ls}: {reach_line(r, experiments)}: {verdict}")
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
              "best-first+bandit": "#9467bd", "best-first-plain": "#8c564b",
              READER: "#ff7f0e", BLIND: "#7f7f7f", "ratchet+reader": "#e377c2",
              "best-first+tpe": "#17becf", "best-first+cmaes": "#bcbd22", "best-first+gp": "#2f4f4f",
              "best-first+mixed": "#393b79", "parallel-greedy": "#ff9896",
              "parallel-greedy+tpe": "#9edae5", "ratchet+tpe": "#c49c94"}  # fmt: skip
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
