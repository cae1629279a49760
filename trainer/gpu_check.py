"""GPU check (`make gpu-check`): the built-in trainer's baseline on the first GPU.

Creates a temporary workspace (gpu preset, offline stdlib data set, so no network is
needed), trains its baseline for a short budget on the first visible GPU, and prints
the GPU's name, tokens/s, MFU, val_bpb and steps.

    python -m autoresearch_tui.trainer.gpu_check [--budget-s 120] [--preset gpu] [--keep]
"""

from __future__ import annotations

import argparse
import codecs
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autoresearch_tui.trainer.workspace import PRESETS, init_workspace

SUMMARY_LINE = re.compile(r"^(\w+):\s+(-?[0-9.]+)\s*$")


def parse_summary(output: str) -> dict[str, float]:
    """`key: value` lines after the last `---` line of a train.py run."""
    lines = output.replace("\r", "\n").splitlines()
    if "---" not in lines:
        return {}
    start = len(lines) - lines[::-1].index("---")
    summary = {}
    for line in lines[start:]:
        match = SUMMARY_LINE.match(line.strip())
        if match:
            summary[match.group(1)] = float(match.group(2))
    return summary


def first_gpu_env() -> dict[str, str]:
    """The environment with only the first visible GPU left visible."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    visible = env.get("CUDA_VISIBLE_DEVICES", "").strip()
    env["CUDA_VISIBLE_DEVICES"] = visible.split(",")[0] if visible else "0"
    return env


def gpu_name() -> str | None:
    """The first GPU's name, or None (with the reason printed) when CUDA is not usable."""
    try:
        import torch
    except ImportError:
        print("gpu_check: error: torch is not installed", file=sys.stderr)
        return None
    if not torch.cuda.is_available():
        print(
            f"gpu_check: error: no CUDA GPU visible to torch {torch.__version__} "
            f"(CUDA build: {torch.version.cuda or 'none'})",
            file=sys.stderr,
        )
        return None
    return torch.cuda.get_device_name(0)


def run_training(workspace: Path, timeout_s: float) -> tuple[int, str]:
    """Run `python train.py` in the workspace, echoing its output; (returncode, output)."""
    process = subprocess.Popen(
        [sys.executable, "train.py"], cwd=workspace, env=first_gpu_env(),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    assert isinstance(process.stdout, io.BufferedReader)  # a binary pipe, buffered (read1)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    chunks = []
    deadline = time.time() + timeout_s
    while data := process.stdout.read1(4096):
        text = decoder.decode(data)
        sys.stdout.write(text)  # progress lines end in \r on a terminal, \n in a log
        sys.stdout.flush()
        chunks.append(text)
        if time.time() > deadline:
            process.kill()
            print(f"\ngpu_check: error: training exceeded {timeout_s:.0f}s", file=sys.stderr)
            break
    return process.wait(), "".join(chunks)


def report(name: str, preset: str, budget_s: float, summary: dict[str, float]) -> str:
    train_s = summary.get("training_seconds", 0.0)
    tokens = summary.get("total_tokens_M", 0.0) * 1e6
    tok_per_s = tokens / train_s if train_s else 0.0
    return "\n".join(
        [
            f"gpu_check: {name} | preset {preset} | budget {budget_s:g}s | stdlib data",
            f"  tokens/s:     {tok_per_s:,.0f}",
            f"  mfu:          {summary.get('mfu_percent', 0.0):.2f}%",
            f"  val_bpb:      {summary.get('val_bpb', float('nan')):.6f}",
            f"  steps:        {summary.get('num_steps', 0):.0f}",
            f"  peak_vram_mb: {summary.get('peak_vram_mb', 0.0):,.0f}",
            f"  params_M:     {summary.get('num_params_M', 0.0):.1f}",
            f"  total_s:      {summary.get('total_seconds', 0.0):.1f}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-s", type=float, default=120.0, help="training seconds")
    parser.add_argument("--preset", choices=PRESETS, default="gpu")
    parser.add_argument("--keep", action="store_true", help="keep the temporary workspace")
    args = parser.parse_args(argv)

    name = gpu_name()
    if name is None:
        return 2
    root = Path(tempfile.mkdtemp(prefix="ar-gpu-check-"))
    try:
        workspace = init_workspace(
            root / "workspace", preset=args.preset, budget_s=args.budget_s, dataset="stdlib"
        )
        code, output = run_training(workspace, timeout_s=args.budget_s * 2 + 600)
        summary = parse_summary(output)
        if code != 0 or "val_bpb" not in summary:
            print(f"gpu_check: error: training failed (exit code {code})", file=sys.stderr)
            return 1
        print(report(name, args.preset, args.budget_s, summary))
        return 0
    finally:
        if args.keep:
            print(f"gpu_check: workspace kept in {root / 'workspace'}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
