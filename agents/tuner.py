"""The `tuner` persona (backend `optuna`): Optuna over the module-level constants.

No model and no API key. The search side hands it a history (`ProposalRequest.tuner`,
search/tuner_history.py): the tree's trials that share the parent's code apart from
constant values, each with its constants' values and its mean over its runs. The tuner
tells them to an in-memory Optuna study, asks for the next values, and proposes them as
a child of the parent the policy chose, edited in place as the mutator edits
(agents/mutator.py: the same constants, `apply_changes`, `describe`).

* Samplers (the model part of `tuner@optuna[:SAMPLER]`): `tpe` (the default;
  multivariate, with the constant liar so proposals in flight are avoided; its moves are
  local, below), `gp` (Gaussian-process Bayesian optimisation, Optuna's GPSampler: a
  surrogate of the metric fitted to the means, with their noise, and expected improvement
  over it, batched over the proposals in flight; crashes go to a second surrogate, of
  where runs fail, as constraint violations (`told_trials`); before STARTUP_TRIALS
  finished trials its children are local moves around the parent, as TPE's are; about a
  second an ask on a CPU core at 80 trials), `cmaes`
  (warm-started each time from the history's best trials, WS-CMA-ES; booleans and
  strings go to a TPE beside it), `random`.
* Search spaces come from the values (`infer_space`): positive floats on a log scale
  (a fraction stays below 1), powers of two as their exponent, other integers on a log
  scale when positive, booleans and the strings the file compares a constant against as
  categories. The bounds are the parent's value /4..x4, widened to every value tried
  and to /4..x4 around the best trial's, so a best at an edge always has room beyond it.
* Local moves (TPE): most of a search's gains are one or two knobs at a time, and a
  multivariate draw moves every constant at once (on a real trainer, model sizes too).
  So a TPE child keeps the study's values for 1, 2 or 3 constants picked at random
  (LOCAL's weights) and the parent's for the rest; a picked number the study moved by
  less than MIN_STEP (x1.5) is moved by MIN_STEP in the study's direction (TPE's draws
  sit close to the best trials: most would be lost in the noise), a picked category the
  study left alone takes another choice. One child in two (FULL) takes the study's
  values for all of them (a ridge needs several knobs moved together). The history
  tells the study what was run, so it learns from both kinds (docs/BENCHMARKS.md, "The
  tuner and the parallel peer", has what was tried and measured).
* Failures: Optuna 5's TPE and CMA-ES read only finished (COMPLETE) trials and ignore
  FAIL ones, so a crashed or timed-out trial is told as COMPLETE with a pessimistic
  value (the worst mean plus the spread of the means): the samplers learn to avoid
  crashing regions.
* Stopped runs (early stopping ended them: no value) are told as PRUNED trials carrying
  their partial curves as intermediate values (step: percent of progress; a training
  loss, lower is better, so told negated to a maximizing study), which is Optuna's own
  meaning of a stopped trial: TPE ranks pruned trials after the completed ones, by the
  last step they reached and their value there, so their region goes to its "bad" model.
  A pruned trial is never the study's best; CMA-ES and random ignore it.
* Deterministic: the sampler's seed (and the local moves' picks) come from `[search]
  seed`, the parent and the child's id, so the same history and seed give the same
  proposal.
"""

from __future__ import annotations

import ast
import asyncio
import hashlib
import math
import random
import statistics
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState, create_trial

from autoresearch_tui.agents.mutator import (
    Constant,
    Value,
    apply_changes,
    describe,
    tunable_constants,
)
from autoresearch_tui.agents.mutator import _round as round3
from autoresearch_tui.agents.proposer import AgentSpec, Proposal, ProposalFailed
from autoresearch_tui.agents.request import ProposalRequest, Trial

SAMPLERS = ("tpe", "gp", "cmaes", "random")
WIDEN = 4.0  # bounds: the parent's value and the best's, divided and multiplied by this
STARTUP_TRIALS = 5  # TPE and the GP sample at random until the study has this many trials
LOCAL = (0.5, 0.3, 0.2)  # TPE: how often a child moves 1, 2 or 3 constants (the rest stay)
MULTIVARIATE = True  # TPE: one joint model of the constants (not one per constant)
FULL = 0.5  # TPE: how often a child takes the study's values for every constant instead
MIN_STEP = 1.5  # TPE: a picked number moves by this factor at least
WARM_START_TRIALS = 10  # CMA-ES fits its start to the best tenth: ten trials at least
MAX_ASKS = 30  # asks for a change not tried yet from this parent, then a failure
PARAM = "{}"  # a constant's parameter name is its history key


def sampler_name(spec: AgentSpec) -> str:
    return spec.model or "tpe"


def sampler_problem(spec: AgentSpec) -> str:
    """'' for a known sampler, else the fix in one line."""
    if sampler_name(spec) in SAMPLERS:
        return ""
    return (
        f"sampler {spec.model!r} is unknown — write {spec.persona}@optuna, "
        f"or {', '.join(f'{spec.persona}@optuna:{s}' for s in SAMPLERS)}"
    )


@dataclass(frozen=True)
class Space:
    """One constant as a parameter of the study."""

    key: str  # its name in the history: NAME, or path:NAME for a second file
    constant: Constant
    distribution: BaseDistribution
    exponent: bool = False  # the parameter is log2 of the value (a power of two)

    def to_param(self, value: Value) -> Any | None:
        """The parameter for a value; None when the space cannot hold it."""
        if isinstance(self.distribution, CategoricalDistribution):
            return value if value in self.distribution.choices else None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        param: float = value
        if self.exponent:
            if not (isinstance(value, int) and _power_of_two(value)):
                return None
            param = value.bit_length() - 1
        dist = self.distribution
        assert isinstance(dist, FloatDistribution | IntDistribution)
        if not dist.low <= param <= dist.high:
            return None
        return int(param) if isinstance(dist, IntDistribution) else float(param)

    def from_param(self, param: Any) -> Value:
        if self.exponent:
            return int(2 ** int(param))
        if isinstance(self.distribution, FloatDistribution):
            return round3(float(param))
        value: Value = param
        return value


def _power_of_two(v: int) -> bool:
    return v >= 2 and v & (v - 1) == 0


def parse_value(text: str | None) -> Value | None:
    """A history value (source text) as a literal; None when it is not one."""
    if text is None:
        return None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return value if isinstance(value, int | float | str | bool) else None


def history_key(c: Constant, paths: Sequence[str]) -> str:
    """search/constants.files_constants' name: a second file's names carry its path."""
    first = min((p for p in paths if p.endswith(".py")), default=c.path)
    return c.name if c.path == first else f"{c.path}:{c.name}"


def infer_space(c: Constant, seen: Sequence[Value], best: Value | None) -> BaseDistribution:
    """The distribution of one constant (the module docstring's rules); `seen` are the
    values tried (of the constant's type), `best` the best trial's."""
    v = c.value
    if isinstance(v, bool):
        return CategoricalDistribution((False, True))
    if isinstance(v, str):
        return CategoricalDistribution(tuple(sorted({v, *c.choices})))
    values = [x for x in (v, *seen) if type(x) is type(v)]
    anchors = [x for x in (v, best) if x is not None and type(x) is type(v)]
    if isinstance(v, int) and _power_of_two(v):
        exps = [int(x).bit_length() - 1 for x in values if _power_of_two(int(x))]
        step = round(math.log2(WIDEN))
        lows = [int(a).bit_length() - 1 - step for a in anchors if _power_of_two(int(a))]
        highs = [int(a).bit_length() - 1 + step for a in anchors if _power_of_two(int(a))]
        return IntDistribution(max(1, min(exps + lows)), max(exps + highs))
    if all(x > 0 for x in values):
        lo = min([*values, *(a / WIDEN for a in anchors)])
        hi = max([*values, *(a * WIDEN for a in anchors)])
        if isinstance(v, int):
            return IntDistribution(max(1, math.floor(lo)), max(2, math.ceil(hi)), log=True)
        top = max(values)
        if top < 1:  # a fraction stays one (a ratio, Adam's beta)
            hi = min(hi, 1 - (1 - top) / WIDEN)
        return FloatDistribution(lo, hi, log=True)
    span = max(abs(float(x)) for x in values) * (WIDEN - 1) or 0.1
    lo = min(values) - span if min(values) < 0 else 0
    hi = max(values) + span
    if isinstance(v, int):
        return IntDistribution(math.floor(lo), max(math.floor(lo) + 1, math.ceil(hi)))
    return FloatDistribution(float(lo), float(hi))


def spaces_of(request: ProposalRequest, trials: Sequence[Trial], sign: float) -> list[Space]:
    """A space per tunable constant of the parent, from the values the trials tried."""
    constants = tunable_constants(request)
    measured = [t for t in trials if t.mean is not None]
    best = min(measured, key=lambda t: sign * (t.mean or 0.0)) if measured else None
    spaces = []
    for c in constants:
        key = history_key(c, list(request.parent_files))
        seen = [x for t in trials if (x := parse_value(t.values.get(key))) is not None]
        best_value = parse_value(best.values.get(key)) if best is not None else None
        dist = infer_space(c, seen, best_value)
        exponent = isinstance(c.value, int) and not isinstance(c.value, bool)
        exponent = exponent and _power_of_two(int(c.value))
        spaces.append(Space(key, c, dist, exponent))
    return spaces


def pessimistic(trials: Sequence[Trial], sign: float) -> float:
    """What a failed trial is told: worse than the worst mean by the means' spread."""
    means = [t.mean for t in trials if t.mean is not None]
    if not means:
        return sign * 1e6
    worst = max(means, key=lambda m: sign * m)
    spread = max(means) - min(means) or abs(worst) * 0.01 or 1.0
    return worst + sign * spread


def _params(spaces: Sequence[Space], trial: Trial) -> dict[str, Any]:
    params = {}
    for space in spaces:
        value = parse_value(trial.values.get(space.key))
        param = space.to_param(value) if value is not None else None
        if param is not None:
            params[space.key] = param
    return params


FAILED = ("crashed", "timeout")  # a trial's failed statuses (search/model.BROKEN's, this side)


def told_trials(
    spaces: Sequence[Space], trials: Sequence[Trial], sign: float, constrained: bool = False
) -> list[optuna.trial.FrozenTrial]:
    """The history as Optuna trials: a mean as COMPLETE, a failure as COMPLETE with the
    pessimistic value, a stopped run as PRUNED with its curve (signed so that better is
    the study's direction), a trial in flight as RUNNING (TPE's constant liar avoids it).

    `constrained` (the GP sampler) tells a failure as an infeasible trial instead: every
    finished trial carries a `failed` constraint (1: crashed or timed out, 0: measured)
    and a failure the median of the means as its value, so that a crash shapes the
    sampler's model of where runs fail, not its model of the metric (a pessimistic value
    beside the optimum, which sits next to the crash region, would bend the metric's
    surface there)."""
    distributions = {s.key: s.distribution for s in spaces}
    means = [t.mean for t in trials if t.mean is not None]
    any_failed = any(t.status in FAILED for t in trials)
    constrained = constrained and any_failed and bool(means)
    failed = statistics.median(means) if constrained else pessimistic(trials, sign)
    frozen = []
    for trial in trials:
        params = _params(spaces, trial)
        if not params:
            continue
        dists = {k: distributions[k] for k in params}
        if trial.mean is not None or trial.status in FAILED:
            value = trial.mean if trial.mean is not None else failed
            failure = {"failed": 0.0 if trial.mean is not None else 1.0}
            constraints = failure if constrained else None
            frozen.append(
                create_trial(
                    params=params, distributions=dists, value=value, constraints=constraints
                )
            )
        elif trial.status == "stopped":
            curve = {step: sign * loss for step, loss in trial.curve}
            pruned = create_trial(
                params=params, distributions=dists, state=TrialState.PRUNED,
                intermediate_values=curve,
            )  # fmt: skip
            frozen.append(pruned)
        else:
            frozen.append(
                create_trial(params=params, distributions=dists, state=TrialState.RUNNING)
            )
    return frozen


def _seed(request: ProposalRequest) -> int:
    """From the search's seed, the child (siblings asked at once differ) and the changes
    sent back; the same history and seed give the same proposal."""
    key = f"{request.seed}:{request.parent_id}:{request.child_id}"
    key += f":{len(request.rejected)}"
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)


def make_study(
    name: str, spaces: Sequence[Space], told: Sequence[optuna.trial.FrozenTrial], seed: int,
    goal: str,
) -> optuna.Study:  # fmt: skip
    """An in-memory study with the history told, its sampler seeded."""
    sampler: optuna.samplers.BaseSampler
    if name == "random":
        sampler = optuna.samplers.RandomSampler(seed=seed)
    elif name == "gp":
        sampler = optuna.samplers.GPSampler(
            seed=seed, n_startup_trials=STARTUP_TRIALS, warn_independent_sampling=False
        )
    elif name == "cmaes":
        sampler = _cmaes(spaces, told, seed)
    else:
        sampler = optuna.samplers.TPESampler(
            seed=seed, multivariate=MULTIVARIATE, constant_liar=True,
            n_startup_trials=STARTUP_TRIALS, warn_independent_sampling=False,
        )  # fmt: skip
    study = optuna.create_study(
        direction="minimize" if goal == "min" else "maximize", sampler=sampler
    )
    for trial in told:
        study.add_trial(trial)
    return study


def _cmaes(
    spaces: Sequence[Space], told: Sequence[optuna.trial.FrozenTrial], seed: int
) -> optuna.samplers.BaseSampler:
    """CMA-ES over the numeric constants, warm-started from the finished trials that
    set them all (WS-CMA-ES: a Gaussian fitted to their best tenth); before ten of those,
    started at the centre of the bounds (on a log scale: the parent's values)."""
    numeric = {
        s.key: s.distribution
        for s in spaces
        if not isinstance(s.distribution, CategoricalDistribution)
    }
    source = [
        create_trial(params={k: t.params[k] for k in numeric}, distributions=numeric,
                     value=t.value)
        for t in told
        if t.state == TrialState.COMPLETE and numeric and all(k in t.params for k in numeric)
    ]  # fmt: skip
    beside = optuna.samplers.TPESampler(seed=seed, n_startup_trials=STARTUP_TRIALS)
    if len(source) < WARM_START_TRIALS:  # the centre of the bounds: the parent's values
        return optuna.samplers.CmaEsSampler(
            seed=seed, independent_sampler=beside, warn_independent_sampling=False
        )
    return optuna.samplers.CmaEsSampler(
        seed=seed, source_trials=source, independent_sampler=beside,
        warn_independent_sampling=False,
    )  # fmt: skip


Change = tuple[Constant, Value]


def local(spaces: Sequence[Space], asked: dict[str, Any], rng: random.Random) -> list[Change]:
    """A move around the parent: 1, 2 or 3 constants picked by `rng` (LOCAL's weights)
    take the study's values, at least a MIN_STEP from the parent's in the study's
    direction (`stepped`); the rest keep the parent's."""
    k = rng.choices(range(1, len(LOCAL) + 1), weights=LOCAL)[0]
    changes = []
    for space in rng.sample(list(spaces), min(k, len(spaces))):
        new = stepped(space, space.from_param(asked[space.key]), rng)
        if new is not None and new != space.constant.value:
            changes.append((space.constant, new))
    return changes


def moved(old: Value, new: Value) -> bool:
    """A change worth a run: a category, or a number moved by MIN_STEP at least."""
    if isinstance(old, bool | str) or isinstance(new, bool | str):
        return old != new
    if old == 0 or new == 0 or (old < 0) != (new < 0):
        return old != new
    ratio = abs(new / old)
    return max(ratio, 1 / ratio) >= MIN_STEP - 1e-9


def stepped(space: Space, new: Value, rng: random.Random) -> Value | None:
    """The study's value for a picked constant if it moved (`moved`), else a MIN_STEP
    from the parent's toward it (either way when it did not move; another choice for a
    category); None when there is no other value."""
    old = space.constant.value
    if moved(old, new):
        return new
    if isinstance(old, bool | str):
        dist = space.distribution
        others = [x for x in getattr(dist, "choices", ()) if x != old]
        return rng.choice(others) if others else None
    if isinstance(new, bool | str) or old == 0:
        return None
    up = new > old if new != old else rng.random() < 0.5
    if space.exponent:
        return old * 2 if up or old < 4 else old // 2
    factor = MIN_STEP if up == (old > 0) else 1 / MIN_STEP
    if isinstance(old, int):
        count = round(old * factor)
        return count if count != old and (count >= 1 or old < 1) else old + (1 if up else -1)
    value = round3(old * factor)
    if 0 < old < 1 <= value:  # a fraction stays one, as the mutator keeps it
        value = round3(1 - (1 - old) / MIN_STEP)
    return value


class Tuner:
    """The `optuna` backend: a Proposer with a study behind it instead of a model."""

    can_debug = False

    def __init__(self, spec: AgentSpec):
        self.spec = spec
        self.sampler = sampler_name(spec)

    def propose_sync(self, request: ProposalRequest) -> Proposal:
        sign = 1.0 if request.goal == "min" else -1.0
        trials = list(request.tuner.trials) if request.tuner is not None else []
        spaces = spaces_of(request, trials, sign)
        if not spaces:
            raise ProposalFailed("tuner: no module-level constants to tune in the editable files")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna's experimental-feature warnings
            optuna.logging.set_verbosity(optuna.logging.WARNING)
            told = told_trials(spaces, trials, sign, constrained=self.sampler == "gp")
            seed = _seed(request)
            study = make_study(self.sampler, spaces, told, seed, request.goal)
            distributions = {s.key: s.distribution for s in spaces}
            tried = set(request.tried_descriptions)
            rng = random.Random(seed)
            finished = sum(t.state == TrialState.COMPLETE for t in told)
            for _ in range(MAX_ASKS):
                asked = study.ask(distributions)
                if self._local_move(finished, rng):
                    changes = local(spaces, asked.params, rng)
                else:
                    changes = [
                        (s.constant, new)
                        for s in spaces
                        if (new := s.from_param(asked.params[s.key])) != s.constant.value
                    ]
                description = f"tuner: {describe(changes)}" if changes else ""
                if not changes or description in tried:
                    continue
                files = apply_changes(request.parent_files, changes)
                if files:
                    return Proposal(description, files, self._rationale(request, told), "")
        raise ProposalFailed(
            f"tuner: {MAX_ASKS} asks of the study gave only changes tried from "
            f"{request.parent_id} already"
        )

    def _local_move(self, finished: int, rng: random.Random) -> bool:
        """TPE: one child in two (FULL). GP: while the study has fewer than
        STARTUP_TRIALS finished trials (its asks are random points of the whole box then,
        most of them far worse than the parent), a local move around the parent."""
        if self.sampler == "tpe":
            return rng.random() >= FULL
        return self.sampler == "gp" and finished < STARTUP_TRIALS

    def _rationale(self, request: ProposalRequest, told: Sequence[Any]) -> str:
        history = request.tuner
        measured = history.measured if history is not None else 0
        pruned = sum(t.state == TrialState.PRUNED for t in told)
        stopped = f", {pruned} stopped early" if pruned else ""
        seeded = (
            f", seeded from {history.seeded_from}'s code"
            if history is not None and history.seeded_from
            else ""
        )
        return (
            f"Optuna {self.sampler} sampler: {len(told)} trials told "
            f"({measured} measured{stopped}) of this code{seeded}."
        )

    async def propose(self, request: ProposalRequest) -> Proposal:
        return await asyncio.to_thread(self.propose_sync, request)
