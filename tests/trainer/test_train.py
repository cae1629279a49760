"""The template's train.py trains for a few seconds on CPU (AR_TIME_BUDGET=3) in a
subprocess and prints progress lines and the summary block the search core reads."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from autoresearch_tui.trainer.workspace import init_workspace, set_constants

PROGRESS = re.compile(
    r"^step (\d{5}) \((\d+\.\d)%\) \| loss: (\d+\.\d{6}) \| lrm: \d+\.\d\d \| dt: \d+ms \| "
    r"tok/sec: [\d,]+ \| mfu: \d+\.\d% \| epoch: \d+ \| remaining: \d+s$"
)
SUMMARY_KEYS = [
    "val_bpb", "training_seconds", "total_seconds", "peak_vram_mb", "mfu_percent",
    "total_tokens_M", "num_steps", "num_params_M", "depth",
]  # fmt: skip


def test_template_trains_briefly_and_prints_the_summary(tmp_path: Path, stdlib_root: Path) -> None:
    ws = init_workspace(tmp_path / "ws", prepare_data=False, log=lambda s: None)
    prepare = ws / "prepare.py"  # a smaller evaluation keeps the test fast
    prepare.write_text(set_constants(prepare.read_text(), {"EVAL_TOKENS": 8192}))
    env = dict(os.environ, AR_DATA_DIR=str(stdlib_root), AR_TIME_BUDGET="3", AR_SEED="7")
    env["OMP_NUM_THREADS"] = "2"
    result = subprocess.run(
        [sys.executable, "train.py"], cwd=ws, env=env, capture_output=True, text=True, timeout=120
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    lines = result.stdout.replace("\r", "\n").splitlines()

    progress = [PROGRESS.match(line) for line in lines if line.startswith("step ")]
    assert progress and all(progress), [line for line in lines if line.startswith("step ")][:3]
    steps = [int(m.group(1)) for m in progress if m]
    assert steps == list(range(len(steps)))
    assert "seed: 7" in result.stdout

    summary_at = lines.index("---")
    summary = dict(line.split(":", 1) for line in lines[summary_at + 1 :])
    assert list(summary) == SUMMARY_KEYS
    assert re.fullmatch(r" +\d+\.\d{6}", summary["val_bpb"])
    val_bpb = float(summary["val_bpb"])
    assert 0 < val_bpb < 8.0  # better than a uniform guess after a few seconds
    assert float(summary["training_seconds"]) >= 3.0
    assert int(summary["num_steps"]) == len(steps)
    assert int(summary["depth"]) == 4
    # the search core reads the metric from the last `val_bpb: <float>` line
    last = [line for line in lines if line.startswith("val_bpb:")][-1]
    assert float(last.split()[1]) == val_bpb
