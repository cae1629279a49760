"""The benchmark's cpu-train suite: real searches on the built-in trainer with a budget in
training tokens, so re-evaluating the base with the same seeds gives the same value."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import pytest

from autoresearch_tui.app.bench.search_cpu import run_cpu_train
from autoresearch_tui.trainer.workspace import init_workspace


@pytest.mark.slow
def test_the_bases_re_evaluation_repeats_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AR_DATA_DIR", str(tmp_path / "data"))
    for name in ("AR_TIME_BUDGET", "AR_TOKEN_BUDGET"):
        monkeypatch.delenv(name, raising=False)
    small = {"prepare.py": {"EVAL_TOKENS": 4096, "CPU_THREADS": 1}, "train.py": {"DEPTH": 2}}
    base = init_workspace(
        tmp_path / "base", budget_tokens=4096, constants=small, log=lambda s: None
    )  # fmt: skip
    assert "TOKEN_BUDGET = 4096" in (base / "prepare.py").read_text()
    toml = base / "autoresearch.toml"  # the data is under /tmp: private in a sandbox
    toml.write_text(
        toml.read_text().replace('slots  = "auto"', 'slots  = "auto"\nsandbox = "none"')
    )
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "commit", "-qam", "no sandbox"], cwd=base, check=True)

    first = run_cpu_train("ratchet", 0, experiments=3, slots=1, eval_runs=1, base=base)
    again = run_cpu_train("ratchet", 0, experiments=3, slots=1, eval_runs=1, base=base)

    assert math.isfinite(first.base_true) and 0 < first.base_true < 8
    assert again.base_true == first.base_true  # the same commit and seeds: the same value
    assert first.crashes == 0
