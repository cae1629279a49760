"""The real CLI on counts: `--max-experiments` caps the search, not the process (saved in
state.db; a restart goes on toward it, `--more N` raises it), and `status --json`, the
headless summary and `report` say the same counts (search/counts.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from autoresearch_tui.search.config import load_config
from autoresearch_tui.search.counts import Counts
from autoresearch_tui.search.snapshot import load_snapshot

CLI = [sys.executable, "-m", "autoresearch_tui.app.cli"]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=180)


def counts(ws: Path) -> Counts:
    return Counts.of(load_snapshot(load_config(ws, check_clean=False)).tree)


def test_the_cap_is_the_searchs_and_more_extends_it(workspace: Path) -> None:
    run = ("run", str(workspace), "--headless", "--slots", "1")
    first = cli(*run, "--max-experiments", "3")
    assert first.returncode == 0, first.stderr
    after_first = counts(workspace)
    assert after_first.experiments == 3 and after_first.running == 0
    summary = first.stdout.splitlines()[-3]
    assert f"{after_first.text(3)} in " in summary, summary

    # Without a flag a restart goes on toward the saved cap: nothing more runs.
    again = cli(*run)
    assert again.returncode == 0, again.stderr
    assert counts(workspace).experiments == 3
    (line,) = [ln for ln in again.stdout.splitlines() if ln.startswith("finished:")]
    assert line.startswith("finished: 3 of 3 experiments") and "--more N" in line

    # The same total again: still nothing; --more 2 runs two more, and is saved.
    assert cli(*run, "--max-experiments", "3").returncode == 0
    assert counts(workspace).experiments == 3
    more = cli(*run, "--more", "2")
    assert more.returncode == 0, more.stderr
    assert counts(workspace).experiments == 5
    status = json.loads(cli("status", str(workspace), "--json").stdout)
    assert status["counts"]["experiments"] == 5 and status["counts"]["cap"] == 5
    assert status["counts"]["base_runs"] == counts(workspace).base_runs
    assert status["experiments"] == 5
    text = cli("status", str(workspace)).stdout
    assert counts(workspace).text(5) in text
    last = cli(*run)
    assert last.returncode == 0 and counts(workspace).experiments == 5
    assert any(ln.startswith("finished: 5 of 5 experiments") for ln in last.stdout.splitlines())


def test_more_and_a_total_together_is_a_usage_error(workspace: Path) -> None:
    out = cli("run", str(workspace), "--headless", "--max-experiments", "2", "--more", "1")
    assert out.returncode == 2
    assert out.stderr.startswith("autoresearch-tui: error: --more N takes N >= 0")
    assert "--more N" in cli("run", "--help").stdout


def test_report_counts_as_status_does(workspace: Path, tmp_path: Path) -> None:
    assert cli("run", str(workspace), "--headless", "--max-experiments", "2").returncode == 0
    out = tmp_path / "report"
    assert cli("report", str(workspace), "-o", str(out)).returncode == 0
    md = (out / "report.md").read_text()
    assert counts(workspace).text(2) in md
