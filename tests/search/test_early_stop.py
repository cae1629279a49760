"""The early-stopping rule: matched progress, smoothing, the best's curve, exemptions."""

from __future__ import annotations

import random

import pytest

from autoresearch_tui.search.early_stop import exempt, judge, loss_at, progress_points
from autoresearch_tui.trainer.workspace import set_constants, template_text


def curve(final: float, *, start: float = 5.0, until: float = 1.0, n: int = 100) -> list:
    """A descending loss curve from `start` to `final`, sampled up to `until`."""
    points = []
    for i in range(n + 1):
        p = i / n
        if p > until + 1e-9:
            break
        points.append((p, final + (start - final) * (1 - p) ** 2))
    return points


def test_loss_at_is_the_median_of_the_window_around_the_point() -> None:
    points = [(0.0, 9.0), (0.48, 3.0), (0.49, 3.2), (0.5, 9.9), (0.52, 3.1), (0.8, 1.0)]
    assert loss_at(points, 0.5) == pytest.approx(3.15)  # the spike at 0.5 does not move it
    assert loss_at(list(reversed(points)), 0.5) == pytest.approx(3.15)  # any order
    assert abs(loss_at(points, 0.24) - 6.0) < 1e-9  # interpolated between 0.0 and 0.48
    assert loss_at(points, 0.8) == 1.0


def test_a_curve_that_never_reaches_the_progress_gives_none() -> None:
    assert loss_at(curve(3.0, until=0.3), 0.5) is None
    assert loss_at([], 0.5) is None
    assert loss_at([(0.6, 3.0), (0.9, 2.0)], 0.3) is None  # starts after it
    run = curve(4.0, until=0.6)
    assert judge(run, curve(3.0, until=0.5), None, after=0.4, margin=0.05) is None


def test_a_run_worse_early_but_not_yet_past_after_keeps_running() -> None:
    parent = curve(3.0)
    # slower at first (higher early), better at the end
    run = [(p, 2.9 + 3.0 * (1 - p) ** 1.5) for p, _ in curve(3.0, until=0.3)]
    assert loss_at(run, 0.3) > loss_at(parent, 0.3) + 0.5  # far worse at 30%
    assert judge(run, parent, None, after=0.4, margin=0.05) is None


def test_a_run_worse_than_the_parent_by_more_than_the_margin_after_it_is_stopped() -> None:
    parent = curve(3.0)
    run = [(p, loss + 0.2) for p, loss in curve(3.0, until=0.46)]
    verdict = judge(run, parent, None, after=0.4, margin=0.05)
    assert verdict is not None
    assert verdict.progress == 0.46
    assert abs(verdict.loss - verdict.parent_loss - 0.2) < 1e-9
    assert verdict.reason() == (
        f"stopped at 46%: loss {verdict.loss:.4f} vs parent {verdict.parent_loss:.4f} "
        "at the same point (margin 0.0500)"
    )
    # within the margin: keeps running
    close = [(p, loss + 0.04) for p, loss in curve(3.0, until=0.46)]
    assert judge(close, parent, None, after=0.4, margin=0.05) is None


def test_matched_progress_not_matched_index() -> None:
    """A run that logs twice as often is compared at the same progress, not step."""
    parent = curve(3.0, n=50)
    run = curve(3.0, until=0.5, n=200)
    assert judge(run, parent, None, after=0.4, margin=0.01) is None


def test_worse_than_the_parent_but_better_than_the_best_is_not_stopped() -> None:
    parent = curve(3.0, start=4.0)  # a fast starter
    best = curve(2.8, start=6.0)  # slow early, better at the end
    run = [(p, loss + 0.1) for p, loss in curve(3.0, start=4.0, until=0.5)]
    assert judge(run, parent, None, after=0.4, margin=0.05) is not None
    assert judge(run, parent, best, after=0.4, margin=0.05) is None
    verdict = judge(run, parent, curve(2.8, start=4.0), after=0.4, margin=0.05)
    assert verdict is not None and verdict.best_loss is not None


def test_one_noisy_spike_does_not_stop_the_run() -> None:
    rng = random.Random(3)
    parent = [(p, loss + rng.gauss(0, 0.01)) for p, loss in curve(3.0, n=400)]
    run = [(p, loss + rng.gauss(0, 0.01)) for p, loss in curve(3.0, until=0.5, n=400)]
    run[-1] = (run[-1][0], run[-1][1] + 5.0)  # one spike, at the very point judged
    assert judge(run, parent, None, after=0.4, margin=0.05) is None
    bad = [(p, loss + 1.0) if p > 0.4 else (p, loss) for p, loss in run]
    assert judge(bad, parent, None, after=0.4, margin=0.05) is None  # one bad window
    bad = [(p, loss + 1.0) if p >= 0.3 else (p, loss) for p, loss in bad]
    assert judge(bad, parent, None, after=0.4, margin=0.05) is not None  # two


def test_a_slow_starter_catching_up_runs_on() -> None:
    parent = curve(3.0)
    slow = [(p, loss + 0.3 * (1 - p)) for p, loss in curve(3.0, until=0.5)]  # gap closing
    assert judge(slow, parent, None, after=0.4, margin=0.05) is None
    flat = [(p, loss + 0.15) for p, loss in curve(3.0, until=0.5)]  # the same gap, steady
    assert judge(flat, parent, None, after=0.4, margin=0.05) is not None


def test_progress_points_from_the_printed_percent_else_elapsed_over_budget() -> None:
    printed = [(0, 5.0, 10.0, 0.0), (10, 4.0, 20.0, 25.0), (20, 3.5, 30.0, 50.0)]
    assert progress_points(printed, 300.0) == [(0.0, 5.0), (0.25, 4.0), (0.5, 3.5)]
    silent = [(0, 5.0, 30.0, 0.0), (10, 4.0, 150.0, 0.0), (20, 3.5, 400.0, 0.0)]
    assert progress_points(silent, 300.0) == [(0.1, 5.0), (0.5, 4.0), (1.0, 3.5)]
    assert progress_points(silent, None) == []
    assert progress_points([], 300.0) == []


def train_files(**values: int | float | str | bool) -> dict[str, str]:
    return {"train.py": set_constants(template_text("train.py"), values)}


def test_exemption_of_schedule_budget_and_logging_changes_to_the_real_train_py() -> None:
    base = train_files()
    assert exempt(base, train_files(DEPTH=6)) is None
    assert exempt(base, train_files(DEVICE_BATCH_SIZE=16, MLP_RATIO=3)) is None
    assert exempt(base, train_files(ASPECT_RATIO=48)) is None
    for name, value in (
        ("MATRIX_LR", 0.1),
        ("WARMDOWN_RATIO", 0.3),
        ("WARMUP_RATIO", 0.1),
        ("WEIGHT_DECAY", 0.1),
        ("MUON_MOMENTUM_STEPS", 100),
        ("FINAL_LR_FRAC", 0.1),
    ):
        reason = exempt(base, train_files(**{name: value}))
        assert reason == f"touches the learning-rate schedule ({name})", name
    # a code change inside the schedule's function, naming none of the words
    text = base["train.py"]
    assert "        return 1.0\n" in text
    shape = {"train.py": text.replace("        return 1.0\n", "        return 0.9\n")}
    assert exempt(base, shape) == "touches the learning-rate schedule (get_lr_multiplier())"
    # the budget: in prepare.py (readonly in the template, but a change is a change)
    prepare = {"prepare.py": template_text("prepare.py")}
    cut = {"prepare.py": set_constants(prepare["prepare.py"], {"TOKEN_BUDGET": 200_000})}
    assert exempt(prepare, cut) == "touches the budget (TOKEN_BUDGET)"
    loop = "    if TOKEN_BUDGET and step * tokens_per_step >= TOKEN_BUDGET:\n"
    assert loop in text
    stop = {"train.py": text.replace(loop, loop.replace(">= TOKEN_BUDGET", ">= TOKEN_BUDGET // 2"))}
    assert exempt(base, stop) is not None and "the budget" in exempt(base, stop)
    # the logging: the printed loss's smoothing, a print line
    ema = {"train.py": text.replace("ema_beta = 0.9\n", "ema_beta = 0.99\n")}
    assert "ema_beta = 0.9\n" in text
    assert exempt(base, ema) == "touches the logging (ema_beta = 0.99)"
    quiet = {"train.py": text.replace('print(f"Device:', 'print(f"device:')}
    assert exempt(base, quiet) is not None and exempt(base, quiet).startswith("touches the logging")


def test_a_code_change_elsewhere_is_not_exempt_and_comments_do_not_count() -> None:
    base = train_files()
    text = base["train.py"]
    assert "    return F.rms_norm(x, (x.size(-1),))\n" in text
    norm = {"train.py": text.replace("(x.size(-1),))\n", "(x.size(-1),), eps=1e-5)\n")}
    assert exempt(base, norm) is None
    comment = {"train.py": text.replace("# RMSNorm without", "# RMSNorm (lr-free) without")}
    assert exempt(base, comment) is None
    assert exempt(base, {"train.py": "this does not parse (\n"}) is not None  # print lines gone
