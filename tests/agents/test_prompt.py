"""Briefs, the prompt's contents and the price table."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from autoresearch_tui.agents.personas import (
    available_personas,
    builtin_personas,
    load_persona,
    load_program,
)
from autoresearch_tui.agents.pricing import PRICES, Usage, call_cost, price_for
from autoresearch_tui.agents.prompt import build_prompt
from autoresearch_tui.agents.request import ProposalRequest, TriedChange

PERSONAS = ["architect", "debugger", "explorer", "optimizer", "simplifier", "tuner"]


def test_builtin_briefs_ship_as_package_data(tmp_path: Path) -> None:
    assert builtin_personas() == PERSONAS
    for name in PERSONAS:
        persona = load_persona(name, tmp_path)
        assert persona.source == "built-in" and f"Persona: {name}" in persona.brief
    assert "# Research program" in load_program(tmp_path)


def test_workspace_program_and_briefs_override_and_add(tmp_path: Path) -> None:
    (tmp_path / "program.md").write_text("# My program\nMake it fast.\n")
    (tmp_path / "briefs").mkdir()
    (tmp_path / "briefs" / "architect.md").write_text("Only touch attention.\n")
    (tmp_path / "briefs" / "tuner.md").write_text("Tune the schedule.\n")
    assert load_program(tmp_path) == "# My program\nMake it fast.\n"
    assert load_persona("architect", tmp_path).brief == "Only touch attention.\n"
    assert load_persona("tuner", tmp_path).source == "workspace"
    assert "tuner" in available_personas(tmp_path)
    unknown = load_persona("wanderer", tmp_path)
    assert unknown.source == "generic" and "wanderer" in unknown.brief


def request(**kw: Any) -> ProposalRequest:
    base = ProposalRequest(
        workspace=Path("."),
        parent_id="n0003",
        parent_files={"train.py": "LR = 0.04\n"},
        editable=["train.py"],
        metric="val_bpb",
        goal="min",
        seed=0,
        parent_metric=1.01,
        base_metric=1.03,
        lineage=[
            TriedChange("n0000", "base commit", "done", 1.03, None, "base"),
            TriedChange("n0003", "deeper model", "done", 1.01, -0.02, "architect"),
        ],
        tried=[
            TriedChange("n0005", "raise LR to 0.08", "done", 1.02, 0.01, "optimizer"),
            TriedChange("n0006", "swap relu for gelu", "running", None, None, "explorer"),
        ],
        best=TriedChange("n0003", "deeper model", "done", 1.01, -0.02, "architect"),
        hints=["try a longer warmup"],
    )
    return dataclasses.replace(base, **kw)


def test_prompt_carries_program_brief_files_lineage_tried_best_hints() -> None:
    prompt = build_prompt(request(), "PROGRAM TEXT", "BRIEF TEXT")
    assert "PROGRAM TEXT" in prompt.system and "BRIEF TEXT" in prompt.system
    assert "<<<<<<< SEARCH" in prompt.system and "DESCRIPTION:" in prompt.system
    assert "You may edit only these files: train.py" in prompt.system
    assert "```python\nLR = 0.04\n```" in prompt.files
    task = prompt.task
    assert "Metric: val_bpb (lower is better). Base: 1.0300. Parent n0003: 1.0100." in task
    assert (
        "- n0003 [architect] deeper model: val_bpb 1.0100 (-0.0200 vs its parent, better)" in task
    )
    assert (
        "- n0005 [optimizer] raise LR to 0.08: val_bpb 1.0200 (+0.0100 vs its parent, worse)"
        in task
    )
    assert "- n0006 [explorer] swap relu for gelu: running, no result yet" in task
    assert "Best so far: n0003 val_bpb 1.0100 — deeper model" in task
    assert "- try a longer warmup" in task
    assert "crash" not in task.lower()
    # The stable parts come first (cacheable), the task last.
    assert prompt.text().index("PROGRAM TEXT") < prompt.text().index("LR = 0.04")
    assert prompt.text().index("LR = 0.04") < prompt.text().index("Your task")


def test_goal_max_flips_the_judgement() -> None:
    prompt = build_prompt(request(goal="max"), "P", "B")
    assert "(higher is better)" in prompt.task
    assert "(-0.0200 vs its parent, worse)" in prompt.task


def test_debug_prompt_has_the_crash_log_and_asks_for_a_fix() -> None:
    lineage = [
        TriedChange("n0000", "base commit", "done", 1.03, None, "base"),
        TriedChange("n0004", "bigger batch", "crashed", None, None, "optimizer"),
    ]
    log = "step 00001\nTraceback (most recent call last):\nRuntimeError: CUDA out of memory"
    prompt = build_prompt(
        request(kind="debug", parent_id="n0004", lineage=lineage, crash_log=log), "P", "B"
    )
    assert "## The parent's run crashed" in prompt.task
    assert "RuntimeError: CUDA out of memory" in prompt.task
    assert "Fix the parent n0004" in prompt.task


def test_command_mode_asks_for_in_place_edits() -> None:
    prompt = build_prompt(request(), "P", "B", mode="command")
    assert "<<<<<<< SEARCH" not in prompt.system
    assert "Edit only these files: train.py" in prompt.system
    assert "do not run the training script" in prompt.system


@pytest.mark.parametrize(
    ("model", "known"),
    [
        ("claude-opus-4-6", True),
        ("claude-sonnet-4-5-20250929", True),
        ("anthropic/claude-haiku-4-5", True),
        ("gpt-5.4-mini-2026-03-17", True),
        ("gpt-5.4", True),
        ("llama3.1:8b", False),
        ("Qwen/Qwen3-32B", False),
    ],
)
def test_price_lookup(model: str, known: bool) -> None:
    assert (price_for(model) is not None) == known


def test_call_cost_from_list_prices() -> None:
    usage = Usage(
        input_tokens=1000, output_tokens=500, cache_read_tokens=4000, cache_write_tokens=2000
    )
    cost, priced = call_cost("claude-opus-4-6", usage)
    assert priced and cost == pytest.approx((1000 * 5 + 500 * 25 + 4000 * 0.5 + 2000 * 6.25) / 1e6)
    cost, priced = call_cost("gpt-5.4", Usage(1000, 500, 4000))
    assert priced and cost == pytest.approx((1000 * 2.5 + 500 * 15 + 4000 * 0.25) / 1e6)
    assert call_cost("my-local-model", usage) == (0.0, False)
    assert all(p.cache_read <= p.input and p.output >= p.input for p in PRICES.values())
