"""Output faults (issue 15, item 6): a run's log is capped with its head and tail kept,
its loss points are thinned past a few thousand, a debug prompt reads only the log's
ends, output parsing stays linear in the output's length, and any text reaches
state.db. Real subprocesses, a real SQLite file, real (sparse) files."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import re
import sys
import textwrap
from pathlib import Path

import pytest
from synthetic import TOML, ScriptedProposer, make_workspace

from autoresearch_tui.search.config import ConfigError, load_config
from autoresearch_tui.search.executor import Job
from autoresearch_tui.search.local_executor import LocalExecutor
from autoresearch_tui.search.log_cap import MB, CappedLog
from autoresearch_tui.search.model import Node
from autoresearch_tui.search.output import FULL_POINTS, MAX_LINE, MAX_POINTS, OutputParser
from autoresearch_tui.search.proposing import log_excerpt
from autoresearch_tui.search.scheduler import Scheduler
from autoresearch_tui.search.slots import Slot
from autoresearch_tui.search.store import Store

MARKER = re.compile(
    rb"^\[\.\.\. ([\d.]+) (MB|KB) cut by autoresearch-tui: max_log_mb = ([\d.]+) \.\.\.\]$"
)
# prints `lines` numbered lines of 100 bytes, then the metric
PRINTER = "import sys\nfor i in range({lines}):\n    sys.stdout.write(f'line {{i:09d}} ' + 'x' * 84 + '\\n')\nprint('val_bpb: 1.25')\n"  # fmt: skip


def run_job(tmp_path: Path, lines: int, max_log_mb: float) -> tuple[Job, bytes]:
    """`lines` lines of 100 bytes from a real subprocess through the local executor."""
    (tmp_path / "print.py").write_text(PRINTER.format(lines=lines))
    job = Job(
        node_id="n0001", commit="", seed=0, command=f"{sys.executable} print.py", env={},
        slot=Slot("cpu0", threads=1), log_path=tmp_path / "logs" / "n0001.log",
        parser=OutputParser("val_bpb"), timeout_s=60, max_log_mb=max_log_mb,
        worktree=tmp_path,
    )  # fmt: skip
    result = asyncio.run(LocalExecutor().run(job))
    assert result.returncode == 0 and not result.timed_out
    return job, job.log_path.read_bytes()


# -- the log's cap ------------------------------------------------------------------------
def test_a_log_over_the_cap_keeps_its_head_and_tail_and_says_what_was_cut(
    tmp_path: Path,
) -> None:
    total = 40_000 * 100 + len("val_bpb: 1.25\n")  # 4 MB printed, a 1 MB cap
    job, log = run_job(tmp_path, 40_000, 1)
    assert job.parser.value == 1.25  # the parser saw everything
    assert len(log) <= MB + 200
    lines = log.split(b"\n")
    markers = [(i, m) for i, line in enumerate(lines) if (m := MARKER.match(line))]
    assert len(markers) == 1, [line for line in lines if b"cut by" in line]
    at, marker = markers[0]
    assert marker.group(3) == b"1"
    head, tail = lines[:at], lines[at + 1 :]
    assert head[0].startswith(b"line 000000000 ") and len(b"\n".join(head)) >= MB // 2 - 4096
    assert tail[-2:] == [b"val_bpb: 1.25", b""]
    assert tail[-3].startswith(b"line 000039999 ")
    # whole lines on both sides of the cut, numbered without a gap within each side
    numbers = [int(x[5:14]) for x in head + tail[:-2]]
    assert all(len(x) == 99 for x in head + tail[:-2])
    first_tail = int(tail[0][5:14])
    assert numbers == [*range(len(head)), *range(first_tail, 40_000)]
    cut = total - len(log) + len(lines[at]) + 1  # what is gone, as the marker says it
    said = float(marker.group(1)) * (MB if marker.group(2) == b"MB" else 1024)
    assert abs(said - cut) <= 0.05 * MB


def test_a_log_under_the_cap_or_without_one_is_kept_whole(tmp_path: Path) -> None:
    for cap in (0, 1):
        (tmp_path / "logs" / "n0001.log").unlink(missing_ok=True)
        _, log = run_job(tmp_path, 20_000 if cap == 0 else 5_000, cap)
        assert b"cut by" not in log and log.endswith(b"val_bpb: 1.25\n")
        assert log.count(b"\n") == (20_000 if cap == 0 else 5_000) + 1


def test_the_cap_holds_over_many_compactions_and_keeps_earlier_output(tmp_path: Path) -> None:
    path = tmp_path / "n.log"
    path.write_bytes(b"an earlier attempt\n")
    with CappedLog(path, 0.25) as log:  # 256 KB
        for i in range(20_000):
            log.write(b"%07d " % i + b"y" * 40 + b"\n")  # 1 MB in 48-byte lines
    data = path.read_bytes()
    assert data.startswith(b"an earlier attempt\n0000000 ") and len(data) <= MB // 4 + 200
    assert data.count(b"cut by autoresearch-tui: max_log_mb = 0.25") == 1
    assert data.endswith(b"0019999 " + b"y" * 40 + b"\n")


def test_max_log_mb_is_read_and_checked(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    assert load_config(ws).search.max_log_mb == 50
    toml = TOML.replace("slots  = 2", "slots  = 2\nmax_log_mb = 0.5")
    (ws / "autoresearch.toml").write_text(toml)
    assert load_config(ws, check_clean=False).search.max_log_mb == 0.5
    (ws / "autoresearch.toml").write_text(toml.replace("0.5", '"big"'))
    with pytest.raises(ConfigError, match=r"\[search\] max_log_mb must be a number >= 0"):
        load_config(ws, check_clean=False)


def test_a_search_caps_its_runs_logs(tmp_path: Path) -> None:
    train = "import sys\nfor i in range(30_000):\n    print(f'{i:09d} ' + 'z' * 90)\nprint('val_bpb: 1.0')\n"  # fmt: skip
    toml = TOML.replace("slots  = 2", "slots  = 1\nmax_log_mb = 1")
    ws = make_workspace(tmp_path / "ws", train=train, toml=toml)
    config = load_config(ws)
    search = dataclasses.replace(config.search, base_runs=1, confirm_runs=0)
    s = Scheduler(
        dataclasses.replace(config, search=search), [ScriptedProposer([])], max_experiments=0
    )
    asyncio.run(asyncio.wait_for(s.run(), 60))
    assert s.tree["n0000"].status == "done" and s.tree["n0000"].metric == 1.0
    log = config.log_path("n0000").read_bytes()
    assert len(log) <= MB + 200 and log.count(b"cut by autoresearch-tui: max_log_mb = 1 ") == 1


# -- loss points --------------------------------------------------------------------------
def step_lines(n: int) -> str:
    return "".join(
        f"step {i} ({100 * i / n:.1f}%) | loss: {3 + 1 / (i + 1):.6f}\n" for i in range(n)
    )


def test_loss_points_are_thinned_past_a_few_thousand_keeping_the_first_and_latest() -> None:
    n = 100_000
    parser = OutputParser("val_bpb")
    text = step_lines(n)
    for i in range(0, len(text), 65536):
        parser.feed(text[i : i + 65536])
    parser.close()
    points = parser.take_points()
    steps = [s for s, _, _ in points]
    assert steps[:FULL_POINTS] == list(range(FULL_POINTS))  # all of the first ones
    assert steps[-1] == n - 1 and steps == sorted(steps)  # and the latest
    assert len(points) < 20_000  # every k-th later, k doubling: ~4,000 + 2,000 * log2(n/4,000)
    gaps = [b - a for a, b in itertools.pairwise(steps[:-1])]
    assert max(gaps) <= 64 and gaps == sorted(gaps)  # evenly thinner, never a hole

    store = Store(None)
    rows = [(s, loss, t, 50.0) for s, loss, t in points]
    for i in range(0, len(rows), 700):  # as the runner flushes them
        store.add_points("n0001", rows[i : i + 700])
    store.add_points("n0002", rows[:10])
    kept = store.load_points("n0001")
    assert MAX_POINTS // 2 <= len(kept) <= MAX_POINTS
    assert kept[0][0] == 0 and kept[-1][0] == n - 1
    assert sum(1 for s, _ in kept if s >= n // 2) >= 200  # the later half is not starved
    assert len(store.load_points("n0002")) == 10


# -- the debug prompt reads the log's ends only ---------------------------------------------
def read_bytes_so_far() -> int:
    io = Path("/proc/self/io").read_text()
    match = re.search(r"^rchar: (\d+)$", io, re.MULTILINE)
    assert match is not None
    return int(match.group(1))


def test_a_debug_prompt_reads_only_the_ends_of_a_huge_log(tmp_path: Path) -> None:
    log = tmp_path / "n0003.log"
    with log.open("wb") as f:  # 64 MB, sparse: the middle is a hole of zero bytes
        f.write(b"".join(b"start %d\n" % i for i in range(30)))
        f.truncate(64 * MB)
        f.seek(0, 2)
        f.write(b"".join(b"end %d\n" % i for i in range(100)))
        f.write(b"Traceback (most recent call last):\nRuntimeError: boom\n")
    before = read_bytes_so_far()
    excerpt = log_excerpt(log, 20, 60)
    assert read_bytes_so_far() - before < MB
    lines = excerpt.splitlines()
    assert lines[:20] == [f"start {i}" for i in range(20)]
    assert lines[-2:] == ["Traceback (most recent call last):", "RuntimeError: boom"]
    assert lines[-60] == "end 42" and "MB left out" in lines[20]
    small = tmp_path / "small.log"
    small.write_text("".join(f"l{i}\n\n" for i in range(100)))
    assert log_excerpt(small, 2, 3).splitlines() == ["l0", "l1", "... (95 lines) ...", "l97", "l98", "l99"]  # fmt: skip


# -- parsing is linear ----------------------------------------------------------------------
def test_one_huge_line_without_a_newline_is_parsed_in_linear_work() -> None:
    parser = OutputParser("val_bpb")
    chunk = "x" * 65536
    fed = 0
    for _ in range(320):  # 20 MB, no line break
        parser.feed(chunk)
        fed += len(chunk)
        assert parser.scanned <= 2 * fed  # each character examined at most twice
    assert parser.feed("y\rstep 5 | loss: 2.5\nval_bpb: 0.75") == [
        "x" * MAX_LINE,
        "step 5 | loss: 2.5",
    ]  # the huge line kept to MAX_LINE for parsing
    parser.close()
    assert parser.value == 0.75 and parser.take_points() == [(5, 2.5, 0.0)]
    assert parser.scanned <= 2 * (fed + 40)
    assert len(parser.tail[-3]) == MAX_LINE


def test_lines_split_across_chunks_still_parse() -> None:
    parser = OutputParser("val_bpb")
    for piece in ["step 1 | lo", "ss: 3.0\r", "\nval_", "bpb: 1.5", "\n"]:
        parser.feed(piece)
    assert parser.value == 1.5 and parser.take_points() == [(1, 3.0, 0.0)]


def test_many_steps_without_a_loss_in_one_line_stay_cheap() -> None:
    parser = OutputParser("val_bpb")
    assert parser.feed("step 1 " * 9000 + "\n") == ["step 1 " * 9000]  # 63 KB: bounded search
    assert parser.take_points() == []


# -- any text reaches state.db -----------------------------------------------------------------
def test_a_reason_with_undecodable_bytes_is_stored() -> None:
    store = Store(None)
    node = Node(id="n0001", parent="n0000", status="failed", reason="git: \udcff\udcfe path")
    store.save_node(node)
    assert store.load_nodes()[0].reason == "git: \ufffd\ufffd path"
    node = dataclasses.replace(node, description="ok", reason="plain")
    store.save_node(node)
    assert store.load_nodes()[0].reason == "plain"


def test_a_marker_line_reads_as_its_own_line_after_a_head_without_a_line_break(
    tmp_path: Path,
) -> None:
    path = tmp_path / "n.log"
    with CappedLog(path, 1 / 16) as log:  # 64 KB, one line without any break
        for _ in range(64):
            log.write(b"q" * 4096)
    data = path.read_bytes()
    assert len(data) <= MB // 16 + 200
    cut = [line for line in data.split(b"\n") if MARKER.match(line)]
    assert len(cut) == 1, textwrap.shorten(repr(data[32760:32900]), 200)
