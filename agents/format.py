"""How numbers read everywhere: metrics, deltas, durations and counts.

One definition for the TUI, the headless output, `status`, the report and the prompts
(a leaf module: it imports nothing from the package, so every layer may use it; search
reaches it through the seam of docs/ARCHITECTURE.md §1).

* A metric keeps at least four decimals and at least five significant digits, trailing
  zeros included, so metrics line up and a difference of 0.0001 around 1.0 shows:
  1.1050, 0.99321, 35.1230, 0.0012346, 12346.
* A delta (a difference of two metrics: vs the parent, vs the base, a gain, the noise
  spread) is signed and keeps four decimals, more when needed to show its first
  significant digit, so a real difference never reads +0.0000: -0.0500, +0.0002, +0.00003.
* A node's value is the mean over its runs with their count, "1.9047 (mean of 3)"; a Δ
  always comes with the word for the goal: "Δ -0.0100 better vs n0007" (search/values.py).
* A duration is a clock: 0:42, 12:03, 1:02:03. A count is short: 950, 1.2k, 3.4M.
"""

from __future__ import annotations

import math

DECIMALS = 4  # metrics and deltas below 1000 show at least this many decimals
METRIC_DIGITS = 5  # significant digits a metric always shows
DELTA_DIGITS = 1  # significant digits a delta always shows
HUGE, TINY = 1e9, 1e-9  # beyond these, scientific notation


def _number(value: float, digits: int, sign: str) -> str:
    size = abs(value)
    if size >= HUGE or 0 < size < TINY:
        return f"{value:{sign}.{digits - 1}e}"
    exponent = math.floor(math.log10(size)) if size else 0
    decimals = max(DECIMALS if size < 1000 else 0, digits - 1 - exponent)
    return f"{value:{sign}.{decimals}f}"


def fmt_metric(value: float | None) -> str:
    """A metric (or a mean of metrics); "-" when there is none."""
    if value is None or not math.isfinite(value):
        return "-"
    return _number(value, METRIC_DIGITS, "")


def fmt_delta(value: float | None, *, signed: bool = True) -> str:
    """A difference of metrics, signed unless `signed=False`; "" when there is none."""
    if value is None or not math.isfinite(value):
        return ""
    return _number(value, DELTA_DIGITS, "+" if signed else "")


def fmt_value(value: float | None, runs: int) -> str:
    """A node's value, the mean over its runs, with their count: "1.9047 (mean of 3)",
    "2.0112 (1 run)"; "-" when it has none (search/values.py defines the value)."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{fmt_metric(value)} ({f'mean of {runs}' if runs > 1 else '1 run'})"


def fmt_sample(value: float | None, index: int, of: str) -> str:
    """One run of a node that is a sample of another (a re-run, a calibration run):
    "2.8620 (run 2 of n0000)", never a change of its own."""
    return f"{fmt_metric(value)} (run {index} of {of})"


def change_word(delta: float | None, better: bool | None) -> str:
    """The word for a delta under the goal: "better", "worse" or "equal" (never a sign to
    read); "" without a delta."""
    if delta is None or not math.isfinite(delta):
        return ""
    return "equal" if delta == 0 else "better" if better else "worse"


def fmt_change(delta: float | None, better: bool | None, reference: str = "") -> str:
    """A Δ (value - the reference's value, in metric units: negative = lower) with the
    word that says what it means: "Δ -0.0100 better vs n0007"; "" without a delta."""
    if delta is None or not math.isfinite(delta):
        return ""
    against = f" vs {reference}" if reference else ""
    return f"Δ {fmt_delta(delta)} {change_word(delta, better)}{against}"


def fmt_duration(seconds: float | None) -> str:
    """0:42, 12:03, 1:02:03; "-" when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def fmt_count(value: float | None) -> str:
    """950, 1.2k, 3.4M, 5.6G."""
    number = float(value or 0)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(number) >= limit:
            return f"{number / limit:.1f}{suffix}"
    return f"{number:.0f}"


def fmt_memory(mb: float) -> str:
    """850 MB, 1.2 GB, 45.1 GB."""
    return f"{mb / 1024:.1f} GB" if mb >= 1024 else f"{mb:.0f} MB"
