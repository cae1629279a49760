"""From a directory to a running search: the one place a workspace's config and the
overrides of `run` (agents, policy, slots, seed, budget) become a `Scheduler`, and the TUI's
entry points, `autoresearch-tui [DIR]` (open_tui) and `autoresearch-tui run DIR`
(run_tui). `cli.cmd_run`, `open_tui` and the demo (`app/demo.py`) all build their search
here. Textual is imported only when a TUI starts (headless runs never load it).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from autoresearch_tui.agents.factory import build_proposers
from autoresearch_tui.agents.personas import unknown_persona
from autoresearch_tui.agents.proposer import AgentSpec
from autoresearch_tui.search.config import CONFIG_NAME, Config, ConfigError, load_config
from autoresearch_tui.search.executors import make_executor
from autoresearch_tui.search.policies import make_policy, policy_options
from autoresearch_tui.search.runs import config_for_run, starts_new_run
from autoresearch_tui.search.scheduler import Scheduler


@dataclass(frozen=True)
class Overrides:
    """What the `run` flags (or the demo) put over autoresearch.toml; None keeps its."""

    agents: list[AgentSpec] | None = None
    policy: str | None = None
    slots: int | None = None  # how many (the kind still comes from [search])
    seed: int | None = None
    max_experiments: int | None = None  # the cap, a total (None: the saved one, if any)
    more: int | None = None  # a cap this many beyond the experiments so far (search/counts.py)


def load_workspace(directory: Path | str | os.PathLike[str]) -> Config:
    """The workspace's validated config. A new run (no state.db yet, or the base changed:
    search/runs.py) starts from a clean checkout; a run to resume may find it dirty (the
    person went on working)."""
    config = load_config(directory, check_clean=False)
    return load_config(directory) if starts_new_run(config) else config


def build_search(
    config: Config, overrides: Overrides | None = None, *, exit_when_idle: bool = True
) -> Scheduler:
    """The search of `config` with `overrides`, not yet open. Blocks (finding the slots
    may join a Ray cluster); raises ConfigError for a persona with no brief, ValueError for
    an unknown policy, bad slots or agents that cannot start (a missing key, model or
    command)."""
    over = overrides or Overrides()
    if problem := unknown_persona([a.persona for a in over.agents or config.agents], config.root):
        raise ConfigError(problem)
    name = over.policy or config.search.policy
    policy = make_policy(name, **policy_options(name, config.search))
    executor = make_executor(config.search)
    slots = executor.slots(over.slots)
    proposers = build_proposers(over.agents or config.agents, config.root)
    return Scheduler(
        config, proposers, policy=policy, executor=executor, slots=slots, seed=over.seed,
        max_experiments=over.max_experiments, more=over.more, exit_when_idle=exit_when_idle,
    )  # fmt: skip


def workspace_for(directory: Path | str | None) -> Path | None:
    """DIR if given, else the current directory if it is a workspace, else None (demo)."""
    if directory is not None:
        return Path(directory)
    if (Path.cwd() / CONFIG_NAME).is_file():
        return Path.cwd()
    return None


def run_tui(search: Scheduler) -> int:
    """`autoresearch-tui run DIR` without --headless: this search, in the TUI."""
    return _run_app(lambda log: search)


def open_tui(directory: Path | str | None, run: str | None = None) -> int:
    """`autoresearch-tui [DIR] [--run NAME]`: DIR, else the workspace in the current
    directory, else the demo workspace (created on first use, in a worker, while the UI is
    already up). The config is read first (its errors are the command's); the search is
    built in a worker (its slots may take a while: a Ray cluster). An archived run
    (`--run NAME`) opens read-only, as watch mode shows another process's run."""
    from autoresearch_tui.app.demo import demo_dir, demo_search

    root = workspace_for(directory)
    if root is None:
        demo = demo_dir()
        preparing = f"preparing the demo workspace in {demo} …"
        return _run_app(lambda log: demo_search(demo, log), preparing=preparing)
    if run is not None:
        config = config_for_run(load_config(root, check_clean=False), run)
        if config.archive is not None:
            viewer = Overrides(agents=[AgentSpec("explorer", "mutator")])  # never asked
            search = lambda log: build_search(config, viewer, exit_when_idle=False)  # noqa: E731
            return _run_app(search, archived=run)
    config = load_workspace(root)
    return _run_app(lambda log: build_search(config, exit_when_idle=False))


def _run_app(
    make_search: Callable[[Callable[[str], None]], Scheduler],
    preparing: str = "",
    archived: str = "",
) -> int:
    from autoresearch_tui.app.tui import ResearchApp

    return ResearchApp(make_search, preparing=preparing, archived=archived).run() or 0
