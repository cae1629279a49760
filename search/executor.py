"""The executor interface: one `Job` in, one `RunResult` out (docs/ARCHITECTURE.md §6).

An executor runs an experiment's command somewhere and knows the slots it has to run on:
`LocalExecutor` (this machine, search/local_executor.py), `RayExecutor` (a Ray cluster,
search/ray_executor.py), or the search benchmark's in-process stand-in (app/bench/).
The scheduler takes one at the start (`executors.make_executor` reads `[search]
executor`) and from then on only calls `slots()` and `run(job)`.

The output goes to `job.log_path` and, as it arrives, to `job.parser` (which keeps the
metric and the loss points) and `job.on_output`; the run's verdict (done, crashed,
timeout, invalid) is the caller's to draw from the parser and the `RunResult`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from autoresearch_tui.search.contain import Isolation
from autoresearch_tui.search.output import OutputParser
from autoresearch_tui.search.slots import Slot


def _no_pid(pid: int) -> None:
    return None


def _no_output(lines: list[str], elapsed: float) -> None:
    return None


@dataclass
class Job:
    """One experiment to run: what, where, with what, and who to tell."""

    node_id: str
    commit: str
    seed: int  # AR_SEED
    command: str  # `[target] run`
    env: dict[str, str]  # the run's own variables (the slot's, AR_*); not the runner's
    slot: Slot
    log_path: Path
    parser: OutputParser
    timeout_s: float
    max_log_mb: float = 0.0  # the log's cap, head and tail kept (search/log_cap.py); 0: none
    readonly: list[str] = field(default_factory=list)  # `[target] readonly` paths
    isolation: Isolation = field(default_factory=Isolation)  # sandbox, environment, marker
    worktree: Path | None = None  # a checkout of `commit`, for executors with `checkout`
    files: dict[str, str] = field(default_factory=dict)  # its editable files, for those without
    on_start: Callable[[int], None] = _no_pid  # the command's pid (its process group)
    on_output: Callable[[list[str], float], None] = _no_output  # new lines, seconds so far

    def checkout(self) -> Path:
        """The job's worktree; an error for an executor that was given none."""
        if self.worktree is None:
            raise ValueError(f"{self.node_id}: this executor needs a worktree of the commit")
        return self.worktree


@dataclass(frozen=True)
class RunResult:
    returncode: int | None
    timed_out: bool
    elapsed: float  # the command's own run time, in seconds


class Executor(Protocol):
    """Runs jobs; knows its slots. See the module docstring."""

    name: str  # "local", "ray", ...
    checkout: bool  # a job comes with a worktree of its commit (False: with `files` only)
    timed: bool  # its run times are slot time: the bandit prices them, they pace proposals
    # Proposals are made one at a time, in the order asked: for a simulated clock, on
    # which they take no time, and made at once their order would follow the wall clock.
    serial_proposals: bool

    def slots(self, count: int | None = None) -> list[Slot]:
        """Where jobs may run; `count` (the --slots flag) overrides the configured number."""
        ...

    async def run(self, job: Job) -> RunResult:
        """Run until the command's main process exits (then its output is read for at most
        DRAIN_S more, and what it left running is killed) or the timeout; cancelling the
        awaiting task stops the command. `job.isolation` says how it is contained.
        An executor with `checkout` leaves the readonly files in `job.worktree` as the run
        left them (they are checked afterwards)."""
        ...
