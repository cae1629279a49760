"""The demo workspace: what `autoresearch-tui` opens when no workspace is given or found.

It lives in the user's cache (`demo_dir`), is created from the built-in trainer's cpu
preset on first use (`prepare_demo`, in the TUI's worker while the UI is already up), and
runs one LLM persona when an API key is set, else the offline mutator (`demo_agents`).
Its run command names the interpreter of this install (trainer/workspace.py); a demo
made by another install (another interpreter) is made anew.
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


def prepare_demo(path: Path, log: Callable[[str], None]) -> Path:
    """Create (or finish) the demo workspace: cpu preset, data prepared."""
    from autoresearch_tui.trainer.workspace import init_workspace, run_command, run_prepare

    marker = path.parent / f"{path.name}.ready"
    if (path / CONFIG_NAME).is_file() and _run_of(path) == run_command():
        if not marker.exists():  # an earlier start stopped while preparing the data
            run_prepare(path, log)
            marker.touch()
        return path
    if path.exists():  # a half-written demo of ours, or another install's
        shutil.rmtree(path)
        marker.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    init_workspace(path, preset="cpu", log=log)
    marker.touch()
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
