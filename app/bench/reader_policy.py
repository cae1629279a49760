"""The scripted reader model's choice of the next change (app/bench/reader.py answers).

Coordinate descent over the parent's module-level constants, driven by the evidence the
prompt shows (app/bench/reader_parse.py reads it): every measured move `NAME a->b`
says on which side of the midpoint of a and b the constant's optimum lies, when its
delta exceeds the run-to-run spread (within it: no evidence), weighted by how near its
parent's constants are to this parent's. A candidate `NAME v->w` scores the strongest
evidence that implies it helps (or points its way from behind: less) less the strongest
that implies it hurts, less crashes at or beyond it; a constant no nearby experiment
moved scores UNTRIED. So it moves a constant further in a direction that helped,
transplants a known-good move, reverses one that hurt, tries half-way towards a value
that crashed (the edge lies between), and tries untried constants. When no single move
is promising it moves two constants together (a ridge), each the way that hurt least
alone first (app/bench/reader_joint.py repeats a pair that helped). It never proposes
a change tried from the parent, in flight from it, or a node that exists. Debug
requests move the crashed change half-way back, then undo it and move another
constant; merges bring in the diff's constants that the parent did not change.
"""

from __future__ import annotations

import dataclasses
import math
import random
import re
from collections import Counter
from dataclasses import dataclass

from autoresearch_tui.agents.mutator import Constant
from autoresearch_tui.app.bench.reader_parse import (
    Known,
    Value,
    View,
    constants,
    key,
    known_vectors,
    value,
    vectors_of,
)

FACTORS = (0.5, 0.67, 1.5, 2.0)
CRASH, NOISE_PENALTY, NOISE_CAP, MAX_WEIGHT = 3.0, 0.1, 0.4, 3.0
UNTRIED = 1.5  # the score of a constant no nearby experiment moved (in spreads)
PAIR, PAIR_WHEN = 0.3, 0.5  # a pair's score untried; singles below this: try pairs
PAIR_TILT = 0.1  # how much its halves' own scores order the untried pairs
POINTING = 0.75  # evidence that points a way from behind the candidate counts this much
MIN_LOG_STEP = 0.3  # a value moved to elsewhere is a candidate when this far (log2) away


@dataclass(frozen=True)
class Evidence:
    """One move with what it showed: gain > 0 helped, < 0 hurt (in spreads, clipped)."""

    name: str
    old: Value | None
    new: Value | None
    gain: float
    crashed: bool = False
    noise: bool = False  # within the spread: no evidence, but the constant was tried
    near: float = 1.0  # how near its parent is to this one (1: the same constants)


@dataclass(frozen=True)
class Candidate:
    constant: Constant
    new: Value
    score: float
    why: str
    also: tuple[tuple[Constant, Value], ...] = ()  # a second constant moved with it

    def changes(self) -> list[tuple[Constant, Value]]:
        return [(self.constant, self.new), *self.also]


def evidence_weight(delta: float | None, spread: float | None, goal: str, runs: int) -> float:
    """A move's evidence in spreads: > 0 helped, < 0 hurt, 0 within the noise."""
    if delta is None:
        return 0.0
    gain = -delta if goal == "min" else delta
    if spread is None:  # no noise measured yet: only the sign, at half weight
        return math.copysign(0.5, gain) if gain else 0.0
    if abs(gain) <= spread:
        return 0.0
    weight = min(abs(gain) / spread, MAX_WEIGHT) * (1.5 if runs >= 2 else 1.0)
    return math.copysign(weight, gain)


def evidence(view: View) -> list[Evidence]:
    """Every listed experiment's moves, each weighted by how near its parent is to this
    parent (1 / (1 + half the other constants that differ)) and shared among the
    constants it moved; then the table's trials that no listed experiment shows (a
    compressed list), at half weight, `joint` rows of one delta shared the same way."""
    parent = {c.name: key(c.value) for c in constants(view)}
    vectors = vectors_of(view, parent)
    out: list[Evidence] = []
    seen: set[tuple[str, str, str]] = set()
    for e in view.experiments.values():
        share = 1.0 / len(e.changes) if e.changes else 1.0
        where = vectors.get(e.parent_id)
        for c in e.changes:
            seen.add((c.name, key(c.old), key(c.new)))
            near = 0.5
            if where is not None:
                differ = sum(1 for n, v in where.items() if n != c.name and parent.get(n) != v)
                near = 1.0 / (1 + 0.5 * differ)
            gain = evidence_weight(e.delta, view.spread, view.goal, e.runs) * share * near
            noise = not e.crashed and gain == 0
            out.append(Evidence(c.name, c.old, c.new, gain, e.crashed, noise, near))
    joint = Counter((t.delta, t.runs) for t in view.trials if t.mark == "joint")
    for t in view.trials:
        if (t.name, key(t.old), key(t.new)) in seen:
            continue
        if t.delta is None:
            out.append(Evidence(t.name, t.old, t.new, 0.0, crashed=True, near=0.5))
            continue
        share = 1.0 / joint[(t.delta, t.runs)] if t.mark == "joint" else 1.0  # as above
        gain = 0.5 * evidence_weight(t.delta, view.spread, view.goal, t.runs) * share
        out.append(Evidence(t.name, t.old, t.new, gain, noise=gain == 0.0, near=0.5))
    return _discount(out)


def _discount(found: list[Evidence]) -> list[Evidence]:
    """A constant whose moves were mostly within the noise is mostly noise: its few
    moves beyond the spread count for the share of its moves that were."""
    out = []
    for e in found:
        mine = [x for x in found if x.name == e.name and not x.crashed]
        signal = sum(1 for x in mine if x.gain != 0.0)
        share = signal / len(mine) if len(mine) >= 3 else 1.0
        out.append(dataclasses.replace(e, gain=e.gain * share) if e.gain else e)
    return out


def as_number(v: Value | None) -> float | None:
    """A number's value as a float; None for a boolean, a string or nothing."""
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _axis(*values: float) -> bool:
    """Log scale when every value is positive (the landscapes' constants are)."""
    return all(x > 0 for x in values)


def _mid(a: float, b: float, log: bool) -> float:
    return (math.log2(a) + math.log2(b)) / 2 if log else (a + b) / 2


def _numeric_score(e: Evidence, v: float, w: float) -> float:
    a, b = as_number(e.old), as_number(e.new)
    if a is None or b is None or a == b:
        return 0.0
    log = _axis(a, b, v, w)
    to = (lambda x: math.log2(x)) if log else (lambda x: x)
    step, moved = math.copysign(1, w - v), math.copysign(1, b - a)
    if e.crashed:  # a crash beyond b: moving towards it, at or past b, is bad
        if step == moved and (to(w) - to(b)) * moved >= -1e-9:
            return -CRASH
        return -1.0 if step == moved and (to(w) - to(a)) * moved > 0 else 0.0
    if e.gain == 0.0:
        return 0.0
    side = moved if e.gain > 0 else -moved  # the optimum lies on this side of t
    t, m = _mid(a, b, log), _mid(v, w, log)
    if (t - m) * side >= -1e-9:  # the optimum lies beyond the candidate's midpoint
        return abs(e.gain) if side == step else -abs(e.gain)
    if side == step:  # it points this way from behind: less, the further behind
        return POINTING * abs(e.gain) * 2 ** -abs(t - m if log else (t - m) / max(abs(m), 1e-9))
    return 0.0


def _choice_score(e: Evidence, v: Value, w: Value) -> float:
    old, new = key(e.old), key(e.new)
    if e.crashed:
        return -CRASH if new == key(w) and old == key(v) else (-1.0 if new == key(w) else 0.0)
    if old == key(v) and new == key(w):
        return e.gain
    if old == key(w) and new == key(v):
        return -e.gain
    return 0.25 * e.gain if new == key(w) else 0.0


def score(c: Constant, w: Value, found: list[Evidence]) -> tuple[float, str]:
    """The candidate `c.name c.value->w` against the evidence, and why, in words: the
    strongest evidence for it less the strongest against it (repeats add nothing), an
    untried constant UNTRIED (in part when it was tried only from distant parents), a
    constant tried only within the noise a little less."""
    pro, con, tried, noise = (0.0, ""), (0.0, ""), 0.0, 0
    v_num, w_num = as_number(c.value), as_number(w)
    for e in (e for e in found if e.name == c.name):
        tried, noise = max(tried, e.near**2), noise + e.noise
        if v_num is not None and w_num is not None:
            s = _numeric_score(e, v_num, w_num)
        else:
            s = _choice_score(e, c.value, w)
        what = "crashed" if e.crashed else "helped" if e.gain > 0 else "hurt"
        text = f"{c.name} {e.old!r}->{e.new!r} {what}"
        if s > pro[0]:
            pro = (s, text)
        elif -s * (1.0 if e.crashed else e.near) > con[0]:  # a far context: less sure
            con = (-s * (1.0 if e.crashed else e.near), text)
    if not tried:
        return UNTRIED, f"{c.name} is untried"
    novelty = UNTRIED * (1.0 - tried)  # tried only far from here: partly untried
    total = pro[0] - con[0] + novelty - min(NOISE_PENALTY * noise, NOISE_CAP)
    reasons = [r for r in (pro[1], con[1] and f"though {con[1]}") if r]
    return total, "; ".join(reasons) or f"{c.name} tried {noise} time(s) within noise"


def round_sig(x: float) -> float:
    """Three significant digits, as the mutator writes values."""
    return float(f"{x:.3g}") if x and math.isfinite(x) else x


def round_like(x: float, like: Value | None) -> Value:
    """`x` written as `like` is: an integer, else three significant digits."""
    return round(x) if isinstance(like, int) else round_sig(x)


def _between(a: float, b: float, like: Value | None) -> Value:
    """Half-way between a and b (geometric on a log axis), written as `like` is."""
    return round_like(math.sqrt(a * b) if _axis(a, b) else (a + b) / 2, like)


def _far(v: float, w: Value) -> bool:
    x = as_number(w)
    if x is None:
        return False
    if _axis(v, x):
        return abs(math.log2(x / v)) >= MIN_LOG_STEP
    return abs(x - v) >= 0.2 * max(abs(v), 1e-9)


def steps(c: Constant, found: list[Evidence]) -> list[Value]:
    """The values to try for a constant: its neighbours and the values moved to."""
    v = c.value
    if isinstance(v, bool):
        return [not v]
    if isinstance(v, str):
        return list(c.choices)
    out: list[Value] = []
    if isinstance(v, int):
        if v >= 2 and v & (v - 1) == 0:
            out += [v * 2, v // 2]
        else:
            step = max(1, round(abs(v) * 0.25))
            out += [v + step, v - step] if v - step >= (1 if v >= 1 else 0) else [v + step]
    elif v == 0.0:
        out += [0.01, 0.1]
    else:
        for f in FACTORS:
            new = round_sig(v * f)
            if 0 < v < 1 <= new:  # a fraction stays one
                new = round_sig(1 - (1 - v) / f)
            out.append(new)
    out += [
        e.new
        for e in found
        if e.name == c.name and e.new is not None and not e.crashed and _far(v, e.new)
    ]
    out += [
        w for e in found if e.name == c.name and e.crashed and (w := _toward(v, e.new)) is not None
    ]
    seen = [e.new for e in found if e.name == c.name] + [e.old for e in found if e.name == c.name]
    same_type = [
        _snap(w, seen)
        for w in out
        if type(w) is type(v) or (as_number(w) is not None and isinstance(v, float))
    ]
    return list(dict.fromkeys(w for w in same_type if key(w) != key(v)))


def _toward(v: float, crashed: Value | None) -> Value | None:
    """Half-way from v to a value that crashed: the crash's edge lies between them."""
    b = as_number(crashed)
    if b is None or b == v:
        return None
    w = _between(v, b, crashed)
    return w if key(w) not in (key(v), key(crashed)) else None


def _snap(w: Value, seen: list[Value | None]) -> Value:
    """A value within 5% of one already tried is that value (0.201 is 0.2)."""
    x = as_number(w)
    for s in seen:
        y = as_number(s)
        if x is not None and y is not None and type(s) is type(w) and abs(x - y) <= 0.05 * abs(y):
            return s
    return w


def candidates(view: View, names: set[str] | None = None) -> list[Candidate]:
    """Every allowed single-constant move from the parent, scored (`names`: only these)."""
    every = constants(view)
    consts = [c for c in every if names is None or c.name in names]
    parent = {c.name: key(c.value) for c in every}
    known = known_vectors(view, parent)
    found = evidence(view)
    here = [view.experiments[n] for n in view.children if n in view.experiments]
    here += [f for f in view.flights if f.parent_id == view.parent_id]
    tried = {frozenset((c.name, key(c.new)) for c in e.changes) for e in here}
    elsewhere = {(c.name, key(c.old), key(c.new)) for f in view.flights for c in f.changes}
    out: list[Candidate] = []
    alone: list[Candidate] = []  # made already (from the parent), still half of a pair
    for c in consts:
        for w in steps(c, found):
            s, why = score(c, w, found)
            if (c.name, key(c.value), key(w)) in elsewhere:
                s -= 0.3  # being tried from another parent right now
            made = frozenset({(c.name, key(w))}) in tried
            made = made or frozenset({**parent, c.name: key(w)}.items()) in known
            (alone if made else out).append(Candidate(c, w, s, why))
    if max((c.score for c in out), default=0.0) < PAIR_WHEN:
        out += pairs(view, out + alone, known, parent)
    return out


def _direction(c: Constant, w: Value) -> int:
    v, x = as_number(c.value), as_number(w)
    return 0 if v is None or x is None else (1 if x > v else -1)


def pair_evidence(view: View) -> dict[tuple[str, int, str, int], float]:
    """What moving two numeric constants together did: (name, direction, name,
    direction) -> the strongest gain seen (in spreads)."""
    out: dict[tuple[str, int, str, int], float] = {}
    for e in view.experiments.values():
        if len(e.changes) != 2 or e.crashed:
            continue
        a, b = sorted(e.changes, key=lambda c: c.name)
        da = (as_number(a.new) or 0) - (as_number(a.old) or 0)
        db = (as_number(b.new) or 0) - (as_number(b.old) or 0)
        if da and db:
            k = (a.name, 1 if da > 0 else -1, b.name, 1 if db > 0 else -1)
            gain = evidence_weight(e.delta, view.spread, view.goal, e.runs)
            out[k] = max(out.get(k, gain), gain, key=abs)
    return out


def pairs(
    view: View, singles: list[Candidate], known: Known, parent: dict[str, str]
) -> list[Candidate]:
    """Two numeric constants moved together (a ridge that single steps cannot cross):
    PAIR each, more the better its halves scored alone (each may have been made alone
    already: the pair is still new), or what the same two directions did before."""
    seen = pair_evidence(view)
    found = evidence(view)
    sense = {
        c.constant.name: max((abs(e.gain) for e in found if e.name == c.constant.name), default=0.0)
        for c in singles
    }
    basic = [c for c in singles if _direction(c.constant, c.new) and "crashed" not in c.why]
    out = []
    for i, x in enumerate(basic):
        for y in basic[i + 1 :]:
            if x.constant.name == y.constant.name:
                continue
            a, b = sorted((x, y), key=lambda c: c.constant.name)
            k = (
                a.constant.name,
                _direction(a.constant, a.new),
                b.constant.name,
                _direction(b.constant, b.new),
            )
            vec = {**parent, a.constant.name: key(a.new), b.constant.name: key(b.new)}
            if frozenset(vec.items()) in known:
                continue
            both = min(sense[a.constant.name], sense[b.constant.name])
            halves = PAIR_TILT * (a.score + b.score)  # each way that hurt least alone first
            score = seen.get(k, PAIR + 0.2 * both + halves)
            why = f"{a.constant.name} and {b.constant.name} together" + (
                " again" if k in seen else ""
            )
            out.append(Candidate(a.constant, a.new, score, why, ((b.constant, b.new),)))
    return out


def _names(c: Candidate) -> tuple[str, ...]:
    return (c.constant.name, *(o.name for o, _ in c.also))


def rank(found: list[Candidate], rng: random.Random) -> list[Candidate]:
    """Best first: each constant's best move by score, then the other moves, so that
    proposals written side by side from one parent move different constants."""
    tie = {id(c): rng.random() for c in found}
    ordered = sorted(found, key=lambda c: (-round(c.score, 6), tie[id(c)]))
    firsts = list({_names(c): c for c in reversed(ordered)}.values())[::-1]
    firsts.sort(key=lambda c: (-round(c.score, 6), tie[id(c)]))
    return firsts + [c for c in ordered if c not in firsts]


def sibling_position(view: View) -> int:
    """Where this proposal stands among its parent's proposals being written at the same
    time (each prompt lists the others, not itself): its id is taken to be the first
    gap in theirs, so that siblings written together take different ranks."""
    theirs = sorted(
        int(f.node_id[1:])
        for f in view.flights
        if f.parent_id == view.parent_id and f.verdict == "being written"
    )
    if not theirs:
        return 0
    listed = {int(n[1:]) for n in view.experiments} | {int(f.node_id[1:]) for f in view.flights}
    me = next(i for i in range(theirs[0] - 1, max(listed) + 2) if i not in listed)
    return sum(1 for i in theirs if i < me)


def _halfway(c: Constant, old: Value | None) -> list[Value]:
    a, b = as_number(old), as_number(c.value)
    if a is None or b is None:
        return [old] if old is not None else []
    half = _between(a, b, c.value)
    return [w for w in (half, old) if w is not None and key(w) != key(c.value)]


def _ran_ancestor(view: View) -> tuple[dict[str, Value | None], int]:
    """(name -> its value in the parent's nearest ancestor that ran, for the constants
    changed since; how many crashed nodes in a row end the lineage)."""
    back: dict[str, Value | None] = {}
    chain = 0
    for node in reversed(view.lineage):
        e = view.experiments.get(node)
        if e is None or (node != view.parent_id and not e.crashed):
            break
        chain += e.crashed
        back.update({c.name: c.old for c in e.changes})
    return back, chain


def debug_changes(view: View, offset: int = 0) -> tuple[list[tuple[Constant, Value]], str]:
    """Fix a crashed parent. After one crash: a constant changed since the ancestor that
    ran, half-way back (one whose moves crashed elsewhere first). After a crashed fix:
    those constants all the way back, plus the best move of another constant."""
    back, chain = _ran_ancestor(view)
    parent = {c.name: key(c.value) for c in constants(view)}
    known = known_vectors(view, parent)
    found = evidence(view)
    crashed = {e.name for e in found if e.crashed}
    moved = [c for c in constants(view) if c.name in back and key(back[c.name]) != key(c.value)]
    halves = []
    for c in moved if chain <= 1 and not offset else []:
        for w in _halfway(c, back[c.name])[:1]:
            if frozenset({**parent, c.name: key(w)}.items()) not in known:
                halves.append((c.name in crashed, score(c, w, found)[0], c.name, c, w))
    if halves:
        *_, c, w = max(halves, key=lambda h: h[:3])
        return [(c, w)], f"{c.name} {c.value!r} crashed: half-way back to {back[c.name]!r}"
    reverts: list[tuple[Constant, Value]] = []
    for c in moved:
        if (old := back[c.name]) is not None:
            reverts.append((c, old))
    undone = {**parent, **{c.name: key(v) for c, v in reverts}}
    names = {c.name for c in moved}
    others = [
        c
        for c in rank(candidates(view), random.Random(view.parent_id))
        if not c.also
        and c.constant.name not in names
        and frozenset({**undone, c.constant.name: key(c.new)}.items()) not in known
    ]
    if others and offset < len(others) + 1:
        other = others[max(offset - 1, 0)]
        return [*reverts, (other.constant, other.new)], f"undo the crash; {other.why}"
    if reverts and not offset and frozenset(undone.items()) not in known:
        return reverts, "undo the crash"
    return [], ""  # nothing new here: the caller proposes a move from the parent


def merge_changes(view: View) -> list[tuple[Constant, Value]]:
    """The diff's constants applied to the parent, keeping the parent's own changes
    where both changed a constant: [] when the parent changed every one of them (it
    went its own way, often further: theirs would undo it)."""
    minus = dict(re.findall(r"^-([A-Z_][A-Z0-9_]*) = (.*)$", view.merge_diff, re.M))
    plus = dict(re.findall(r"^\+([A-Z_][A-Z0-9_]*) = (.*)$", view.merge_diff, re.M))
    clean: list[tuple[Constant, Value]] = []
    for c in constants(view):
        if c.name not in plus or (new := value(plus[c.name])) is None or key(new) == key(c.value):
            continue
        base = value(minus[c.name]) if c.name in minus else None
        if base is None or key(base) == key(c.value):
            clean.append((c, new))
    return clean
