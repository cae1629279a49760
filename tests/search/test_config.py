"""autoresearch.toml: every field read; every mistake a one-line error naming the fix."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import fields
from pathlib import Path

import pytest
from synthetic import TOML, git, make_workspace

from autoresearch_tui.search.config import (
    ConfigError,
    SearchConfig,
    TargetConfig,
    load_config,
    parse_agents,
)
from autoresearch_tui.search.notify import NotifyConfig


def write(ws: Path, toml: str, commit: bool = True) -> None:
    (ws / "autoresearch.toml").write_text(toml)
    if commit:
        git(ws, "commit", "-qam", "config")


def test_reads_every_field(workspace: Path) -> None:
    write(
        workspace,
        TOML.replace(
            'goal      = "min"', "goal      = \"max\"\nmetric_regex = 'val_bpb: +([0-9.]+)'"
        )
        .replace("slots  = 2", "slots  = 3\nmax_cost_usd = 25\ncpu_threads = 1")
        .replace('backend = "mutator"', 'backend = "anthropic"\nmodel = "claude-opus-4-6"'),
    )
    cfg = load_config(workspace)
    assert cfg.root == workspace.resolve()
    assert cfg.target.editable == ["train.py"] and cfg.target.readonly == ["prepare.py"]
    assert cfg.target.goal == "max" and cfg.target.timeout_s == 30
    assert cfg.target.metric_regex == "val_bpb: +([0-9.]+)"
    assert cfg.search.slots == 3 and cfg.search.max_cost_usd == 25 and cfg.search.cpu_threads == 1
    assert cfg.agents[0].backend == "anthropic" and cfg.agents[0].model == "claude-opus-4-6"
    assert cfg.search.lessons_every == 10 and cfg.search.lessons_agent == ""  # the defaults


def test_reads_the_lessons_settings(workspace: Path) -> None:
    write(
        workspace,
        TOML.replace(
            "slots  = 2", 'slots  = 2\nlessons_every = 0\nlessons_agent = "explorer"'
        ).replace('backend = "mutator"', 'backend = "openai"'),
    )
    cfg = load_config(workspace)
    assert cfg.search.lessons_every == 0 and cfg.search.lessons_agent == "explorer"


def test_reads_the_reasoning_settings_and_leaves_them_off_by_default(workspace: Path) -> None:
    agents = """
    [[agents]]
    persona = "architect"
    backend = "anthropic"
    thinking_budget = 4096

    [[agents]]
    persona = "tuner"
    backend = "openai"
    reasoning_effort = "high"

    [[agents]]
    persona = "local"
    backend = "openai-compatible"
    reasoning_effort = "low"

    [[agents]]
    persona = "adaptive"
    backend = "anthropic"
    reasoning_effort = "max"
    """
    write(workspace, TOML + textwrap.dedent(agents))
    explorer, architect, tuner, local, adaptive = load_config(workspace).agents
    assert (explorer.thinking_budget, explorer.reasoning_effort) == (0, "")
    assert (architect.thinking_budget, architect.reasoning_effort) == (4096, "")
    assert (tuner.thinking_budget, tuner.reasoning_effort) == (0, "high")
    assert local.reasoning_effort == "low"
    assert (adaptive.thinking_budget, adaptive.reasoning_effort) == (0, "max")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda t: t.replace("timeout_s", "timeuot_s"),
            "unknown key [target].timeuot_s — did you mean timeout_s?",
        ),
        (lambda t: t.replace("[search]", "[serch]"), "unknown key top level.serch"),
        (
            lambda t: t.replace('run       = "python train.py"\n', ""),
            '[target] run is missing — add run = "python train.py"',
        ),
        (lambda t: t.replace('metric    = "val_bpb"\n', ""), "[target] metric is missing"),
        (
            lambda t: t.replace('editable  = ["train.py"]', 'editable  = ["model.py"]'),
            "editable file model.py does not exist",
        ),
        (
            lambda t: t.replace('editable  = ["train.py"]', 'editable  = ["../x.py"]'),
            "must be relative to the workspace",
        ),
        (
            lambda t: t.replace('goal      = "min"', 'goal      = "down"'),
            'goal must be "min" or "max"',
        ),
        (
            lambda t: t.replace("timeout_s = 30", "timeout_s = -1"),
            "timeout_s must be a positive number",
        ),
        (
            lambda t: t.replace('policy = "best-first"', 'policy = "greedy"'),
            "policy 'greedy' is unknown",
        ),
        (
            lambda t: t.replace('backend = "mutator"', 'backend = "gemini"'),
            "backend 'gemini' is unknown",
        ),
        (
            lambda t: t.replace('backend = "mutator"', 'backend = "command"'),
            '[[agents]] #1 backend "command" has no command — add command = "claude -p"',
        ),
        (
            lambda t: t.replace('backend = "mutator"', 'backend = "mutator"\nweight = -1'),
            "[[agents]] #1 weight must be a number >= 0, not -1",
        ),
        (
            lambda t: t.replace('persona = "explorer"', 'persona = ""'),
            '[[agents]] #1 has no persona — add persona = "explorer"',
        ),
        (
            lambda t: t.replace(
                'backend = "mutator"', 'backend = "anthropic"\nthinking_budget = 500'
            ),
            "[[agents]] #1 thinking_budget must be >= 1024 (Anthropic's minimum) or 0 (off), "
            "not 500",
        ),
        (
            lambda t: t.replace(
                'backend = "mutator"',
                'backend = "anthropic"\nthinking_budget = 8000\nmax_tokens = 8000',
            ),
            "[[agents]] #1 thinking_budget 8000 must be below max_tokens 8000 — the reply "
            "needs room after the thinking; raise max_tokens or leave it 0",
        ),
        (
            lambda t: t.replace(
                'backend = "mutator"', 'backend = "anthropic"\nthinking_budget = "a lot"'
            ),
            "[[agents]] #1 thinking_budget must be a whole number >= 0, not 'a lot'",
        ),
        (
            lambda t: t.replace(
                'backend = "mutator"', 'backend = "openai"\nthinking_budget = 2048'
            ),
            "[[agents]] #1 thinking_budget is for the anthropic backend, not openai — use "
            "reasoning_effort",
        ),
        (
            lambda t: t.replace(
                'backend = "mutator"', 'backend = "openai"\nreasoning_effort = "extreme"'
            ),
            "[[agents]] #1 reasoning_effort 'extreme' is unknown to openai — use none, minimal, "
            "low, medium, high, xhigh, max",
        ),
        (
            lambda t: t.replace('backend = "mutator"', 'backend = "openai"\nreasoning_effort = 3'),
            "[[agents]] #1 reasoning_effort 3 is unknown to openai — use none, minimal",
        ),
        (
            lambda t: t.replace(
                'backend = "mutator"', 'backend = "anthropic"\nreasoning_effort = "minimal"'
            ),
            "[[agents]] #1 reasoning_effort 'minimal' is unknown to anthropic — use low, medium, "
            "high, xhigh, max",
        ),
        (
            lambda t: t.replace(
                'backend = "mutator"', 'backend = "mutator"\nreasoning_effort = "low"'
            ),
            "[[agents]] #1 reasoning_effort is for the anthropic, openai, openai-compatible "
            "backends, not mutator",
        ),
        (
            lambda t: t.replace(
                'backend = "mutator"',
                'backend = "anthropic"\nreasoning_effort = "high"\nthinking_budget = 2048',
            ),
            "[[agents]] #1 set thinking_budget (a fixed budget: Claude models before 4.6) or "
            "reasoning_effort (adaptive thinking: 4.6 and later), not both",
        ),
        (
            lambda t: t.replace("slots  = 2", "slots  = 2\nslot_hour_usd = 0"),
            "slot_hour_usd must be > 0",
        ),
        (
            lambda t: t.replace("slots  = 2", 'slots  = 2\nexecutor = "slurm"'),
            "executor 'slurm' is unknown — use local or ray",
        ),
        (
            lambda t: t.replace("slots  = 2", "slots  = 2\nlessons_every = -1"),
            "[search] lessons_every must be an integer >= 0",
        ),
        (
            lambda t: t.replace("slots  = 2", 'slots  = 2\nlessons_every = "often"'),
            "[search] lessons_every must be an integer >= 0",
        ),
        (
            lambda t: t.replace("slots  = 2", "slots  = 2\nlessons_agent = 3"),
            '[search] lessons_agent must be the persona of an [[agents]] entry, like "architect"',
        ),
        (
            lambda t: t.replace("slots  = 2", 'slots  = 2\nlessons_agent = "sage"'),
            "[search] lessons_agent 'sage' is no [[agents]] persona — use one of explorer",
        ),
        (
            lambda t: t.replace("slots  = 2", 'slots  = 2\nlessons_agent = "explorer"'),
            "[search] lessons_agent 'explorer' runs on mutator, which cannot write lessons — "
            "name an agent on anthropic, openai, openai-compatible",
        ),
        (lambda t: t.replace("[target]", "[target"), "fix the TOML syntax"),
        (lambda t: t + "\nmetric_regex = 'no group'\n", "needs one group"),
    ],
)
def test_mistakes_are_one_line_errors(workspace: Path, edit, message: str) -> None:
    toml = edit(TOML)
    if "metric_regex" in toml and "no group" in toml:
        toml = TOML.replace('goal      = "min"', "goal      = \"min\"\nmetric_regex = 'no group'")
    write(workspace, toml)
    with pytest.raises(ConfigError) as err:
        load_config(workspace)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_every_default_is_declared_once_with_a_doc(workspace: Path) -> None:
    """A file with only the required fields reads as the dataclasses' own defaults."""
    write(workspace, TOML.split("[search]")[0].replace('goal      = "min"\ntimeout_s = 30\n', ""))
    cfg = load_config(workspace)
    assert cfg.search == SearchConfig() and cfg.notify == NotifyConfig()
    assert (cfg.target.goal, cfg.target.timeout_s, cfg.target.metric_regex) == ("min", 600.0, "")
    for table in (TargetConfig, SearchConfig):
        for declared in fields(table):
            assert declared.metadata["rule"].doc, f"{table.__name__}.{declared.name} has no doc"


def test_dirty_tree_is_refused(workspace: Path) -> None:
    (workspace / "train.py").write_text("LR = 1\n")
    with pytest.raises(ConfigError, match=r"uncommitted changes \(train.py\) — commit or stash"):
        load_config(workspace)
    load_config(workspace, check_clean=False)  # resume and status do not care


def test_not_git_and_no_file(tmp_path: Path) -> None:
    (tmp_path / "autoresearch.toml").write_text(TOML)
    (tmp_path / "train.py").write_text("")
    with pytest.raises(ConfigError, match="not a git repository — run `git init"):
        load_config(tmp_path)
    ws = make_workspace(tmp_path / "ws")
    (ws / "autoresearch.toml").unlink()
    git(ws, "commit", "-qam", "rm")
    with pytest.raises(ConfigError, match=r"no autoresearch\.toml — write one"):
        load_config(ws)
    with pytest.raises(ConfigError, match="no such directory"):
        load_config(tmp_path / "nope")


def test_agents_spec() -> None:
    agents = parse_agents(
        "architect@anthropic:claude-opus-4-6,tuner@openai:gpt-5.4,explorer@mutator"
    )
    assert [a.label for a in agents] == [
        "architect@anthropic:claude-opus-4-6",
        "tuner@openai:gpt-5.4",
        "explorer@mutator",
    ]
    with pytest.raises(ConfigError, match="not persona@backend"):
        parse_agents("x@nowhere")


def test_cli_exit_code_2_with_one_line(workspace: Path) -> None:
    write(workspace, TOML.replace("timeout_s", "timeuot_s"))
    out = subprocess.run(
        [sys.executable, "-m", "autoresearch_tui.app.cli", "run", str(workspace), "--headless"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0
    assert "unknown key [target].timeuot_s" in out.stderr
