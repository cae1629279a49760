"""What a persona is told: the `ProposalRequest` the engine builds for one proposal.

The other half of the seam between the search engine and the agents (agents/proposer.py
is the first): plain data, built by search/proposing.py from the tree, read by the
prompts (agents/prompt.py) and the offline personas. Nothing here imports the search
package. See docs/ARCHITECTURE.md §1 and §5.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class TriedChange:
    """A change the tree already holds: a lineage step, a sibling, a cousin or the best."""

    node_id: str
    description: str
    status: str
    metric: float | None = None
    delta: float | None = None  # vs its parent, sign as measured (goal decides good)
    persona: str = ""


@dataclass(frozen=True)
class NodeResult:
    """One measured experiment as the results section reads it (search/memory.py)."""

    node_id: str
    persona: str
    parent_id: str  # "" for the base
    path: tuple[str, ...]  # short descriptions: the last ancestors', then its own
    constants: tuple[str, ...]  # its changed constants vs its parent: "DEPTH 4->8"
    status: str  # done, crashed, timeout, invalid
    mean: float | None  # the mean over its runs (never one run alone)
    runs: int  # its own run, its re-runs (and, for the base, its calibration runs)
    delta: float | None  # mean - its reference's mean (the parent's), sign as measured
    verdict: str  # search/values.py's VERDICTS (base, confirmed, unconfirmed, within
    # noise, worse, ...), or for no value "crashed: <reason>", ...
    pruned: bool = False
    better: bool | None = None  # the delta is better for the goal; None: none, or equal
    reference: str = ""  # the node the delta is measured against ("": its parent)


@dataclass(frozen=True)
class ConstantTrial:
    """One value tried for one constant: every experiment that moved `name` from `old`
    to `new`, their mean delta vs their parents, their runs, and what it means."""

    name: str
    old: str
    new: str
    experiments: int
    runs: int
    mean_delta: float | None  # None when none of them measured (all crashed)
    crashed: int
    mark: str  # ✓ better beyond the spread, ✓? once, ≈ within noise, ✗ worse, crashed, joint


@dataclass(frozen=True)
class InFlight:
    """A proposal being written (no description yet) or accepted and not yet measured."""

    node_id: str
    persona: str
    parent_id: str
    status: str  # proposing, ready, running
    description: str = ""
    constants: tuple[str, ...] = ()


@dataclass(frozen=True)
class Memory:
    """What the whole tree knows, for the results section of every prompt: the part
    shared by every parent (noise, best, results, constants) and this parent's part."""

    spread: float | None  # the run-to-run spread (search/noise.py), None before any
    spread_runs: int  # how many runs it was measured from
    spread_commits: int  # of how many commits
    best: NodeResult | None  # the confirmed best (the base until a gain is confirmed)
    best_unconfirmed: NodeResult | None  # a better mean that is not confirmed yet
    results: tuple[NodeResult, ...]  # by node id, compressed past MAX_LISTED
    measured: int  # how many experiments were measured (the list may omit some)
    constants: tuple[ConstantTrial, ...]  # by constant name, then first try
    # this parent's part
    lineage: tuple[NodeResult, ...]  # base -> parent
    children: tuple[NodeResult, ...]  # the parent's measured children
    in_flight: tuple[InFlight, ...]  # proposals being written, queued or running


@dataclass(frozen=True)
class Trial:
    """One measured node of the tuner's history (search/tuner_history.py): its constants'
    values as source text (`{"LR": "0.04"}`; a second file's names as `model.py:HEADS`)
    and its mean over its runs; `mean` None: it crashed or timed out (a failure), it was
    stopped early (`status` stopped: never a measured value, its partial `curve` instead),
    or it is still in flight (`status` proposing, ready or running)."""

    node_id: str
    values: dict[str, str]
    mean: float | None
    runs: int
    status: str
    # A stopped run's training loss (smoothed, lower is better) at whole percents of its
    # progress, up to where it was stopped: (percent, loss), a few dozen points at most.
    curve: tuple[tuple[int, float], ...] = ()


@dataclass(frozen=True)
class ConstantBelief:
    """What the tuner's history says of one constant: the value of the best trial and
    the range of values among the best trials (the top quarter, at least three)."""

    name: str
    best: str
    low: str
    high: str


@dataclass(frozen=True)
class TunerHistory:
    """The tree's trials that share the parent's skeleton (its editable files with the
    constant values masked), oldest first; `seeded_from` names the node whose skeleton's
    trials stand in when the parent's skeleton has no measured trial but the parent
    (an LLM changed the code). `belief` is what the LLM personas' prompts are shown."""

    trials: tuple[Trial, ...]
    seeded_from: str = ""
    belief: tuple[ConstantBelief, ...] = ()
    measured: int = 0  # trials with a mean among `trials`


@dataclass(frozen=True)
class LessonsNote:
    """The run's current lessons note (search/lessons.py): what the search has learned and
    what is still open, written by a model persona every `[search] lessons_every`
    experiments or by the person (the TUI's `L`). Every prompt shows the newest."""

    text: str
    persona: str  # the persona that wrote it; "" when the person wrote it from scratch
    at: int  # experiments measured when it was written
    edited: bool = False  # the person edited (or wrote) it: source "user"

    def byline(self) -> str:
        """'written at 10 experiments by architect; edited by the person'."""
        at = f"{self.at} experiment{'s' if self.at != 1 else ''}"
        if not self.persona:
            return f"written by the person at {at}"
        edited = "; edited by the person" if self.edited else ""
        return f"written at {at} by {self.persona}{edited}"


@dataclass(frozen=True)
class LessonsRequest:
    """What a persona is given to write the lessons note (agents/lessons.py): the tree's
    shared memory, the note so far and the person's hints."""

    workspace: Path  # the workspace root (program.md)
    metric: str
    goal: Literal["min", "max"]
    experiments: int  # experiments measured now (as the results section counts them)
    memory: Memory
    previous: LessonsNote | None = None
    hints: tuple[str, ...] = ()
    max_words: int = 400


@dataclass
class ProposalRequest:
    """Everything a persona may use to propose one child of `parent_id`."""

    workspace: Path  # the workspace root (program.md, briefs/)
    parent_id: str
    parent_files: dict[str, str]  # editable path (relative, posix) -> content
    editable: list[str]
    metric: str
    goal: Literal["min", "max"]
    seed: int
    kind: Literal["improve", "debug", "merge"] = "improve"
    worktree: Path | None = None  # a checkout of the parent (for the `command` backend)
    parent_metric: float | None = None
    base_metric: float | None = None
    lineage: list[TriedChange] = field(default_factory=list)  # base -> parent
    tried: list[TriedChange] = field(default_factory=list)  # siblings and cousins
    best: TriedChange | None = None
    hints: list[str] = field(default_factory=list)
    crash_log: str = ""  # head and tail of the parent's log, for debug children
    tried_descriptions: set[str] = field(default_factory=set)  # children of this parent
    # kind "merge": the other branch to bring into the parent, and its change as a diff
    # against the two branches' common ancestor (git could not merge it: a conflict)
    merge_with: TriedChange | None = None
    merge_change: str = ""
    # What the runs are (filled by search/run_figures.py): where they run and with what
    # budget, the readonly files' key constants, and the parent's and the best's run.
    machine: str = ""
    run_setup: str = ""
    parent_run: RunFigures | None = None
    best_run: RunFigures | None = None
    # What the whole tree knows (search/memory.py); None in hand-built requests, whose
    # prompt then shows `lineage`, `tried` and `best` only.
    memory: Memory | None = None
    # Earlier proposals for this child the engine sent back, with the reason (e.g.
    # "identical to n0017 ..."): the prompt shows them before the task.
    rejected: list[str] = field(default_factory=list)
    # The current lessons note (search/lessons.py); the prompt shows it after the hints.
    lessons: LessonsNote | None = None
    # The tuner's history (search/tuner_history.py), filled when a `tuner` (optuna)
    # persona is in the search; the LLM prompts show its `belief`.
    tuner: TunerHistory | None = None
    child_id: str = ""  # the node this proposal is for (seeds the tuner's sampler)


@dataclass(frozen=True)
class RunFigures:
    """What one run's log and loss points say about it (search/run_figures.py reads them):
    how far it got in its budget and how its loss went, so a model can see what the runs
    really are on this machine."""

    node_id: str
    seconds: float | None = None  # the run's own wall time
    steps: int | None = None
    tokens_per_s: float | None = None
    peak_memory_mb: float | None = None
    mfu_percent: float | None = None
    loss_at: tuple[tuple[int, float], ...] = ()  # (percent of the run, loss): 25, 50, 75, 100
