"""The headless runner's output: one line per finished experiment and a final summary.

Values, Δ and verdicts read as everywhere else (search/values.py, agents/format.py); the
early stops' line is `status --json`'s numbers (search/early_stopping.py `early_stops`).
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from autoresearch_tui.agents.format import fmt_duration
from autoresearch_tui.search.counts import Counts, cap_reached, finished_line
from autoresearch_tui.search.early_stopping import early_stops
from autoresearch_tui.search.events import Event, NodeChanged, Notice
from autoresearch_tui.search.model import FINISHED, Node
from autoresearch_tui.search.scheduler import Scheduler
from autoresearch_tui.search.values import best_text, node_value


class HeadlessPrinter:
    """A scheduler listener that prints as experiments finish."""

    def __init__(self, search: Scheduler, out: TextIO | None = None):
        self.search = search
        self.out = out or sys.stdout  # looked up now: a test may have replaced it
        self.metric = search.config.target.metric

    def __call__(self, event: Event) -> None:
        if isinstance(event, Notice):
            print(f"[{event.level}] {event.text}", file=self.out, flush=True)
        elif isinstance(event, NodeChanged) and (
            event.node.status in FINISHED or event.node.status == "failed"
        ):
            self.out.write(self.line(self.search.tree[event.node.id]) + "\n")
            self.out.flush()

    def line(self, node: Node) -> str:
        tree = self.search.tree
        head = f"{node.id} <- {node.parent or '-':5} {node.persona:<10}"
        if node.has_metric:  # search/values.py's one text form
            spread = tree.noise_spread()
            value, best = node_value(tree, node.id, spread), tree.best()
            body = f"{self.metric} {value.text()}"
            sampled = node_value(tree, value.sample_of) if value.sample_of is not None else None
            if sampled is not None and sampled.value is not None:
                body += f" · {value.sample_of} now {sampled.value_text()}"
            elif base := value.base_text(share=False):
                body += f" · {base}"
            if best is not None:
                body += f"  | best {best.id} {node_value(tree, best.id, spread).value_text()}"
        else:
            body = f"{node.status}: {node.reason}"
        desc = f"  | {node.description}" if node.description and node.kind != "root" else ""
        return f"{head} {body}{desc}"

    def summary(self, wall_s: float) -> str:
        search = self.search
        tree = search.tree
        counts = Counts.of(tree)  # one definition of the counts (search/counts.py)
        outcomes = ", ".join(f"{v} {k}" for k, v in counts.outcomes.items())
        best, root = tree.best(), tree.root
        lines = [
            f"run {search.run_name}: {counts.text(search.max_experiments)} in "
            f"{fmt_duration(wall_s)} on {len(search.slots)} slot(s)"
            + (f"; the experiments: {outcomes}" if outcomes else ""),
        ]
        if root is not None and root.has_metric and best is not None:
            base = node_value(tree, root.id).value_text()
            lines.append(f"base {base} -> {best_text(tree)}: {best.description or 'the base'}")
            lines.append(
                f"export it: autoresearch-tui export {search.config.root} best -o best.patch"
            )
        if (stops := early_stops(tree)).runs:
            lines.append(stops.line())  # "early stops: 3 runs, 0.1 slot-hours saved"
        if search.cost_usd:
            lines.append(f"agent cost ${search.cost_usd:.2f}")
        return "\n".join(lines)


def cap_line(search: Scheduler) -> str:
    """A line when the search's cap is reached already (nothing more will run), else ""."""
    counts, cap = Counts.of(search.tree), search.max_experiments
    return finished_line(counts, cap) if cap is not None and cap_reached(counts, cap) else ""


def started_line(search: Scheduler) -> str:
    slots = ", ".join(s.name for s in search.slots)
    agents = ", ".join(p.spec.label for p in search.proposers)
    return (
        f"run {search.run_name} on {search.config.root} — policy {search.policy.name}, "
        f"slots [{slots}], agents [{agents}], base {search.base_commit[:10]} "
        f"({time.strftime('%H:%M:%S')})"
    )
