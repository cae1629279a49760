"""One number per node, defined once: a node's value, its Δ and its verdict.

* **value**: the mean over the node's runs (its own and its re-runs; the base's
  calibration runs are re-runs of the base), with their count `runs`.
* **Δ**: the value minus its reference's value (`Tree.reference`: the parent; for a merge
  the better parent; past a parent without a value, the nearest measured ancestor), in
  metric units, so negative means lower. It is always shown with the word "better" or
  "worse" for the goal (agents/format.py `fmt_change`): nobody has to read signs.
* **verdict**: what the Δ means against the run-to-run spread (search/noise.py, the
  same rule as `Tree.gain_state`'s "confirmed"): VERDICTS.
* A re-run or a calibration run is a sample of its node ("run 2 of n0000"), never a
  change: it has no Δ and no verdict of its own.

The numbers are the tree's (`metric_mean`, `samples`, `reference`, `delta_parent`,
`delta_base`, `noise_spread`); every surface reads them through `node_value` and shows
them through `NodeValue.text` and `best_text`: the tree rows, the node pane, the status
bar, `status` (text and --json), the report, headless output and the prompts
(search/memory.py). See docs/ARCHITECTURE.md §4.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from autoresearch_tui.agents.format import (
    change_word,
    fmt_change,
    fmt_delta,
    fmt_metric,
    fmt_sample,
    fmt_value,
)
from autoresearch_tui.search.model import improvement, node_index
from autoresearch_tui.search.tree import Tree

BASE, SAMPLE, UNMEASURED = "base", "sample", "unmeasured"
CONFIRMED, UNCONFIRMED, WITHIN_NOISE, WORSE = "confirmed", "unconfirmed", "within noise", "worse"
NOISE_UNKNOWN, SEED_ONLY, NO_REFERENCE = "noise not measured yet", "seed only", "no reference"
VERDICTS = (
    BASE,  # the base: the reference of everything
    CONFIRMED,  # better by more than the spread, over 1 + confirm_runs runs
    UNCONFIRMED,  # better by more than the spread, not re-run enough yet
    WITHIN_NOISE,  # better or worse by no more than the spread
    WORSE,  # worse by more than the spread
    NOISE_UNKNOWN,  # no commit has run twice: the spread is not known
    SEED_ONLY,  # the edit changes only a seed: its luck is not a gain
    NO_REFERENCE,  # nothing above it has a value
    UNMEASURED,  # no value: pending, running, crashed, timed out, invalid
    SAMPLE,  # a re-run or calibration run: one run of another node
)
# The one-cell mark a narrow view (a tree row) shows for a verdict; none for the rest.
VERDICT_MARKS = {CONFIRMED: "✓", UNCONFIRMED: "?", WITHIN_NOISE: "≈", NOISE_UNKNOWN: "?"}
_UNSET = -1.0  # node_value: compute the spread


@dataclass(frozen=True)
class NodeValue:
    """A node's value, Δ and verdict (see the module docstring)."""

    node_id: str
    value: float | None  # the mean of its runs; a sample's: its own run
    runs: int  # how many runs the value is the mean of (0: none)
    delta: float | None  # value - the reference's value, metric units (negative = lower)
    reference: str | None  # the node the Δ is measured against
    better: bool | None  # the Δ is better for the goal; None: no Δ, or equal
    verdict: str  # one of VERDICTS
    base: float | None = None  # the base's value
    vs_base: float | None = None  # value - the base's value (None: the base, a sample)
    base_better: bool | None = None  # `vs_base` is better for the goal; None: none, equal
    sample_of: str | None = None  # a re-run or calibration run: the node it samples
    sample_index: int = 0  # which run of that node it is (its first run is 1)

    @property
    def word(self) -> str:
        """The Δ's word for the goal: "better", "worse", "equal"; "" without a Δ."""
        return change_word(self.delta, self.better)

    def value_text(self) -> str:
        """The value with its runs: "1.9047 (mean of 3)", "2.8620 (run 2 of n0000)", "-"."""
        if self.sample_of is not None:
            return fmt_sample(self.value, self.sample_index, self.sample_of)
        return fmt_value(self.value, self.runs)

    def short_value(self) -> str:
        """The narrow form (tree rows, the status bar): "1.9047×3" (the mean of 3 runs),
        "2.0112" (one run), "-"."""
        return fmt_metric(self.value) + (f"×{self.runs}" if self.runs > 1 else "")

    @property
    def mark(self) -> str:
        """The verdict's one-cell mark (VERDICT_MARKS); "" for the rest."""
        return VERDICT_MARKS.get(self.verdict, "")

    def change_text(self) -> str:
        """The Δ with its word and reference: "Δ -0.0100 better vs n0007"; "" without."""
        return fmt_change(self.delta, self.better, self.reference or "")

    def base_text(self, *, share: bool = True) -> str:
        """The change since the base: "Δ vs base -0.9810 (-34.0%) better" (without
        `share`, no percentage); "" for the base, a sample or without a value."""
        delta = self.vs_base
        if delta is None or self.base is None:
            return ""
        percent = f" ({100 * delta / self.base:+.1f}%)" if share and self.base else ""
        return f"Δ vs base {fmt_delta(delta)}{percent} {change_word(delta, self.base_better)}"

    def as_json(self) -> dict[str, Any]:
        """The keys `status --json` adds per node (value, runs, delta, verdict, ...)."""
        return {
            "value": self.value,
            "runs": self.runs,
            "delta": self.delta,
            "delta_vs": self.reference,
            "better": self.better,
            "verdict": self.verdict,
            "sample_of": self.sample_of,
            "run": self.sample_index or None,
            "text": self.text(),
        }

    def text(self) -> str:
        """The one text form: "1.9047 (mean of 3), Δ -0.0100 better vs n0007: confirmed";
        a sample: "2.8620 (run 2 of n0000)"; no value: "unmeasured"."""
        if self.sample_of is not None:
            return self.value_text()
        if self.value is None:
            return self.verdict
        change = self.change_text()
        return f"{self.value_text()}{', ' + change if change else ''}: {self.verdict}"


def _verdict(tree: Tree, node_id: str, spread: float | None) -> str:
    node = tree[node_id]
    if node.kind == "rerun":
        return SAMPLE
    if not node.has_metric:
        return UNMEASURED
    if node.parent is None:
        return BASE
    if node.seed_only:
        return SEED_ONLY
    gain = tree.gain(node_id)
    if gain is None:
        return NO_REFERENCE
    if spread is None:
        return NOISE_UNKNOWN
    if abs(gain) <= spread:
        return WITHIN_NOISE
    if gain < 0:
        return WORSE
    return CONFIRMED if len(tree.samples(node_id)) >= tree.required_samples else UNCONFIRMED


def sample_index(tree: Tree, node_id: str) -> int:
    """Which run of its node a re-run is: the node's own run is 1, its re-runs 2, 3, …
    in id order (a crashed re-run keeps its place)."""
    node = tree[node_id]
    parent = node.parent or ""
    reruns = sorted((c.id for c in tree.children(parent) if c.kind == "rerun"), key=node_index)
    return reruns.index(node_id) + 2 if node_id in reruns else 1


def node_value(tree: Tree, node_id: str, spread: float | None = _UNSET) -> NodeValue:
    """The value, Δ and verdict of one node; pass `spread` (tree.noise_spread()) when
    asking for many."""
    if spread is not None and spread < 0:
        spread = tree.noise_spread()
    node = tree[node_id]
    root = tree.root
    base = tree.metric_mean(root.id) if root is not None else None
    if node.kind == "rerun" and node.parent is not None:
        own = node.measured_metric
        return NodeValue(
            node_id, own, int(own is not None), None, None, None, SAMPLE, base,
            sample_of=node.parent, sample_index=sample_index(tree, node_id),
        )  # fmt: skip
    value = tree.metric_mean(node_id)
    delta = tree.delta_parent(node)
    ref = tree.reference(node_id) if delta is not None else None
    vs_base = tree.delta_base(node)
    return NodeValue(
        node_id=node_id,
        value=value,
        runs=len(tree.samples(node_id)) if value is not None else 0,
        delta=delta,
        reference=ref.id if ref is not None else None,
        better=_better(delta, tree.goal),
        verdict=_verdict(tree, node_id, spread),
        base=base,
        vs_base=vs_base,
        base_better=_better(vs_base, tree.goal),
    )


def _better(delta: float | None, goal: str) -> bool | None:
    if delta is None or delta == 0:
        return None
    return improvement(delta, 0.0, goal) > 0


def best_text(tree: Tree, spread: float | None = _UNSET, *, share: bool = True) -> str:
    """The headline: "best n0006 1.9047 (mean of 3) · Δ vs base -0.9810 (-34.0%) better
    · unconfirmed" (the best by value: Tree.best); "" before any value. Without `share`,
    no percentage (the status bar)."""
    best = tree.best()
    if best is None:
        return ""
    nv = node_value(tree, best.id, spread)
    parts = [f"best {best.id} {nv.value_text()}"]
    if base := nv.base_text(share=share):
        parts.append(base)
    parts.append(nv.verdict)
    return " · ".join(parts)
