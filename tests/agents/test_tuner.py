"""The tuner persona (agents/tuner.py): search spaces inferred from the values, the
history told to a real Optuna study (failures as pessimistic finished trials, runs stopped
early as pruned trials with their curves), the same proposal for the same history and
seed, and the backend's checks."""

from __future__ import annotations

import asyncio
import math
import random
import warnings
from pathlib import Path

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState
from synthetic import TRAIN_PY, train_request

import autoresearch_tui.agents.tuner as tuner_module
from autoresearch_tui.agents.backends import AgentSetupError, make_backend
from autoresearch_tui.agents.memory_prompt import belief_part
from autoresearch_tui.agents.mutator import find_constants
from autoresearch_tui.agents.proposer import AgentSpec
from autoresearch_tui.agents.request import ConstantBelief, Trial, TunerHistory
from autoresearch_tui.agents.tuner import (
    Tuner,
    infer_space,
    make_study,
    moved,
    spaces_of,
    stepped,
    told_trials,
)
from autoresearch_tui.search.constants import module_constants


def constant(name: str, source: str = TRAIN_PY):
    return next(c for c in find_constants("train.py", source) if c.name == name)


def values(**changes: object) -> dict[str, str]:
    """train.py's constants (as the history holds them: source text), some changed."""
    base = module_constants(TRAIN_PY)
    return {**base, **{k: repr(v) for k, v in changes.items()}}


def test_spaces_log_floats_powers_of_two_bools_and_strings() -> None:
    lr = infer_space(constant("LR"), [], None)
    assert isinstance(lr, FloatDistribution) and lr.log
    assert math.isclose(lr.low, 0.01) and math.isclose(lr.high, 0.16)
    warmup = infer_space(constant("WARMUP"), [0.5], None)  # a fraction stays below 1
    assert isinstance(warmup, FloatDistribution) and warmup.log and 0.5 <= warmup.high < 1
    depth = infer_space(constant("DEPTH"), [], None)  # 8 = 2**3: its exponent, 2**1..2**5
    assert isinstance(depth, IntDistribution) and (depth.low, depth.high) == (1, 5)
    bias = infer_space(constant("USE_BIAS"), [], None)
    assert isinstance(bias, CategoricalDistribution) and set(bias.choices) == {False, True}
    act = infer_space(constant("ACT"), [], None)  # the values the file compares ACT with
    assert isinstance(act, CategoricalDistribution)
    assert set(act.choices) == {"relu", "gelu", "silu"}


def test_bounds_cover_the_history_and_widen_past_a_best_at_the_edge() -> None:
    lr = infer_space(constant("LR"), [0.3], 0.3)  # tried and best at 0.3: room beyond it
    assert isinstance(lr, FloatDistribution)  # (a fraction: below 1, as the mutator keeps it)
    assert math.isclose(lr.high, 1 - 0.7 / 4) and math.isclose(lr.low, 0.01)
    wide = infer_space(constant("DEPTH", TRAIN_PY.replace("DEPTH = 8", "DEPTH = 6")), [12], 12)
    assert isinstance(wide, IntDistribution) and wide.log and (wide.low, wide.high) == (1, 48)
    depth = infer_space(constant("DEPTH"), [64], 64)  # 2**6 best: up to 2**8
    assert isinstance(depth, IntDistribution) and depth.high == 8


def history(trials: list[Trial]) -> TunerHistory:
    return TunerHistory(tuple(trials), measured=sum(t.mean is not None for t in trials))


def proposal(tmp_path: Path, trials: list[Trial], child: str, sampler: str = "", seed: int = 0):
    tuner = Tuner(AgentSpec("tuner", "optuna", sampler))
    request = train_request(tmp_path, tuner=history(trials), child_id=child, seed=seed)
    return asyncio.run(tuner.propose(request))


def bowl(lr: float) -> float:
    return 1.0 + math.log2(lr / 0.08) ** 2 * 0.05


SOME = [Trial(f"n{i:04d}", values(LR=lr), bowl(lr), 1, "done") for i, lr in
        enumerate((0.04, 0.02, 0.06, 0.1, 0.05, 0.07, 0.03))]  # fmt: skip


@pytest.mark.parametrize("sampler", ["", "gp", "cmaes", "random"])
def test_same_history_and_seed_give_the_same_proposal(tmp_path: Path, sampler: str) -> None:
    first = proposal(tmp_path, SOME, "n0010", sampler)
    again = proposal(tmp_path, SOME, "n0010", sampler)
    assert first.description == again.description and first.files == again.files
    assert first.description.startswith("tuner: ")
    other = {
        proposal(tmp_path, SOME, f"n00{i}", sampler, seed=1).description for i in range(11, 15)
    }
    assert len(other) > 1  # siblings asked at once get different values


def code_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.split(" =")[0].isupper()]


def test_the_proposal_edits_the_constants_in_place(tmp_path: Path) -> None:
    p = proposal(tmp_path, SOME, "n0010")
    new = module_constants(p.files["train.py"])
    changed = {k for k, v in new.items() if module_constants(TRAIN_PY)[k] != v}
    assert changed and all(k in p.description for k in changed)
    assert "KNOBS" not in changed
    assert code_lines(p.files["train.py"]) == code_lines(TRAIN_PY)  # the rest is untouched


def test_a_local_proposal_moves_one_to_three_constants_by_a_step_at_least(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tuner_module, "FULL", 0.0)  # local moves only
    base = module_constants(TRAIN_PY)
    moved_sets = set()
    for i in range(16):
        p = proposal(tmp_path, SOME, f"n02{i:02d}")
        new = module_constants(p.files["train.py"])
        changed = {k for k in base if new[k] != base[k]}
        assert 1 <= len(changed) <= len(tuner_module.LOCAL)  # the rest keep the parent's
        for k in changed:  # every number moved by MIN_STEP at least (to 3 digits)
            old_v, new_v = eval(base[k]), eval(new[k])
            if isinstance(old_v, float):
                ratio = max(new_v / old_v, old_v / new_v)
                assert ratio >= tuner_module.MIN_STEP * 0.995, (k, base[k], new[k])
            else:
                assert new_v != old_v
        moved_sets.add(frozenset(changed))
    assert len(moved_sets) > 3  # which constants move varies
    monkeypatch.setattr(tuner_module, "FULL", 1.0)  # the study's values for all of them
    full = [proposal(tmp_path, SOME, f"n02{i:02d}") for i in range(8)]
    most = max(sum(new[k] != base[k] for k in base) for new in
               (module_constants(p.files["train.py"]) for p in full))  # fmt: skip
    assert most > len(tuner_module.LOCAL)


def test_a_move_too_small_becomes_a_step_in_its_direction() -> None:
    spaces = {s.key: s for s in spaces_of(train_request(Path(".")), SOME, 1.0)}
    rng = random.Random(0)
    lr = spaces["LR"]  # 0.04
    assert stepped(lr, 0.08, rng) == 0.08  # moved enough: the study's value
    assert tuner_module.MIN_STEP == 1.5  # a smaller move: x1.5 or /1.5 in its direction
    assert stepped(lr, 0.045, rng) == 0.06 and stepped(lr, 0.035, rng) == 0.0267
    assert stepped(lr, 0.04, rng) in (0.06, 0.0267)  # not moved: either way
    assert stepped(spaces["DEPTH"], 8, rng) in (4, 16)  # a power of two stays one
    assert stepped(spaces["USE_BIAS"], False, rng) is True  # a category: another choice
    assert stepped(spaces["ACT"], "relu", rng) in ("gelu", "silu")
    fraction = spaces_of(train_request(Path("."), parent_files={
        "train.py": TRAIN_PY.replace("WARMUP = 0.1", "WARMUP = 0.9")}), [], 1.0)  # fmt: skip
    up = stepped(next(s for s in fraction if s.key == "WARMUP"), 0.91, rng)
    assert isinstance(up, float) and 0.9 < up < 1  # a fraction stays below 1
    assert not moved(0.04, 0.05) and moved(0.04, 0.06) and moved(0.06, 0.04)
    assert moved(False, True) and not moved(100, 120) and moved(-2.0, 2.0)


def test_failures_are_told_as_pessimistic_finished_trials(tmp_path: Path) -> None:
    crashed = [Trial(f"n01{i:02d}", values(LR=0.2 + i / 100), None, 0, "crashed") for i in range(8)]
    running = [Trial("n0200", values(LR=0.05, DEPTH=16), None, 0, "running")]
    trials = SOME + crashed + running
    request = train_request(tmp_path)
    spaces = spaces_of(request, trials, 1.0)
    told = told_trials(spaces, trials, 1.0)
    worst = max(t.mean for t in SOME if t.mean is not None)
    failed = [t for t in told if t.params["LR"] >= 0.2]
    assert len(failed) == 8
    assert all(t.state == TrialState.COMPLETE and t.value > worst for t in failed)
    assert told[-1].state == TrialState.RUNNING


def test_a_crashed_region_gets_fewer_proposals(tmp_path: Path) -> None:
    """LR above 0.15 crashed every time: TPE (which learns from the pessimistic values)
    proposes there less often than the random sampler, which learns nothing."""
    crashed = [
        Trial(f"n01{i:02d}", values(LR=0.16 + i / 50), None, 0, "crashed") for i in range(10)
    ]
    trials = SOME + crashed

    def in_region(sampler: str) -> int:
        lrs = []
        for i in range(12):
            p = proposal(tmp_path, trials, f"n03{i:02d}", sampler)
            lrs.append(float(module_constants(p.files["train.py"])["LR"]))
        return sum(lr >= 0.15 for lr in lrs)

    assert in_region("") < in_region("random")
    assert in_region("gp") < in_region("random")  # its model of where runs fail


def test_for_the_gp_failures_are_infeasible_trials_not_bad_values(tmp_path: Path) -> None:
    crashed = [Trial("n0100", values(LR=0.3), None, 0, "crashed"),
               Trial("n0101", values(LR=0.25), None, 0, "timeout")]  # fmt: skip
    trials = SOME + crashed
    spaces = spaces_of(train_request(tmp_path), trials, 1.0)
    told = told_trials(spaces, trials, 1.0, constrained=True)
    means = sorted(t.mean for t in SOME if t.mean is not None)
    assert [t.constraints for t in told] == [{"failed": 0.0}] * len(SOME) + [{"failed": 1.0}] * 2
    assert told[-1].value == told[-2].value == means[len(means) // 2]  # the median: neutral
    assert all(not t.constraints for t in told_trials(spaces, SOME, 1.0, constrained=True))
    assert all(not t.constraints for t in told_trials(spaces, trials, 1.0))  # TPE: pessimistic


def test_the_gp_moves_locally_until_the_study_has_its_startup_trials(tmp_path: Path) -> None:
    """Before STARTUP_TRIALS finished trials the GP's asks are random points of the whole
    box; its children then move 1-3 constants from the parent instead. After them, the
    GP's own point (which sets every constant it models) is the child."""
    base = module_constants(TRAIN_PY)

    def moved_counts(trials: list[Trial]) -> list[int]:
        out = []
        for i in range(8):
            new = module_constants(
                proposal(tmp_path, trials, f"n04{i:02d}", "gp").files["train.py"]
            )
            out.append(sum(new[k] != base[k] for k in base))
        return out

    assert all(1 <= n <= len(tuner_module.LOCAL) for n in moved_counts(SOME[:2]))
    assert max(moved_counts(SOME)) > len(tuner_module.LOCAL)


def stopped_at(level: float, reached: int = 48) -> tuple[tuple[int, float], ...]:
    """A stopped run's curve (percent, loss) falling toward `level`, stopped at `reached`%."""
    return tuple((s, level + 2.0 * (1 - s / 100)) for s in range(4, reached + 1, 4))


def stopped(lrs: list[float], level: float = 1.5) -> list[Trial]:
    return [
        Trial(f"n01{i:02d}", values(LR=lr), None, 0, "stopped", stopped_at(level + i / 50))
        for i, lr in enumerate(lrs)
    ]


def test_stopped_runs_are_told_as_pruned_trials_never_the_best(tmp_path: Path) -> None:
    # One stopped curve sits below every mean: still never the study's best.
    low = Trial("n0150", values(LR=0.3), None, 0, "stopped", stopped_at(-5.0, 60))
    trials = SOME + stopped([0.2, 0.25]) + [low]
    request = train_request(tmp_path)
    spaces = spaces_of(request, trials, 1.0)
    told = told_trials(spaces, trials, 1.0)
    pruned = [t for t in told if t.state == TrialState.PRUNED]
    assert len(pruned) == 3 and all(t.value is None for t in pruned)
    assert [t.intermediate_values for t in pruned] == [dict(t.curve) for t in trials[-3:]]
    assert max(pruned[-1].intermediate_values) == 60  # the progress it reached, in percent
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna's deprecation warnings, as the tuner does
        study = make_study("tpe", spaces, told, 0, "min")
    assert study.best_trial.state == TrialState.COMPLETE
    assert study.best_trial.value == min(t.mean for t in SOME if t.mean is not None)
    # A loss is lower-better: a maximizing study is told it negated (better is higher).
    told_max = told_trials(spaces, trials, -1.0)
    curves = [t.intermediate_values for t in told_max if t.state == TrialState.PRUNED]
    assert curves[0] == {s: -loss for s, loss in trials[-3].curve}
    # The proposal's rationale counts them.
    p = proposal(tmp_path, trials, "n0400")
    assert "3 stopped early" in p.rationale and f"({len(SOME)} measured" in p.rationale


def test_a_stopped_region_gets_fewer_proposals(tmp_path: Path) -> None:
    """Runs with LR above 0.15 were all stopped early: told as pruned trials, they move
    TPE's proposals out of that region (without them it proposes there)."""
    region = stopped([0.16 + i / 50 for i in range(10)])

    def in_region(trials: list[Trial]) -> int:
        lrs = []
        for i in range(12):
            p = proposal(tmp_path, trials, f"n03{i:02d}")
            lrs.append(float(module_constants(p.files["train.py"])["LR"]))
        return sum(lr >= 0.15 for lr in lrs)

    assert in_region(SOME + region) < in_region(SOME)


def test_backend_checks_the_sampler(tmp_path: Path) -> None:
    assert isinstance(make_backend(AgentSpec("tuner", "optuna", "cmaes"), tmp_path), Tuner)
    with pytest.raises(AgentSetupError, match="tuner@optuna:cmaes"):
        make_backend(AgentSpec("tuner", "optuna", "bayes"), tmp_path)


def test_the_belief_section_is_short_and_only_with_a_belief() -> None:
    assert belief_part(None) == [] and belief_part(history([])) == []
    beliefs = tuple(ConstantBelief(f"C{i}", "1", "0.5", "2") for i in range(12))
    text = belief_part(TunerHistory((), "n0007", beliefs, measured=30))
    lines = "\n".join(text).splitlines()
    assert (
        len(lines) <= 15 and "n0007" in lines[0] and "- C0: best 1 (best trials: 0.5..2)" in lines
    )
