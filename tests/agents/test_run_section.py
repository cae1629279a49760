"""The prompt's "What the runs are" section (agents/run_section.py), rendered from the
request's machine, readonly set-up, and the parent's and the best node's run figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoresearch_tui.agents.request import ProposalRequest, RunFigures
from autoresearch_tui.agents.run_section import fmt_memory, run_line, run_section
from autoresearch_tui.trainer.workspace import template_text

PARENT = RunFigures(
    "n0012",
    seconds=60.2,
    steps=39,
    tokens_per_s=1234.0,
    peak_memory_mb=1228.8,
    loss_at=((25, 4.1), (50, 3.6), (75, 3.41), (100, 3.33)),
)
BEST = RunFigures("n0009", seconds=300.1, steps=953, tokens_per_s=1_745_000.0,
                  peak_memory_mb=45060.2, mfu_percent=39.8, loss_at=((50, 3.5), (100, 3.2)))  # fmt: skip


def request(parent_files: dict[str, str] | None = None, **run_fields: Any) -> ProposalRequest:
    return ProposalRequest(
        workspace=Path("."),
        parent_id="n0012",
        parent_files=parent_files or {"train.py": "DEPTH = 4\n"},
        editable=["train.py"],
        metric="val_bpb",
        goal="min",
        seed=1,
        **run_fields,
    )


def test_the_whole_section() -> None:
    text = run_section(
        request(
            machine="CPU, 2 threads per slot (2 slots, 4 cores); a run is killed after 4:00",
            run_setup="prepare.py:\n  TIME_BUDGET = 60  # seconds of training per experiment",
            parent_run=PARENT,
            best_run=BEST,
        )
    )
    assert text == (
        "## What the runs are\n\n"
        "Machine: CPU, 2 threads per slot (2 slots, 4 cores); a run is killed after 4:00.\n\n"
        "Fixed for every run (readonly files):\n"
        "prepare.py:\n  TIME_BUDGET = 60  # seconds of training per experiment\n\n"
        "Runs on this machine, as their logs report them:\n"
        "- parent n0012: 39 steps in 1:00, 1.2k tok/s, peak memory 1.2 GB; "
        "training loss 4.1000 / 3.6000 / 3.4100 / 3.3300 at 25/50/75/100% of its steps\n"
        "- best n0009: 953 steps in 5:00, 1.7M tok/s, peak memory 44.0 GB, MFU 39.8%; "
        "training loss 3.5000 / 3.2000 at 50/100% of its steps"
    )


def test_nothing_measured_is_no_section() -> None:
    assert run_section(request()) == ""
    assert run_section(request(parent_run=RunFigures("n0012"))) == ""  # a log with no figures
    assert run_line("parent", RunFigures("n0012")) == ""


def test_a_parent_that_is_the_best_is_shown_once() -> None:
    text = run_section(request(parent_run=PARENT, best_run=PARENT))
    assert "- parent (the best so far) n0012: 39 steps in 1:00" in text
    assert "- best" not in text and text.count("n0012") == 1


def test_partial_figures() -> None:
    assert run_line("best", RunFigures("n0003", seconds=61.0)) == "- best n0003: ran 1:01"
    assert run_line("parent", RunFigures("n0004", steps=5, loss_at=((100, 3.25),))) == (
        "- parent n0004: 5 steps; training loss 3.2500 at 100% of its steps"
    )
    assert fmt_memory(595.6) == "596 MB" and fmt_memory(45060.2) == "44.0 GB"


def test_step_counted_constants_the_parent_never_reached() -> None:
    train_py = template_text("train.py")  # MUON_MOMENTUM_STEPS = 300
    assert "\nMUON_MOMENTUM_STEPS = 300\n" in train_py
    text = run_section(request(parent_files={"train.py": train_py}, parent_run=PARENT))
    assert text.endswith(
        "The parent's run had 39 steps: MUON_MOMENTUM_STEPS = 300 (train.py) counts steps "
        "and is never reached in a run like it."
    )

    two = {"train.py": "WARMUP_STEPS = 50\nMAX_ITERS = 80\nDEPTH = 400\nUSE_STEPS = True\n"}
    text = run_section(request(parent_files=two, parent_run=PARENT))
    assert text.endswith(
        "WARMUP_STEPS = 50 (train.py), MAX_ITERS = 80 (train.py) count steps and are never "
        "reached in a run like it."
    )
    long_run = RunFigures("n0012", steps=953)
    assert "never reached" not in run_section(request(parent_files=two, parent_run=long_run))
    assert "never reached" not in run_section(request(parent_files=two, best_run=long_run))
