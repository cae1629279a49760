"""The GPU check: a clear error without CUDA, the first GPU only, and the report it
prints from a train.py run (a stand-in train.py here; the real run needs a GPU)."""

from __future__ import annotations

from pathlib import Path

import pytest

from autoresearch_tui.trainer import gpu_check

FAKE_TRAIN = """\
import os
for step in range(3):
    print(f"step {step:05d} ({step * 50:.1f}%) | loss: 5.0 | dt: 1ms", end="\\r", flush=True)
print()
print("---")
print("val_bpb:          1.234500")
print("training_seconds: 10.0")
print("total_tokens_M:   5.0")
print("mfu_percent:      40.10")
print("num_steps:        3")
print("devices:          " + os.environ["CUDA_VISIBLE_DEVICES"])
"""


def test_without_cuda_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert gpu_check.main(["--budget-s", "5"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gpu_check: error: no CUDA GPU visible") and "\n" not in err


def test_runs_train_on_the_first_gpu_and_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "train.py").write_text(FAKE_TRAIN)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    code, output = gpu_check.run_training(tmp_path, timeout_s=60)
    assert code == 0
    assert "step 00002 (100.0%)" in capsys.readouterr().out  # echoed live
    summary = gpu_check.parse_summary(output)
    assert summary == {
        "val_bpb": 1.2345,
        "training_seconds": 10.0,
        "total_tokens_M": 5.0,
        "mfu_percent": 40.1,
        "num_steps": 3.0,
        "devices": 3.0,
    }
    text = gpu_check.report("NVIDIA H100 80GB HBM3", "gpu", 10, summary)
    assert text.startswith("gpu_check: NVIDIA H100 80GB HBM3 | preset gpu")
    assert "tokens/s:     500,000" in text and "mfu:          40.10%" in text


def test_parse_summary_needs_the_block() -> None:
    assert gpu_check.parse_summary("step 00001 (1.0%) | loss: 3.0\rTraceback ...\n") == {}
