"""How many: one definition of a search's counts and of its experiment cap.

An *experiment* is a run of a child of the base: a change (improve, debug, merge) or a
re-run of one (a `rerun` child: noise control's confirmation, or the person's `r`). It is
what `--max-experiments` counts, from the moment it starts. The base's own runs (its
first and its calibration re-runs, `[search] base_runs`) are *base runs*, counted
beside it; a proposal that never became a commit is a *failed proposal*. The status bar,
`status`, `report`, the headless lines and the TUI's finished line all read `Counts.of`.

The cap is the search's, not the process's: `--max-experiments N` (a total) or
`--more N` (N beyond the experiments in the tree) is written to state.db as a `cap`
event; a start with neither flag goes on toward the last one written. See
docs/ARCHITECTURE.md §4.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field
from typing import Any

from autoresearch_tui.search.model import FINISHED, Node
from autoresearch_tui.search.pacing import is_calibration
from autoresearch_tui.search.store import Store
from autoresearch_tui.search.tree import Tree

CAP_EVENT = "cap"  # events row: {"total": N, "more": N or None}
MIN_RATE_RUNS = 2  # a rate needs this many finished experiments …
MIN_RATE_SPAN_S = 60.0  # … over at least this long
GO_ON = 10  # experiments the TUI's `s` adds to a search whose cap is reached


def started(node: Node, running: Container[str] = ()) -> bool:
    """The node's run has begun: it runs (or `running` holds it) or it finished."""
    return node.id in running or node.status == "running" or node.status in FINISHED


def is_experiment(node: Node) -> bool:
    """A run the cap counts: any node but the base and the base's re-runs."""
    return not is_calibration(node)


@dataclass(frozen=True)
class Counts:
    """A search's counts (see the module docstring for what each one means)."""

    experiments: int = 0  # started, re-runs included: what --max-experiments counts
    reruns: int = 0  # of the experiments, re-runs of a child
    base_runs: int = 0  # the base's runs started (its first and its calibration runs)
    failed: int = 0  # proposals that never became a commit
    running: int = 0  # runs running now (experiments and base runs)
    outcomes: dict[str, int] = field(default_factory=dict)  # finished experiments by status

    @classmethod
    def of(cls, tree: Tree, running: Container[str] = ()) -> Counts:
        """Count `tree`; `running` names runs begun whose node is not marked running yet."""
        experiments = reruns = base_runs = failed = now = 0
        outcomes: dict[str, int] = {}
        for node in tree:
            if node.status == "failed":
                failed += 1
                continue
            if not started(node, running):
                continue
            now += node.status not in FINISHED
            if not is_experiment(node):
                base_runs += 1
                continue
            experiments += 1
            reruns += node.kind == "rerun"
            if node.status in FINISHED:
                outcomes[node.status] = outcomes.get(node.status, 0) + 1
        return cls(experiments, reruns, base_runs, failed, now, dict(sorted(outcomes.items())))

    def text(self, cap: int | None = None, *, short: bool = False) -> str:
        """E.g. "27 of 60 experiments (2 re-runs, 1 running) + 3 base runs, 4 failed
        proposals"; `short` (the status bar) leaves out the running and the failed."""
        extra = [f"{self.reruns} re-run{_s(self.reruns)}"] if self.reruns else []
        if self.running and not short:
            extra.append(f"{self.running} running")
        if cap is not None and self.experiments > cap:  # the cap was lowered below the tree
            extra.insert(0, f"cap {cap}")
        of = cap if cap is not None and self.experiments <= cap else None
        total = f" of {of}" if of is not None else ""
        text = f"{self.experiments}{total} experiment{_s(self.experiments if of is None else of)}"
        text += f" ({', '.join(extra)})" if extra else ""
        if self.base_runs:
            text += f" + {self.base_runs} base run{_s(self.base_runs)}"
        if self.failed and not short:
            text += f", {self.failed} failed proposal{_s(self.failed)}"
        return text

    def as_json(self, cap: int | None = None) -> dict[str, Any]:
        return {
            "experiments": self.experiments, "reruns": self.reruns,
            "base_runs": self.base_runs, "failed_proposals": self.failed,
            "running": self.running, "outcomes": dict(self.outcomes), "cap": cap,
        }  # fmt: skip


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def rate_per_hour(tree: Tree, now: float, since: float | None = None) -> float | None:
    """Finished experiments per hour: those finished after `since` (this process's start)
    over the time since then; without `since`, all of the tree's over the span of its own
    timestamps (a watched run: the first start to the last finish, or now while one runs).
    None until it means something: MIN_RATE_RUNS finished over MIN_RATE_SPAN_S."""
    ends: list[float] = []
    for n in tree:
        end = n.finished_at if is_experiment(n) and n.status in FINISHED else None
        if end is not None and (since is None or end >= since):
            ends.append(end)
    if len(ends) < MIN_RATE_RUNS:
        return None
    if since is None:
        starts = [n.started_at for n in tree if n.started_at]
        since = min(starts, default=min(ends))
        now = now if any(n.status == "running" for n in tree) else max(ends)
    span = now - since
    return None if span < MIN_RATE_SPAN_S else len(ends) / (span / 3600.0)


def saved_cap(store: Store) -> int | None:
    """The cap last written to state.db (None: the search has none)."""
    events = store.events(CAP_EVENT)
    return int(events[-1]["data"]["total"]) if events else None


def settle_cap(store: Store, asked: int | None, more: int | None, experiments: int) -> int | None:
    """This start's cap: `more` beyond the `experiments` already in the tree, else `asked`
    (a total), else the saved one; a cap from a flag is saved. Runs on the store's thread."""
    if more is not None:
        cap: int | None = experiments + more
    elif asked is not None:
        cap = asked
    else:
        return saved_cap(store)
    store.add_event(CAP_EVENT, total=cap, more=more)
    return cap


def cap_reached(counts: Counts, cap: int | None) -> bool:
    return cap is not None and counts.experiments >= cap


def finished_line(counts: Counts, cap: int, *, tui: bool = False, more: int = GO_ON) -> str:
    """What a search whose cap is reached says, with how to go on."""
    how = f"press s for {more} more" if tui else (
        f"run again with --more N to go on (e.g. --more {more})"
    )  # fmt: skip
    of = f"of {cap} " if counts.experiments <= cap else ""
    return f"finished: {counts.experiments} {of}experiments — {how}"
