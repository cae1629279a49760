"""The headless runner's output: one line per finished experiment and a final summary.

Numbers read as everywhere else (agents/format.py).
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from autoresearch_tui.agents.format import fmt_delta, fmt_duration, fmt_metric
from autoresearch_tui.search.events import Event, NodeChanged, Notice
from autoresearch_tui.search.model import FINISHED, Node
from autoresearch_tui.search.scheduler import Scheduler


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
        if node.has_metric:
            best = tree.best()
            body = (
                f"{self.metric} {fmt_metric(node.metric)}  "
                f"Δparent {fmt_delta(tree.delta_parent(node)) or '-'}  "
                f"Δbase {fmt_delta(tree.delta_base(node)) or '-'}  "
                f"best {best.id if best else '-'} {fmt_metric(best.metric if best else None)}"
            )
        else:
            body = f"{node.status}: {node.reason}"
        desc = f"  | {node.description}" if node.description and node.kind != "root" else ""
        return f"{head} {body}{desc}"

    def summary(self, wall_s: float) -> str:
        search = self.search
        tree = search.tree
        nodes = [n for n in tree if n.kind != "root"]
        counts = {
            s: sum(1 for n in nodes if n.status == s)
            for s in ("done", "crashed", "timeout", "invalid", "failed")
        }
        best, root = tree.best(), tree.root
        lines = [
            f"run {search.run_name}: {sum(counts[s] for s in FINISHED)} experiments "
            f"({', '.join(f'{v} {k}' for k, v in counts.items() if v)}) in {fmt_duration(wall_s)} "
            f"on {len(search.slots)} slot(s)",
        ]
        if root is not None and root.has_metric and best is not None:
            lines.append(
                f"base {fmt_metric(root.metric)} -> best {best.id} {fmt_metric(best.metric)} "
                f"({fmt_delta(tree.delta_base(best)) or '+0'}): {best.description}"
            )
            lines.append(
                f"export it: autoresearch-tui export {search.config.root} best -o best.patch"
            )
        if search.cost_usd:
            lines.append(f"agent cost ${search.cost_usd:.2f}")
        return "\n".join(lines)


def started_line(search: Scheduler) -> str:
    slots = ", ".join(s.name for s in search.slots)
    agents = ", ".join(p.spec.label for p in search.proposers)
    return (
        f"run {search.run_name} on {search.config.root} — policy {search.policy.name}, "
        f"slots [{slots}], agents [{agents}], base {search.base_commit[:10]} "
        f"({time.strftime('%H:%M:%S')})"
    )
