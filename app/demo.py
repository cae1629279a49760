"""The demo workspace: what `autoresearch-tui` opens when no workspace is given or found.

It lives in the user's cache (`demo_dir`), is created from the built-in trainer's cpu
preset on first use (`prepare_demo`, in the TUI's worker while the UI is already up), and
runs one LLM persona when an API key is set, else the offline mutator (`demo_agents`).
It trains about 30 s a run (`demo_tokens`; the preset about 70 s), so that on a 2-core machine the first
child's result shows within two minutes: the base's run, then that child's (its
calibration runs take turns with the children, search/pacing.py). Its run command names
the interpreter of this install (trainer/workspace.py); a demo made by another install
(another interpreter) or with another budget is made anew.
"""

from __future__ import annotations

import os
import shutil
import tomllib
from collections.abc import Callable
from pathlib import Path

from autoresearch_tui.agents.proposer import AgentSpec
from autoresearch_tui.app.launch import Overrides, build_search, load_workspace
from autoresearch_tui.search.config import CONFIG_NAME
from autoresearch_tui.search.scheduler import Scheduler

OFFLINE = AgentSpec("explorer", "mutator")
DEMO_TRAIN_S = 30  # seconds of training per run on an idle 2-core machine (the preset: ~70)


def demo_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("autoresearch-tui")) / "demo"


def demo_agents() -> list[AgentSpec]:
    """One LLM persona when an API key is set, else the offline mutator."""
    if os.environ.get("ANTHROPIC_API_KEY"):
        return [AgentSpec("architect", "anthropic")]
    if os.environ.get("OPENAI_API_KEY"):
        return [AgentSpec("architect", "openai")]
    return [OFFLINE]


def demo_tokens() -> int:
    """The demo's training budget in tokens: DEMO_TRAIN_S at the cpu preset's idle speed."""
    from autoresearch_tui.trainer.workspace import CPU_TOKENS_PER_S

    return int(DEMO_TRAIN_S * CPU_TOKENS_PER_S)


def prepare_demo(path: Path, log: Callable[[str], None]) -> Path:
    """Create the demo workspace unless it is there: cpu preset, the demo's budget, data
    prepared. The marker file beside it says the data is ready, and for which budget."""
    from autoresearch_tui.trainer.workspace import init_workspace, run_command

    marker, made = path.parent / f"{path.name}.ready", f"budget_tokens = {demo_tokens()}\n"
    if _run_of(path) == run_command() and marker.is_file() and marker.read_text() == made:
        return path
    # A demo whose data preparation stopped half-way, another install's, an older budget's
    if path.exists():
        shutil.rmtree(path)
    marker.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    init_workspace(path, preset="cpu", budget_tokens=demo_tokens(), log=log)
    marker.write_text(made)
    return path


def _run_of(path: Path) -> str:
    """The demo workspace's `[target] run`, or "" when it cannot be read."""
    try:
        return str(tomllib.loads((path / CONFIG_NAME).read_text())["target"]["run"])
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError):
        return ""


def demo_search(path: Path, log: Callable[[str], None]) -> Scheduler:
    """The demo's search (blocks: it may create the workspace first)."""
    prepare_demo(path, log)
    config = load_workspace(path)
    try:
        return build_search(config, Overrides(agents=demo_agents()), exit_when_idle=False)
    except Exception as exc:  # an LLM backend that cannot start: the mutator still can
        log(f"LLM agent unavailable ({exc}); using the offline mutator")
        return build_search(config, Overrides(agents=[OFFLINE]), exit_when_idle=False)
