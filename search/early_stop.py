"""The early-stopping rule: is a running experiment already losing to its parent?

Pure functions, no I/O (the engine feeds them stored points and commits' files).

* A curve is a list of `Point`s, (progress 0..1, loss): `progress_points` makes one from
  stored points rows, by the `(p%)` the run printed or else by its elapsed time over the
  parent's run time.
* `judge` compares a run with its parent at the same progress (never at the same step or
  second): from `after` on, a run whose smoothed loss is worse than the parent's by more
  than `margin`, over its last two windows of progress and not catching up, and worse
  than the best node's curve in the same way, is stopped. Losses are training losses:
  lower is better, whatever the metric's goal.
* `exempt` says why a change is never stopped early: it touches the learning-rate
  schedule, the budget or the logging, so its curve is not comparable with the parent's.
"""

from __future__ import annotations

import ast
import bisect
import difflib
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import autoresearch_tui.agents.pyast as pyast
from autoresearch_tui.agents.format import fmt_delta, fmt_metric
from autoresearch_tui.search.constants import (
    constant_changes,
    files_constants,
    module_assignments,
    module_constants,
)

Point = tuple[float, float]  # (progress 0..1, loss)

WINDOW = 0.1  # the span of progress a smoothed loss is read over
CLOSING = 1e-9  # a gap smaller than the window before's by more than this is closing

# Name parts (identifiers split at `_` and case changes, lower-cased) by what they touch.
SCHEDULE = frozenset(
    {"lr", "lrs", "learning", "warmup", "warmdown", "cooldown", "decay", "schedule"}
    | {"scheduler", "momentum", "anneal", "annealing"}
)
BUDGET = frozenset({"budget", "iters", "iterations", "steps", "epochs", "epoch"})
LOGGING = frozenset(
    {"print", "log", "logging", "logger", "interval", "eval", "verbose", "ema", "smooth"}
)
KINDS = (
    ("the learning-rate schedule", SCHEDULE),
    ("the budget", BUDGET),
    ("the logging", LOGGING),
)
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[A-Z]+")


@dataclass(frozen=True)
class StopVerdict:
    """Why a run is stopped: where, its loss, the parent's and the best's there."""

    progress: float  # 0..1 where it was judged
    loss: float  # the run's smoothed loss there
    parent_loss: float  # the parent's smoothed loss at the same progress
    best_loss: float | None  # the best node's, when a best curve was given
    margin: float  # in loss units, as used

    def reason(self) -> str:
        """`stopped at 46%: loss 3.4100 vs parent 3.2800 at the same point (margin 0.0500)`."""
        return (
            f"stopped at {self.progress * 100:.0f}%: loss {fmt_metric(self.loss)} vs parent "
            f"{fmt_metric(self.parent_loss)} at the same point "
            f"(margin {fmt_delta(self.margin, signed=False) or '0'})"
        )


def loss_at(curve: Sequence[Point], progress: float, window: float = WINDOW) -> float | None:
    """The curve's smoothed loss at `progress`: the median of its points within half a
    window on either side (one spike does not move it), or interpolated between the
    points around it when none is that close; None when the curve does not reach it."""
    ordered = sorted(curve)
    return _smoothed([p for p, _ in ordered], [loss for _, loss in ordered], progress, window)


def _smoothed(ps: list[float], losses: list[float], at: float, window: float) -> float | None:
    if not ps or ps[-1] < at or ps[0] > at:
        return None  # the curve does not reach it, or starts after it: nothing known there
    lo, hi = bisect.bisect_left(ps, at - window / 2), bisect.bisect_right(ps, at + window / 2)
    if hi > lo:
        return statistics.median(losses[lo:hi])
    right = bisect.bisect_left(ps, at)  # no point within the window: ps[right - 1] < at < ps[right]
    p0, p1, l0, l1 = ps[right - 1], ps[right], losses[right - 1], losses[right]
    return l0 + (l1 - l0) * (at - p0) / (p1 - p0)


def judge(
    run: Sequence[Point],
    parent: Sequence[Point],
    best: Sequence[Point] | None,
    *,
    after: float,
    margin: float,
    window: float = WINDOW,
) -> StopVerdict | None:
    """A verdict to stop the run now, or None to keep it running (see the module doc).

    Each of the run's points in the last `window` of progress is set against the
    parent's smoothed loss at that point's own progress, and the median of these
    differences is the run's gap (neither one spike nor a run that logs more or less
    often than its parent decides it). The run is losing when its gap exceeds `margin`
    over the last window and over the window before it too (persistent, not one bad
    stretch), and the gap is not closing (a slow starter, catching up, runs on). The
    same against the best's curve, when one is given."""
    if not run:
        return None
    progress = max(p for p, _ in run)
    if progress < after:
        return None
    recent = [(p, loss) for p, loss in run if p >= progress - window]
    earlier = [(p, loss) for p, loss in run if progress - 2 * window <= p < progress - window]
    mine = statistics.median(loss for _, loss in recent)
    gap = _losing(recent, earlier, parent, window, margin)
    if gap is None:
        return None
    best_loss = None
    if best is not None:
        best_gap = _losing(recent, earlier, best, window, margin)
        if best_gap is None:
            return None
        best_loss = mine - best_gap
    return StopVerdict(progress, mine, mine - gap, best_loss, margin)


def _losing(
    recent: list[Point], earlier: list[Point], other: Sequence[Point], window: float, margin: float
) -> float | None:
    """The run's gap to `other` over the recent window when it is losing to it (see
    `judge`), else None."""
    ordered = sorted(other)
    ps, losses = [p for p, _ in ordered], [loss for _, loss in ordered]
    now, before = _gap(recent, ps, losses, window), _gap(earlier, ps, losses, window)
    if now is None or before is None or now <= margin or before <= margin:
        return None
    return None if now < before - CLOSING else now


def _gap(points: list[Point], ps: list[float], losses: list[float], window: float) -> float | None:
    """The median of the points' losses minus the other curve's (ps, losses) smoothed
    loss at each point's progress; None without points or where it does not reach."""
    diffs = []
    for p, loss in points:
        there = _smoothed(ps, losses, p, window)
        if there is None:
            return None
        diffs.append(loss - there)
    return statistics.median(diffs) if diffs else None


def progress_points(rows: Iterable[Sequence[float]], budget_s: float | None) -> list[Point]:
    """A curve from stored points rows (step, loss, elapsed s, progress %): the printed
    progress when the run prints one, else elapsed / `budget_s` (the parent's run time);
    [] when neither is known."""
    rows = list(rows)
    if any(row[3] > 0 for row in rows):
        return [(row[3] / 100, row[1]) for row in rows]
    if not budget_s or budget_s <= 0:
        return []
    return [(min(row[2] / budget_s, 1.0), row[1]) for row in rows]


def exempt(parent_files: Mapping[str, str], files: Mapping[str, str]) -> str | None:
    """Why this change is never stopped early (`touches the budget (TIME_BUDGET)`), or
    None. Read from the diff: the module-level constants that changed by name, the other
    changed lines by the identifiers they use and the functions they sit in."""
    found: dict[str, list[str]] = {}
    changes = constant_changes(files_constants(parent_files), files_constants(files))
    for change in changes:
        _note(found, change.name.rsplit(":", 1)[-1], change.name)
    for path in sorted(set(parent_files) | set(files)):
        old, new = parent_files.get(path, ""), files.get(path, "")
        if old != new:
            for words, label in _changed_code(path, old, new):
                _note(found, words, label)
    for kind, _ in KINDS:
        if kind in found:
            return f"touches {kind} ({', '.join(found[kind][:3])})"
    return None


def _note(found: dict[str, list[str]], text: str, label: str) -> None:
    parts = {w.lower() for w in _WORD.findall(text)}
    for kind, words in KINDS:
        if parts & words and label not in found.setdefault(kind, []):
            found[kind].append(label)


def _changed_code(path: str, old: str, new: str) -> list[tuple[str, str]]:
    """(text to read, label) of each changed line that is not a constant's assignment
    (constants are read by name), and of the function each changed line sits in."""
    old_lines, new_lines = old.splitlines(), new.splitlines()
    old_map, new_map = _line_roles(path, old), _line_roles(path, new)
    out: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        hunk = [_code(line) for line in new_lines[j1:j2]]
        now = next((code for code in hunk if code), "")  # a replaced line is named as it is now
        sides = ((old_lines, old_map, i1, i2, now), (new_lines, new_map, j1, j2, ""))
        for lines, roles, start, stop, name in sides:
            for number in range(start, stop):
                role = roles.get(number + 1, "")
                if role != "constant" and (code := _code(lines[number])):
                    out.append((code, (name or code)[:40]))
                if role and role != "constant":
                    out.append((role, f"{role}()"))
    return out


def _code(line: str) -> str:
    """A line without its comment and indentation."""
    return line.split("#", 1)[0].strip()


def _line_roles(path: str, source: str) -> dict[int, str]:
    """line number -> "constant" for module-level assignments, or the innermost
    function's name for lines inside a function (Python files that parse)."""
    if not path.endswith(".py"):
        return {}
    try:
        module = pyast.parse(source)
    except (SyntaxError, ValueError):
        return {}
    roles: dict[int, str] = {}
    for node in ast.walk(module):  # breadth first: an inner function overwrites its outer
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for number in range(node.lineno, (node.end_lineno or node.lineno) + 1):
                roles[number] = node.name
    names = set(module_constants(source))
    for statement, name, _ in module_assignments(module):
        if name in names:
            for number in range(statement.lineno, (statement.end_lineno or statement.lineno) + 1):
                roles[number] = "constant"
    return roles
