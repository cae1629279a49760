"""`autoresearch-tui runs DIR` and `--run NAME`: the workspace's runs, the latest first,
and the config that reads one of them (the current run in `.autoresearch/`, the ones
kept when the base changed in `.autoresearch/runs/<run>/`: search/runs.py).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path

from autoresearch_tui.agents.format import fmt_metric
from autoresearch_tui.search.config import Config, load_config
from autoresearch_tui.search.runs import RunInfo, config_for_run, list_runs

RUN_HELP = "a run of the workspace (default: the latest); `autoresearch-tui runs DIR` lists them"


def run_config(directory: str | os.PathLike[str], run: str | None) -> Config:
    """DIR's config, reading run `run` (None: the current one). Raises UnknownRun
    (a LookupError: exit code 2) naming the known runs."""
    return config_for_run(load_config(Path(directory), check_clean=False), run)


def runs_text(config: Config, *, as_json: bool = False) -> str:
    """The runs of the workspace as a table (or JSON), the latest first."""
    runs = list_runs(config)
    if as_json:
        return json.dumps([asdict(r) for r in runs], indent=2)
    if not runs:
        return f"no run yet — start one with `autoresearch-tui run {config.root} --headless`"
    rows = [("RUN", "BASE", "NODES", f"BEST {config.target.metric}", "STATUS", "STARTED")]
    rows += [_row(r) for r in runs]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _row(run: RunInfo) -> tuple[str, str, str, str, str, str]:
    started = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.started)) if run.started else "-"
    best = fmt_metric(run.best) if run.best is not None else "-"
    return (run.name or "?", run.base[:7] or "-", str(run.nodes), best, run.status, started)
