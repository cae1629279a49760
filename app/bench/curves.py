"""Loss curves of the synthetic landscapes: what a run prints on its way to its value.

A landscape (app/bench/landscapes.py) knows a run's final value; a curve is the loss the
run prints before it, `step N (p%) | loss: X`, as the engine's parser reads a trainer's.
Its shape depends on the constants, so two runs' curves can cross:

* the descent follows the learning-rate schedule: a linear warm-up (`WARMUP_RATIO`), a
  constant rate, a linear warm-down over the second half (the built-in trainer's
  default); progress made is the integral of the rate, so a long warm-up starts slowly;
* speed: a higher LR descends faster early, a bigger model (DEPTH, WIDTH) or batch
  more slowly (fewer, costlier steps), whatever its final value;
* a noise floor proportional to the LR, gone when the warm-down ends: the drop at the
  end of a schedule;
* noise: the final value's own (the landscape's), a run-level offset that fades towards
  the end (seeded by the run), and per-point noise; `LOG_EVERY` sets how many points
  a run prints.

Every curve ends at the run's final value (the metric it prints), so early stopping is
judged on curves whose ends are the landscape's truth.
"""

from __future__ import annotations

import math
import random

from autoresearch_tui.app.bench.landscapes import Constants, Landscape

HEADROOM = 2.0  # loss above the final value at the start of a run
RATE = 4.0  # descent rate at the base's constants
FLOOR = 0.05  # the noise floor at the base's LR, at full rate
POINT_SD = 0.01  # per-point noise of a printed loss
RUN_SD = 2.0  # run-level offset, in the landscape's noise sds (fading to 0 at the end)
WARMDOWN = 0.5  # the schedule's warm-down fraction
SLOW_START = 0.1  # how much slower early a bigger model or batch is: speed ~ size**-this


def _ratio(consts: Constants, base: Constants, name: str) -> float:
    value, ref = consts.get(name), base.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return 1.0
    if isinstance(ref, bool) or not isinstance(ref, int | float) or ref <= 0:
        return 1.0
    return float(value) / float(ref)


def _lr_name(base: Constants) -> str:
    return next((name for name in base if name == "LR" or name.endswith("_LR")), "")


def lr_multiplier(progress: float, warmup: float) -> float:
    """The schedule: linear warm-up, constant, linear warm-down to 0 over WARMDOWN."""
    if warmup > 0 and progress < warmup:
        return progress / warmup
    if progress < 1.0 - WARMDOWN:
        return 1.0
    return max(0.0, (1.0 - progress) / WARMDOWN)


def point_count(consts: Constants) -> int:
    """How many points a run prints: 100 at LOG_EVERY = 100, more when it logs more often."""
    every = consts.get("LOG_EVERY", 100)
    if isinstance(every, bool) or not isinstance(every, int | float) or every <= 0:
        return 100
    return max(10, min(400, round(10_000 / every)))


def curve(
    landscape: Landscape,
    consts: Constants,
    final: float,
    key: str,
    used: float = 1.0,
    slow: float = SLOW_START,
) -> list[tuple[float, float]]:
    """(progress 0..1, loss) of one run whose value is `final`, printed up to `used` of
    the run (a crash stops earlier); `key` seeds its noise (the node and its seed);
    `slow`: the slow start of a bigger model or batch (0: none, only the LR and the
    schedule shape a curve; the other constants move it by its final value)."""
    full = {**landscape.base, **consts}
    lr = _ratio(full, landscape.base, _lr_name(landscape.base))
    size = _ratio(full, landscape.base, "DEPTH") * _ratio(full, landscape.base, "WIDTH")
    speed = lr**0.3 * (size * _ratio(full, landscape.base, "BATCH_SIZE")) ** -slow
    warmup = full.get("WARMUP_RATIO", 0.0)
    warmup = float(warmup) if isinstance(warmup, int | float) else 0.0
    rng = random.Random(f"curve|{landscape.name}|{key}")
    offset = rng.gauss(0.0, RUN_SD * landscape.noise)
    n = point_count(full)
    grid = [i / n for i in range(n + 1)]
    rates = [lr_multiplier(p, warmup) for p in grid]
    done = [0.0]
    for i in range(1, n + 1):
        done.append(done[-1] + (rates[i - 1] + rates[i]) / 2)
    total = done[-1] or 1.0
    k = RATE * speed
    points = []
    for p, rate, made in zip(grid, rates, done, strict=True):
        if p > used + 1e-9:
            break
        shape = HEADROOM * (math.exp(-k * made / total) - math.exp(-k))
        loss = final + shape + FLOOR * lr * rate + offset * (1 - p)
        if p < 1.0:
            loss += rng.gauss(0.0, POINT_SD)
        points.append((p, loss))
    return points


def lines(points: list[tuple[float, float]], steps_per_point: int = 10) -> list[str]:
    """The curve as a trainer prints it: `step 00120 (12.0%) | loss: 3.141593`."""
    return [
        f"step {i * steps_per_point:05d} ({100 * p:.1f}%) | loss: {loss:.6f}"
        for i, (p, loss) in enumerate(points)
    ]
