"""The template's train.py, run for real in a subprocess on CPU with a tiny token budget:
it prints progress lines and the summary block the search core reads, a seed gives the
same value bit for bit (also while another process loads the CPU), another seed another
value; a budget in seconds (the gpu preset's kind) still stops on time."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from autoresearch_tui.trainer.workspace import init_workspace, set_constants

PROGRESS = re.compile(
    r"^step (\d{5}) \((\d+\.\d)%\) \| loss: (\d+\.\d{6}) \| lrm: \d+\.\d\d \| dt: \d+ms \| "
    r"tok/sec: [\d,]+ \| mfu: \d+\.\d% \| epoch: \d+ \| remaining: \d+s$"
)
SUMMARY_KEYS = [
    "val_bpb", "training_seconds", "total_seconds", "peak_vram_mb", "mfu_percent",
    "total_tokens_M", "num_steps", "num_params_M", "depth",
]  # fmt: skip
TOKENS = 8192  # four steps: the runs take seconds

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def run_train(tmp_path_factory: pytest.TempPathFactory, stdlib_root: Path) -> Run:
    """Runs the workspace's `python train.py` with AR_SEED=seed and extra environment."""
    ws = init_workspace(
        tmp_path_factory.mktemp("train") / "ws", prepare_data=False, log=lambda s: None
    )
    prepare = ws / "prepare.py"  # a smaller evaluation keeps the test fast
    prepare.write_text(set_constants(prepare.read_text(), {"EVAL_TOKENS": 8192}))

    def run(seed: int, **env: str) -> subprocess.CompletedProcess[str]:
        budgets = ("AR_TIME_BUDGET", "AR_TOKEN_BUDGET")
        environ = {k: v for k, v in os.environ.items() if k not in budgets}
        environ.update(AR_DATA_DIR=str(stdlib_root), AR_SEED=str(seed), **env)
        result = subprocess.run(
            [sys.executable, "train.py"], cwd=ws, env=environ, capture_output=True, text=True,
            timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        return result

    return run


def summary(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    lines = result.stdout.replace("\r", "\n").splitlines()
    return dict(line.split(":", 1) for line in lines[lines.index("---") + 1 :])


def test_template_trains_its_token_budget_and_prints_the_summary(run_train: Run) -> None:
    result = run_train(7, AR_TOKEN_BUDGET=str(TOKENS))
    lines = result.stdout.replace("\r", "\n").splitlines()

    progress = [PROGRESS.match(line) for line in lines if line.startswith("step ")]
    assert progress and all(progress), [line for line in lines if line.startswith("step ")][:3]
    steps = [int(m.group(1)) for m in progress if m]
    assert steps == list(range(len(steps))) == list(range(TOKENS // 2048))  # 2,048 per step
    percents = [float(m.group(2)) for m in progress if m]
    assert percents == [100 * 2048 * s / TOKENS for s in steps]  # tokens seen / budget
    assert "seed: 7" in result.stdout and "threads: 1" in result.stdout
    assert f"Budget: {TOKENS:,} tokens" in result.stdout
    zlib = re.search(r"zlib -9 on the evaluation text: (\d\.\d{4}) bpb", result.stdout)
    assert zlib and 1 < float(zlib.group(1)) < 3

    figures = summary(result)
    assert list(figures) == SUMMARY_KEYS
    assert re.fullmatch(r" +\d+\.\d{6}", figures["val_bpb"])
    val_bpb = float(figures["val_bpb"])
    assert 0 < val_bpb < 8.0  # better than a uniform guess after a few steps
    assert int(figures["num_steps"]) == len(steps)
    assert int(figures["depth"]) == 4
    # the search core reads the metric from the last `val_bpb: <float>` line
    last = [line for line in lines if line.startswith("val_bpb:")][-1]
    assert float(last.split()[1]) == val_bpb


def test_a_seed_repeats_its_value_bit_for_bit_under_load(run_train: Run) -> None:
    first = summary(run_train(3, AR_TOKEN_BUDGET=str(TOKENS)))["val_bpb"]
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])  # load the CPU
    try:
        again = summary(run_train(3, AR_TOKEN_BUDGET=str(TOKENS)))["val_bpb"]
    finally:
        burner.kill()
        burner.wait()
    other = summary(run_train(4, AR_TOKEN_BUDGET=str(TOKENS)))["val_bpb"]
    assert again == first
    assert other != first


def test_a_budget_in_seconds_stops_on_time(run_train: Run) -> None:
    result = run_train(7, AR_TIME_BUDGET="1")
    assert "Budget: 1.0s" in result.stdout
    assert float(summary(result)["training_seconds"]) >= 1.0
    assert [line for line in result.stdout.splitlines() if PROGRESS.match(line)]
