"""The prompt's "## What the runs are" section: the machine and the hard limit, the
readonly files' key constants, and what the parent's and the best node's runs did
(steps, seconds, tokens/s, peak memory, MFU, the loss along the run).

The engine measures these (search/run_figures.py) into the `ProposalRequest`'s
`machine`, `run_setup`, `parent_run` and `best_run`; this module only renders them,
with the shared number formats (agents/format.py). See docs/ARCHITECTURE.md §5.
"""

from __future__ import annotations

from autoresearch_tui.agents.format import fmt_count, fmt_duration, fmt_memory, fmt_metric
from autoresearch_tui.agents.mutator import find_constants
from autoresearch_tui.agents.request import ProposalRequest, RunFigures

STEP_WORDS = ("STEP", "ITER")  # a constant whose name has one of these counts steps


def run_line(label: str, run: RunFigures) -> str:
    """'- parent n0012: 39 steps in 1:00, 1.2k tok/s, peak memory 1.2 GB;
    training loss 4.1000 / 3.6000 / 3.4100 / 3.3300 at 25/50/75/100% of its steps'; only
    what the run printed, "" when it printed nothing."""
    figures = []
    if run.steps is not None:
        steps = f"{fmt_count(run.steps)} steps"
        figures.append(f"{steps} in {fmt_duration(run.seconds)}" if run.seconds else steps)
    elif run.seconds:
        figures.append(f"ran {fmt_duration(run.seconds)}")
    if run.tokens_per_s:
        figures.append(f"{fmt_count(run.tokens_per_s)} tok/s")
    if run.peak_memory_mb:
        figures.append(f"peak memory {fmt_memory(run.peak_memory_mb)}")
    if run.mfu_percent:
        figures.append(f"MFU {run.mfu_percent:.1f}%")
    text = ", ".join(figures)
    if run.loss_at:
        losses = " / ".join(fmt_metric(loss) for _, loss in run.loss_at)
        percents = "/".join(str(pct) for pct, _ in run.loss_at)
        text += ("; " if text else "") + f"training loss {losses} at {percents}% of its steps"
    return f"- {label} {run.node_id}: {text}" if text else ""


def step_constants_note(request: ProposalRequest) -> str:
    """A fact a model cannot see otherwise: editable constants counted in steps that are
    larger than the parent's whole run, so their schedule never completes."""
    steps = request.parent_run.steps if request.parent_run is not None else None
    if not steps:
        return ""
    larger = [
        f"{c.name} = {c.value} ({c.path})"
        for path, source in sorted(request.parent_files.items())
        if path.endswith(".py")
        for c in find_constants(path, source)
        if isinstance(c.value, int)
        and not isinstance(c.value, bool)
        and any(word in c.name for word in STEP_WORDS)
        and c.value > steps
    ]
    if not larger:
        return ""
    verb = "counts steps and is" if len(larger) == 1 else "count steps and are"
    return (
        f"The parent's run had {fmt_count(steps)} steps: {', '.join(larger)} {verb} never "
        "reached in a run like it."
    )


def run_section(request: ProposalRequest) -> str:
    """'## What the runs are', or "" when the engine measured nothing."""
    parts = []
    if request.machine:
        parts.append(f"Machine: {request.machine}.")
    if request.run_setup:
        parts.append(f"Fixed for every run (readonly files):\n{request.run_setup}")
    parent, best = request.parent_run, request.best_run
    parent_is_best = parent is not None and best is not None and best.node_id == parent.node_id
    runs = []
    if parent is not None:
        runs.append(run_line("parent (the best so far)" if parent_is_best else "parent", parent))
    if best is not None and not parent_is_best:
        runs.append(run_line("best", best))
    if runs := [line for line in runs if line]:
        parts.append("Runs on this machine, as their logs report them:\n" + "\n".join(runs))
    if note := step_constants_note(request):
        parts.append(note)
    return "## What the runs are\n\n" + "\n\n".join(parts) if parts else ""
