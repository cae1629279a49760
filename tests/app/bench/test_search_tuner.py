"""The tuner comparisons' printout (app/bench/search_tuner.py) on hand-made traces."""

from __future__ import annotations

from autoresearch_tui.app.bench.search_runs import Trace
from autoresearch_tui.app.bench.search_scores import score, table
from autoresearch_tui.app.bench.search_tuner import done_by, equal_wall_clock, tuner_reach

N = 80  # experiments per search


def _trace(variant: str, seed: int, reach_at: int | None, ls: str = "additive") -> Trace:
    """A search that steps from 1.0 to 0.5 at experiment `reach_at` (None: never), one
    experiment per unit of simulated time."""
    at = reach_at or N + 1
    best = [1.0 if i + 1 < at else 0.5 for i in range(N)]
    return Trace(ls, variant, seed, 1.0, best_true=best, sim_time=[i + 1.0 for i in range(N)])


def _ratchet(seed: int) -> Trace:
    return _trace("ratchet", seed, N)  # its final best, 0.5, comes at the last experiment


def test_a_median_between_two_counts_is_printed_as_such_and_judged_by_it() -> None:
    # two seeds reach the ratchet's final best at 32 and 33 experiments: the median seed
    # needs 32.5, just over 40% of 80, which is not met (it used to print as "32 (41%)")
    traces = [_ratchet(0), _ratchet(1)]
    traces += [_trace("best-first+tpe", 0, 32), _trace("best-first+tpe", 1, 33)]
    rows = score(traces, N)
    lines = tuner_reach(rows, N)
    assert "within 40% of 80 experiments on 0 of 1 landscapes" in lines[0]
    assert lines[1] == "  additive: 32.5 (41%), reached in 2/2 seeds (not met)"
    assert "| 32.5 (41%) | 2/2 |" in table(rows, N)
    # at 32 for both seeds the target is met, and the count is whole
    met = [
        _ratchet(0),
        _ratchet(1),
        _trace("best-first+tpe", 0, 32),
        _trace("best-first+tpe", 1, 32),
    ]
    lines = tuner_reach(score(met, N), N)
    assert "on 1 of 1 landscapes" in lines[0]
    assert lines[1] == "  additive: 32 (40%), reached in 2/2 seeds (met)"


def test_a_median_seed_that_never_reaches_says_how_many_seeds_did() -> None:
    traces = [_ratchet(s) for s in range(3)]
    traces += [_trace("best-first+tpe", 0, 10)]
    traces += [_trace("best-first+tpe", s, None) for s in (1, 2)]
    lines = tuner_reach(score(traces, N), N)
    assert lines[1] == "  additive: not reached by the median seed (1/3 seeds reach it) (not met)"


def _waves(seed: int, ls: str, early: float, late: float) -> Trace:
    """parallel-greedy: 4 runs per wave, each wave one unit long, so 80 experiments end at
    20; its best is `early` until 18 and `late` from then on."""
    times = [float(1 + i // 4) for i in range(N)]
    best = [early if t < 18 else late for t in times]
    return Trace(ls, "parallel-greedy", seed, 1.0, best_true=best, sim_time=times)


def _steady(seed: int, ls: str, value: float) -> Trace:
    """best-first: 80 experiments over 16 units of time, at `value` from the 40th on."""
    times = [(i + 1) * 0.2 for i in range(N)]
    best = [1.0 if i < 40 else value for i in range(N)]
    return Trace(ls, "best-first", seed, 1.0, best_true=best, sim_time=times)


def test_equal_wall_clock_reads_both_at_the_earlier_end_and_says_when() -> None:
    traces = [_steady(0, "additive", 0.7), _waves(0, "additive", 0.8, 0.6)]
    traces += [_steady(0, "deceptive", 0.9), _waves(0, "deceptive", 0.9, 0.5)]
    lines = equal_wall_clock(traces)
    # best-first ends at 16: parallel-greedy has run 64 of its 80 and is at 0.8, not 0.6
    assert done_by(traces[1], 16.0) == 64
    assert lines[1] == (
        "| additive | mutator | 0.7000 [0.7000–0.7000] | 0.8000 [0.8000–0.8000] | 1/1 | "
        "16.0 | 80 / 64 |"
    )
    # a tie is neither side's win, and the row says so
    assert lines[2].endswith("| 0/1 (1 tied) | 16.0 | 80 / 64 |")
    assert lines[-1] == (
        "best-first vs parallel-greedy with mutator at equal wall-clock: lower median on "
        "1 of 2 landscapes (target: at least 3 of 4)"
    )
