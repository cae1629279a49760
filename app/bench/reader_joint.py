"""The scripted reader's pair rule (app/bench/reader.py asks it): repeat a joint move.

A move of two or three constants made together that helped beyond the spread (an
experiment whose change moved them, or the constants table's `joint` rows with one
delta) says nothing about either constant alone: on a ridge each is worse alone and
only the pair gains. So the pair is a candidate of its own, scored like a single
transplant (the gain it showed, weighted by how near its parent is to this one):
transplanted as one change when the parent lacks it, and continued by the same step
when the parent already made it. Everything comes from the prompt text (a `View`).
"""

from __future__ import annotations

from dataclasses import dataclass

from autoresearch_tui.agents.mutator import Constant
from autoresearch_tui.app.bench.reader_parse import (
    Change,
    Value,
    View,
    constants,
    key,
    known_vectors,
    vectors_of,
)
from autoresearch_tui.app.bench.reader_policy import (
    Candidate,
    as_number,
    evidence_weight,
    round_like,
)

MAX_JOINT = 3  # more constants moved at once than this: too vague to repeat


@dataclass(frozen=True)
class Joint:
    """A joint move that helped: its changes, its gain (in spreads), its parent."""

    changes: tuple[Change, ...]
    gain: float
    parent_id: str = ""  # "" when only the table shows it


def joint_moves(view: View) -> list[Joint]:
    """The joint moves that helped beyond the spread: listed experiments that moved 2–3
    constants, then the table's `joint` rows (those sharing one delta and run count are
    one move) that no listed experiment shows, at half weight as any table entry."""
    out = []
    listed: set[tuple[str, str, str]] = set()
    for e in view.experiments.values():
        listed |= {(c.name, key(c.old), key(c.new)) for c in e.changes}
        gain = evidence_weight(e.delta, view.spread, view.goal, e.runs)
        if 2 <= len(e.changes) <= MAX_JOINT and not e.crashed and gain > 0:
            out.append(Joint(e.changes, gain, e.parent_id))
    rows: dict[tuple[float, int], list[Change]] = {}
    for t in view.trials:
        if (
            t.mark == "joint"
            and t.delta is not None
            and (t.name, key(t.old), key(t.new)) not in listed
        ):
            rows.setdefault((t.delta, t.runs), []).append(Change(t.name, t.old, t.new))
    for (delta, runs), changes in rows.items():
        gain = 0.5 * evidence_weight(delta, view.spread, view.goal, runs)
        if 2 <= len(changes) <= MAX_JOINT and gain > 0:
            out.append(Joint(tuple(changes), gain))
    return out


def _further(c: Constant, move: Change) -> Value | None:
    """One more step of `move` from c's value (the same ratio, or difference)."""
    v, a, b = as_number(c.value), as_number(move.old), as_number(move.new)
    if v is None or a is None or b is None or a == b:
        return None
    w = v * b / a if min(v, a, b) > 0 else v + b - a
    out = round_like(w, c.value)
    return out if key(out) != key(c.value) else None


def _apply(joint: Joint, by_name: dict[str, Constant]) -> tuple[list[tuple[Constant, Value]], str]:
    """The joint move applied to the parent: its values where the parent lacks them
    (a transplant), else one more step of each (a continuation); [] when neither fits."""
    if any(c.name not in by_name or c.new is None for c in joint.changes):
        return [], ""
    lacking = [
        (by_name[c.name], c.new) for c in joint.changes if key(c.new) != key(by_name[c.name].value)
    ]
    if lacking:
        return [(c, v) for c, v in lacking if v is not None], "transplant"
    further = [(by_name[c.name], _further(by_name[c.name], c)) for c in joint.changes]
    if any(w is None for _, w in further):
        return [], ""
    return [(c, w) for c, w in further if w is not None], "continue"


def joint_candidates(view: View) -> list[Candidate]:
    """The parent's candidates from the joint moves that helped: never one tried or in
    flight from the parent, nor a node that exists."""
    every = constants(view)
    by_name = {c.name: c for c in every}
    parent = {c.name: key(c.value) for c in every}
    known = known_vectors(view, parent)
    vectors = vectors_of(view, parent)
    here = [view.experiments[n] for n in view.children if n in view.experiments]
    here += [f for f in view.flights if f.parent_id == view.parent_id]
    tried = {frozenset((c.name, key(c.new)) for c in e.changes) for e in here}
    out = []
    for joint in joint_moves(view):
        changes, how = _apply(joint, by_name)
        if not changes or frozenset((c.name, key(w)) for c, w in changes) in tried:
            continue
        if frozenset({**parent, **{c.name: key(w) for c, w in changes}}.items()) in known:
            continue
        names = {c.name for c in joint.changes}
        where = vectors.get(joint.parent_id)
        near = 0.5 if joint.parent_id else 1.0  # a table row's gain is halved already
        if where is not None:
            differ = sum(1 for n, v in where.items() if n not in names and parent.get(n) != v)
            near = 1.0 / (1 + 0.5 * differ)
        moves = ", ".join(f"{c.name} {c.old!r}->{c.new!r}" for c in joint.changes)
        why = f"{moves} together helped: {how} the pair"
        (first, w), *rest = changes
        out.append(Candidate(first, w, joint.gain * near, why, tuple(rest)))
    return out
