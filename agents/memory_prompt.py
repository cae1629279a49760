"""How the tree's memory reads in a prompt (the `Memory` that search/memory.py builds).

Two parts. `shared_part` is the same for every parent of one tree, so it comes first in
the task (providers cache a prompt's stable prefix): the run-to-run spread, the best,
every measured experiment by id, and the table of constants tried. `parent_part` is this
parent's: the proposals in flight, its lineage and its children. One line per experiment:

    - n0012 [architect] <n0007: … > deeper model > warmup 0.2 {WARMUP 0.1->0.2}:
      1.0123 (mean of 2), Δ -0.0100 better vs n0007: within noise

(on one line), and one line per constant in the table:

    - WARMUP: 0.1->0.2 -0.0100 (3 runs) ✓; 0.2->0.4 +0.0500 (1 run) ✗; 0.1->0.05 crashed (1)

Values, Δ and verdicts are search/values.py's, in the words every other surface uses
(agents/format.py): a value is the mean over a node's runs; a verdict compares the Δ
with the spread.
"""

from __future__ import annotations

from autoresearch_tui.agents.format import fmt_change, fmt_delta, fmt_value
from autoresearch_tui.agents.request import (
    ConstantTrial,
    InFlight,
    Memory,
    NodeResult,
    TunerHistory,
)

MARKS = (
    "✓ better beyond the spread, ✓? better once, ≈ within noise, ✗ worse beyond the spread, "
    "joint only ever moved together with other constants (their delta together); the "
    "delta is over the experiments that made the move alone when there are any"
)


def _runs(count: int) -> str:
    return f"{count} run{'s' if count != 1 else ''}"


def result_line(r: NodeResult) -> str:
    """One experiment: id, persona, path and constants, mean and runs, delta, verdict."""
    if not r.parent_id:
        return f"- {r.node_id} base: {fmt_value(r.mean, r.runs)}"
    constants = f" {{{', '.join(r.constants)}}}" if r.constants else ""
    head = f"- {r.node_id} [{r.persona}] <{r.parent_id}: {' > '.join(r.path)}{constants}: "
    pruned = " (pruned)" if r.pruned else ""
    if r.mean is None:
        return f"{head}{r.verdict}{pruned}"
    change = fmt_change(r.delta, r.better, r.reference or r.parent_id)
    delta = f", {change}" if change else ""
    return f"{head}{fmt_value(r.mean, r.runs)}{delta}: {r.verdict}{pruned}"


def _trial(t: ConstantTrial) -> str:
    move = f"{t.old or '(new)'}->{t.new or '(removed)'}"
    if t.mean_delta is None:
        return f"{move} crashed ({t.crashed})"
    crashed = f", {t.crashed} crashed" if t.crashed else ""
    return f"{move} {fmt_delta(t.mean_delta)} ({_runs(t.runs)}{crashed}) {t.mark}"


def constants_table(trials: tuple[ConstantTrial, ...]) -> list[str]:
    lines: list[str] = []
    by_name: dict[str, list[str]] = {}
    for t in trials:
        by_name.setdefault(t.name, []).append(_trial(t))
    for name, moves in by_name.items():
        lines.append(f"- {name}: {'; '.join(moves)}")
    return lines


def noise_line(memory: Memory, metric: str) -> str:
    if memory.spread is None:
        return (
            "Run-to-run spread: not measured yet (no commit has two runs). Treat small "
            f"differences in {metric} as noise."
        )
    return (
        f"Run-to-run spread ≈ {fmt_delta(memory.spread, signed=False)} over "
        f"{memory.spread_runs} runs of {memory.spread_commits} "
        f"commit{'s' if memory.spread_commits != 1 else ''} (the base's calibration runs "
        "and re-runs: two standard deviations of one run). A difference within it is "
        "noise. Values are means over a node's runs, never a first run alone."
    )


def best_lines(memory: Memory, metric: str) -> list[str]:
    lines = []
    if memory.best is not None:
        b = memory.best
        label = "the base" if not b.parent_id else " > ".join(b.path)
        lines.append(
            f"Best so far (confirmed): {b.node_id} {metric} {fmt_value(b.mean, b.runs)} — {label}"
        )
    if memory.best_unconfirmed is not None:
        u = memory.best_unconfirmed
        change = fmt_change(u.delta, u.better, u.reference or u.parent_id)
        lines.append(
            f"Better but not confirmed: {u.node_id} {metric} {fmt_value(u.mean, u.runs)}"
            f"{', ' + change if change else ''} ({u.verdict}: not a gain until re-runs "
            f"confirm it) — {' > '.join(u.path)}"
        )
    return lines


def shared_part(memory: Memory, metric: str, goal: str) -> list[str]:
    """The sections every parent of this tree gets, identical for all of them."""
    direction = "lower is better" if goal == "min" else "higher is better"
    head = [
        f"Metric: {metric} ({direction}).",
        noise_line(memory, metric),
        *best_lines(memory, metric),
    ]
    parts = ["\n".join(head)]
    listed = len(memory.results)
    omitted = memory.measured - listed
    title = (
        f"## Results so far ({memory.measured} experiments, by id; each: [persona] "
        "<parent: path of changes {changed constants}: value (the mean of its runs), "
        "Δ = value minus its parent's value, better or worse: verdict)"
    )
    lines = [result_line(r) for r in memory.results]
    if omitted:
        lines.append(
            f"- ({omitted} more experiments not listed: neither the best, the most recent "
            "nor a new kind of crash; their constants are in the table below)"
        )
    parts.append(title + "\n" + "\n".join(lines))
    if memory.constants:
        parts.append(
            "## Constants tried (old->new: mean delta vs the parent, runs; "
            f"{MARKS})\n" + "\n".join(constants_table(memory.constants))
        )
    return parts


def _in_flight(f: InFlight) -> str:
    what = {"proposing": "being written", "ready": "queued", "running": "running"}[f.status]
    if f.description:
        constants = f" {{{', '.join(f.constants)}}}" if f.constants else ""
        what = f"{f.description}{constants} ({what})"
    return f"- {f.node_id} [{f.persona}] <{f.parent_id}: {what}"


def parent_part(memory: Memory, parent_id: str) -> list[str]:
    """This parent's sections: proposals in flight, its lineage, its children."""
    parts = []
    if memory.in_flight:
        parts.append(
            "## Being tried right now (do not duplicate these)\n"
            + "\n".join(_in_flight(f) for f in memory.in_flight)
        )
    parts.append(
        f"## Lineage of the parent {parent_id} (base -> parent)\n"
        + "\n".join(result_line(r) for r in memory.lineage)
    )
    if memory.children:
        parts.append(
            f"## Already tried from {parent_id} (do not repeat them)\n"
            + "\n".join(result_line(r) for r in memory.children)
        )
    return parts


def belief_part(history: TunerHistory | None) -> list[str]:
    """The tuner persona's current belief about this parent's code (search/tuner_history.py):
    per constant, the best trial's value and the range among the best trials; at most
    one heading and 12 lines, none when no tuner is in the search or nothing varied yet."""
    if history is None or not history.belief:
        return []
    seeded = f", seeded from {history.seeded_from}'s code" if history.seeded_from else ""
    lines = [
        f"- {b.name}: best {b.best}"
        + (f" (best trials: {b.low}..{b.high})" if b.low != b.high else "")
        for b in history.belief
    ]
    return [
        f"## The tuner's belief ({history.measured} measured trials of this code{seeded}; "
        "it tunes these constants itself: change the code, or what it cannot reach)\n"
        + "\n".join(lines)
    ]
