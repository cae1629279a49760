"""What the runs are (search/run_figures.py): a run's figures read from the real built-in
trainer's log, from an autoresearch-shaped log (`\\r` step lines and the `---` summary),
from the ends of a 50 MB log only; the machine line; the readonly files' constants."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from autoresearch_tui.agents.request import ProposalRequest, RunFigures
from autoresearch_tui.search.config import Config, load_config
from autoresearch_tui.search.context import RunContext, Threads
from autoresearch_tui.search.model import Node
from autoresearch_tui.search.opening import open_run
from autoresearch_tui.search.output import OutputParser
from autoresearch_tui.search.run_figures import (
    HEAD_BYTES,
    SETUP_LINES,
    TAIL_BYTES,
    RunFacts,
    loss_at,
    machine_text,
    read_log_ends,
    run_figures,
    run_setup_text,
)
from autoresearch_tui.search.runlock import release
from autoresearch_tui.search.slots import Slot
from autoresearch_tui.search.tree import Tree
from autoresearch_tui.trainer.workspace import init_workspace, set_constants, template_text


def parsed_points(log: Path) -> list[tuple[int, float]]:
    """The loss points the executor's parser stores for this log (Store.load_points)."""
    parser = OutputParser("val_bpb")
    parser.feed(log.read_bytes().decode())
    parser.close()
    return [(step, loss) for step, loss, _ in parser.take_points()]


def summary(log: Path) -> dict[str, str]:
    lines = log.read_text().replace("\r", "\n").splitlines()
    return dict(line.split(":", 1) for line in lines[lines.index("---") + 1 :] if ":" in line)


@pytest.mark.slow
def test_the_built_in_trainers_log(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws", prepare_data=False, log=lambda s: None)
    spec = importlib.util.spec_from_file_location("ar_prepare_figures", ws / "prepare.py")
    assert spec and spec.loader
    prepare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(prepare)
    prepare.prepare_stdlib(tmp_path / "data" / f"stdlib-bpe{prepare.VOCAB}")
    path = ws / "prepare.py"  # a smaller evaluation keeps the test fast
    path.write_text(set_constants(path.read_text(), {"EVAL_TOKENS": 8192}))
    env = dict(os.environ, AR_DATA_DIR=str(tmp_path / "data"), AR_TIME_BUDGET="2")
    env.update(OMP_NUM_THREADS="2", AR_SEED="7")
    log = tmp_path / "n0001.log"
    with log.open("wb") as out:  # as the executor writes it: stdout and stderr, raw
        done = subprocess.run(
            [sys.executable, "train.py"], cwd=ws, env=env, stdout=out, stderr=out, timeout=300
        )
    assert done.returncode == 0, log.read_text()[-2000:]

    points = parsed_points(log)
    figures = run_figures("n0001", log, points)

    printed = summary(log)
    step_lines = [line for line in log.read_text().splitlines() if line.startswith("step ")]
    rates = [
        float(rate.replace(",", "")) for rate in re.findall(r"tok/sec: ([\d,]+)", log.read_text())
    ]
    assert figures.steps == int(printed["num_steps"]) == len(step_lines) == len(points)
    assert figures.seconds == float(printed["training_seconds"])
    assert figures.peak_memory_mb == float(printed["peak_vram_mb"]) > 0  # peak RSS on CPU
    assert figures.tokens_per_s == statistics.median(rates)
    assert float(printed["mfu_percent"]) == 0 and figures.mfu_percent is None  # CPU: unknown
    assert figures.loss_at == loss_at(points) and figures.loss_at[-1] == (100, points[-1][1])


def autoresearch_log(path: Path, steps: int, padding_lines: int = 0) -> None:
    """A log shaped like karpathy/autoresearch's train.py output: set-up lines, one
    `\\r`-rewritten progress line per step (the first ten compile: slow), the `---`
    summary. `padding_lines` extra step lines before the real ones make it huge."""
    head = (
        "Vocab size: 8,192\nModel config: {'sequence_len': 2048, 'n_layer': 8}\n"
        "Estimated FLOPs per token: 3.2e+08\nTime budget: 300s\nGradient accumulation steps: 2\n"
    )
    with path.open("w", newline="") as log:
        log.write(head)
        filler = "\rstep 00000 (0.0%) | loss: 9.000000 | tok/sec: 1 | mfu: 0.1% | padding    "
        log.write(filler * padding_lines)
        for step in range(steps):
            rate, mfu = (12_000, 0.3) if step < 10 else (1_745_000, 39.8)
            loss = 9.0 - 6.0 * step / (steps - 1)
            log.write(
                f"\rstep {step:05d} ({100 * step / (steps - 1):.1f}%) | loss: {loss:.6f} | "
                f"lrm: 1.00 | dt: 300ms | tok/sec: {rate:,} | mfu: {mfu:.1f}% | epoch: 1 | "
                f"remaining: {300 - step * 300 // steps}s    "
            )
        log.write(
            "\n---\nval_bpb:          0.997900\ntraining_seconds: 300.1\n"
            "total_seconds:    325.9\npeak_vram_mb:     45060.2\nmfu_percent:      39.80\n"
            f"total_tokens_M:   499.6\nnum_steps:        {steps}\nnum_params_M:     50.3\n"
            "depth:            8\n"
        )


def test_an_autoresearch_log(tmp_path: Path) -> None:
    log = tmp_path / "n0003.log"
    autoresearch_log(log, steps=953)
    assert log.stat().st_size > HEAD_BYTES + TAIL_BYTES  # read at its ends
    points = parsed_points(log)
    assert len(points) == 953

    figures = run_figures("n0003", log, points)

    assert figures == RunFigures(
        node_id="n0003",
        seconds=300.1,
        steps=953,
        tokens_per_s=1_745_000,  # the steady state, not the compile steps
        peak_memory_mb=45060.2,
        mfu_percent=39.8,
        loss_at=((25, 7.5), (50, 6.0), (75, 4.5), (100, 3.0)),
    )


def test_a_huge_log_is_read_only_at_its_ends(tmp_path: Path) -> None:
    log = tmp_path / "n0004.log"
    autoresearch_log(log, steps=953, padding_lines=700_000)
    assert log.stat().st_size > 50_000_000

    ends = read_log_ends(log)
    figures = run_figures("n0004", log, [(0, 9.0), (952, 3.0)])

    assert ends.bytes_read == HEAD_BYTES + TAIL_BYTES
    assert ends.head[0] == "Vocab size: 8,192" and ends.tail[-1] == "depth:            8"
    assert figures.steps == 953 and figures.seconds == 300.1
    assert figures.peak_memory_mb == 45060.2 and figures.tokens_per_s == 1_745_000
    assert figures.loss_at == ((50, 9.0), (100, 3.0))  # two points: no 25% or 75%


def test_figures_a_log_does_not_print_are_none(tmp_path: Path) -> None:
    crashed = tmp_path / "n0005.log"
    crashed.write_text("Traceback (most recent call last):\nRuntimeError: CUDA out of memory\n")
    assert run_figures("n0005", crashed, []) == RunFigures("n0005")

    missing = run_figures("n0006", tmp_path / "absent.log", [(0, 5.0), (1, 4.0), (2, 3.5)], 61.0)
    assert missing.steps == 3  # from the loss points
    assert missing.seconds == 61.0  # the node's own time when the log has none
    assert missing.tokens_per_s is None and missing.peak_memory_mb is None
    assert missing.mfu_percent is None

    # a run killed before its summary: the step lines still tell how far it got
    killed = tmp_path / "n0007.log"
    killed.write_text(
        "".join(f"step {s:05d} (1.0%) | loss: 4.0 | tok/sec: 2,000 | mfu: 0.0%\n" for s in range(5))
    )
    figures = run_figures("n0007", killed, [])
    assert (figures.steps, figures.tokens_per_s, figures.mfu_percent) == (5, 2000.0, None)


def test_step_lines_only_in_the_head_yield_to_the_loss_points(tmp_path: Path) -> None:
    log = tmp_path / "n0008.log"
    steps = "".join(f"step {s:05d} | loss: 4.0 | tok/sec: 3,000\n" for s in range(20))
    log.write_text(steps + "eval batch done\n" * 20_000 + "training_seconds: nan\n")
    points = [(s, 4.0) for s in range(500)]  # the whole run, from the store

    figures = run_figures("n0008", log, points, wall_seconds=75.0)

    assert log.stat().st_size > HEAD_BYTES + TAIL_BYTES
    assert figures.steps == 500  # not the 20 the head shows
    assert figures.tokens_per_s == 3000.0  # the only rate printed
    assert figures.seconds == 75.0  # a nan summary value is not a figure


def test_loss_at_the_quarters_of_a_run() -> None:
    points = [(step, float(step)) for step in range(39)]  # the loss names its step
    assert loss_at(points) == ((25, 9.0), (50, 19.0), (75, 28.0), (100, 38.0))
    assert loss_at([(0, 5.0), (1, 4.0), (2, 3.0)]) == ((25, 5.0), (75, 4.0), (100, 3.0))
    assert loss_at([(7, 3.0)]) == ((100, 3.0),)
    assert loss_at([]) == ()


def test_machine_text_on_cpu_slots() -> None:
    slots = [Slot("cpu0", threads=2), Slot("cpu1", threads=2)]
    cores = os.cpu_count()
    assert machine_text(slots, 240) == (
        f"CPU, 2 threads per slot (2 slots, {cores} cores); a run is killed after 4:00 (timeout_s)"
    )
    ray = machine_text([Slot("ray-cpu0", threads=1, remote="cpu")], 3700)
    assert ray == (
        "CPU, 1 thread per slot (1 slot, a Ray cluster's CPUs); "
        "a run is killed after 1:01:40 (timeout_s)"
    )
    assert machine_text([], 60) == "A run is killed after 1:00 (timeout_s)"


def test_machine_text_names_the_gpus_nvidia_smi_lists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "bin" / "nvidia-smi"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\n"
        'test "$1" = --query-gpu=index,uuid,name || exit 2\n'
        "echo '0, GPU-aaaa, NVIDIA H100 80GB HBM3'\n"
        "echo '1, GPU-bbbb, NVIDIA H100 80GB HBM3'\n"
        "echo '2, GPU-cccc, NVIDIA A100-SXM4-40GB'\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")

    two = [Slot("gpu0", gpu="0"), Slot("gpu1", gpu="GPU-bbbb")]
    assert machine_text(two, 600) == (
        "NVIDIA H100 80GB HBM3 × 2 (2 slots, 1 per GPU); a run is killed after 10:00 (timeout_s)"
    )
    assert machine_text([Slot("gpu2", gpu="2")], 90).startswith("NVIDIA A100-SXM4-40GB (1 slot,")


def test_run_setup_text_of_the_templates_prepare_py() -> None:
    text = run_setup_text({"prepare.py": template_text("prepare.py"), "data.csv": "A = 1\n"})
    lines = text.splitlines()
    assert lines[0] == "prepare.py:"
    assert any(re.fullmatch(r"  TOKEN_BUDGET = 320_000  # tokens of training.*", s) for s in lines)
    assert "  MAX_SEQ_LEN = 256  # context length, also the length of evaluation rows" in lines
    assert '  DATASET = "stdlib"  # stdlib | climbmix | tinystories' in lines
    for left_out in ("SPLIT_PATTERN", "REMOTE", "STDLIB_EXCLUDE", "BOS_ID", "data.csv"):
        assert left_out not in text  # a long regex, a dict, a set, an expression, not Python
    assert len(lines) <= SETUP_LINES + 1


def test_run_setup_text_keeps_to_its_lines() -> None:
    many = "".join(f"C{i} = {i}\n" for i in range(30)) + "lower = 1\nX: int = 5\n"
    text = run_setup_text({"b.py": many, "a.py": "def broken(:\n", "c.py": "Y = -2.5\n"})
    lines = text.splitlines()
    assert lines[:3] == ["b.py:", "  C0 = 0", "  C1 = 1"]
    assert len(lines) == SETUP_LINES + 1
    assert lines[-1] == "  … (13 more)"  # C19..C29, X and c.py's Y
    assert run_setup_text({"c.py": "Y = -2.5\n"}) == "c.py:\n  Y = -2.5"
    assert run_setup_text({}) == ""


async def filled_requests(config: Config) -> tuple[ProposalRequest, ProposalRequest]:
    """Open the workspace's run as the scheduler does, run the base's real train.py into
    its log and points, and fill two requests: the base as parent and best, then again
    after its log is gone (read once) with a running node as the best."""
    threads = Threads(on_store_error=lambda exc: None)
    run = await threads.db_unreported(open_run, config, 0)
    try:
        ctx = RunContext(config, Tree("min"), run, threads, print, print, lambda: None, 0)
        log = config.log_path("n0000")
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as out:
            subprocess.run([sys.executable, "train.py"], cwd=config.root, stdout=out, check=True)
        parser = OutputParser("val_bpb")
        parser.feed(log.read_text())
        parser.close()
        points = [(step, loss, t, 20.0 * (step + 1)) for step, loss, t in parser.take_points()]
        await threads.db(run.store.add_points, "n0000", points)
        base = Node("n0000", None, "done", "root", metric=parser.value, started_at=10.0)
        base.finished_at = 12.5
        facts = RunFacts(ctx, [Slot("cpu0", threads=2)])
        first, again = (
            ProposalRequest(config.root, "n0000", {}, ["train.py"], "val_bpb", "min", 0)
            for _ in range(2)
        )
        await facts.fill(first, base, base)
        log.unlink()
        await facts.fill(again, base, Node("n0001", "n0000", "running"))
        return first, again
    finally:
        await threads.db_unreported(run.store.close)
        threads.shutdown()
        release(run.lock)


def test_run_facts_fill_a_request_from_the_open_run(workspace: Path) -> None:
    first, again = asyncio.run(filled_requests(load_config(workspace)))

    assert first.machine == (
        f"CPU, 2 threads per slot (1 slot, {os.cpu_count()} cores); "
        "a run is killed after 0:30 (timeout_s)"
    )
    assert first.run_setup == "prepare.py:\n  TIME_BUDGET = 1"  # from the base commit
    # the synthetic train.py: five `\r` step lines, training_seconds 0.1, no num_steps
    assert first.parent_run is not None and first.parent_run == first.best_run
    assert (first.parent_run.steps, first.parent_run.seconds) == (5, 0.1)
    assert [pct for pct, _ in first.parent_run.loss_at] == [25, 50, 75, 100]
    assert first.parent_run.tokens_per_s is None and first.parent_run.peak_memory_mb is None
    assert again.parent_run == first.parent_run  # read once: the log is gone now
    assert again.best_run is None  # a running node has no figures yet
    assert (again.machine, again.run_setup) == (first.machine, first.run_setup)
