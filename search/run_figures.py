"""What the runs are: one run's figures from its log and loss points, the machine the
runs share, and the readonly files' key constants (issue 12, item 3).

`RunFacts.fill` puts them in a `ProposalRequest` (`machine`, `run_setup`, `parent_run`,
`best_run`; agents/run_section.py renders them), so a model sees how far a run gets in
its budget on this machine: steps, tokens/s, peak memory, MFU where printed, the run's
seconds and its loss at 25/50/75/100% of its steps.

A log is read only at its ends (the first `HEAD_BYTES` and the last `TAIL_BYTES`): the
summary a trainer prints at the end (`num_steps:`, `training_seconds:`,
`peak_vram_mb:`, `mfu_percent:` ... as the built-in trainer and autoresearch's train.py
write it) is in the tail however long the run was. `\\r` counts as a line break, as it
does for the executor's parser (search/output.py). See docs/ARCHITECTURE.md §2.
"""

from __future__ import annotations

import ast
import asyncio
import math
import os
import re
import shutil
import statistics
import subprocess
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import autoresearch_tui.agents.pyast as pyast
from autoresearch_tui.agents.format import fmt_duration
from autoresearch_tui.agents.request import ProposalRequest, RunFigures
from autoresearch_tui.search.constants import module_assignments
from autoresearch_tui.search.context import RunContext
from autoresearch_tui.search.model import FINISHED, Node
from autoresearch_tui.search.output import FLOAT, LINE_BREAK, STEP_LINE
from autoresearch_tui.search.slots import Slot

HEAD_BYTES = 16 * 1024  # read from a log's start (set-up lines)
TAIL_BYTES = 64 * 1024  # read from its end (the last steps and the summary)
LOSS_PERCENTS = (25, 50, 75, 100)
SETUP_LINES = 20  # lines of readonly constants at most
SETUP_LINE_CHARS = 110  # a constant's line (with its comment) is cut here
SETUP_STRING_CHARS = 40  # longer string constants (regexes, URLs) are left out

SUMMARY_LINE = re.compile(rf"^\s*([A-Za-z_]\w*)\s*[:=]\s*({FLOAT})\s*$")
TOKENS_PER_S = re.compile(
    r"\btok(?:ens)?(?:/|_per_)s(?:ec(?:ond)?)?\s*[:=]\s*(\d[\d,_]*(?:\.\d+)?)"
)
STEP_MFU = re.compile(rf"\bmfu\s*[:=]\s*({FLOAT})\s*%", re.IGNORECASE)
CONSTANT_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")

# summary keys (lower case) per figure, the first one present wins; memory keys give MB
STEPS_KEYS = ("num_steps", "steps", "total_steps")
SECONDS_KEYS = ("training_seconds", "train_seconds", "total_seconds")
MEMORY_KEYS = {
    "peak_vram_mb": 1.0,
    "peak_memory_mb": 1.0,
    "peak_mem_mb": 1.0,
    "peak_vram_gb": 1024.0,
    "peak_memory_gb": 1024.0,
}
MFU_KEYS = ("mfu_percent", "mfu")
TOKENS_PER_S_KEYS = ("tokens_per_s", "tokens_per_second", "tok_per_sec", "tok_per_s")


@dataclass(frozen=True)
class LogEnds:
    """The complete lines at a log's start and end, and how many bytes were read."""

    head: list[str]  # empty when the whole log fitted in `tail`
    tail: list[str]
    bytes_read: int


def read_log_ends(
    path: Path, head_bytes: int = HEAD_BYTES, tail_bytes: int = TAIL_BYTES
) -> LogEnds:
    """The lines of a log's first `head_bytes` and last `tail_bytes` (all of a short log);
    no lines when it cannot be read."""
    try:
        with path.open("rb") as log:
            size = os.fstat(log.fileno()).st_size
            if size <= head_bytes + tail_bytes:
                whole = log.read()
                return LogEnds([], _lines(whole), len(whole))
            head = log.read(head_bytes)
            log.seek(size - tail_bytes)
            tail = log.read(tail_bytes)
    except OSError:
        return LogEnds([], [], 0)
    # a cut line is left out: the head's last one, the tail's first one
    return LogEnds(_lines(head)[:-1], _lines(tail)[1:], len(head) + len(tail))


def _lines(data: bytes) -> list[str]:
    text = data.decode("utf-8", errors="replace")
    return [line for line in LINE_BREAK.split(text) if line.strip()]


def summary_values(lines: Sequence[str]) -> dict[str, float]:
    """`key: number` lines (lower-case keys); a later line wins."""
    values: dict[str, float] = {}
    for line in lines:
        if (match := SUMMARY_LINE.match(line)) is not None:
            try:
                value = float(match.group(2))
            except ValueError:
                continue
            if math.isfinite(value):
                values[match.group(1).lower()] = value
    return values


def _first(values: dict[str, float], keys: Sequence[str]) -> float | None:
    return next((values[k] for k in keys if k in values), None)


def _median(numbers: Sequence[float]) -> float | None:
    return statistics.median(numbers) if numbers else None


@dataclass(frozen=True)
class StepFigures:
    """What a trainer's step lines say: the last step, and tokens/s and MFU per step."""

    last_step: int | None
    tokens_per_s: list[float]
    mfu: list[float]


def step_figures(lines: Sequence[str]) -> StepFigures:
    """Read `step N ... loss: x ... tok/sec: 12,345 ... mfu: 1.2%` lines."""
    last_step: int | None = None
    rates: list[float] = []
    mfus: list[float] = []
    for line in lines:
        if (step := STEP_LINE.search(line)) is None:
            continue
        last_step = int(step.group(1))
        if (rate := TOKENS_PER_S.search(line)) is not None:
            rates.append(float(rate.group(1).replace(",", "").replace("_", "")))
        if (mfu := STEP_MFU.search(line)) is not None:
            mfus.append(float(mfu.group(1)))
    return StepFigures(last_step, rates, mfus)


def loss_at(points: Sequence[tuple[int, float]]) -> tuple[tuple[int, float], ...]:
    """The loss at 25/50/75/100% of the run's steps (the nearest point); a percent whose
    point is the next percent's too is left out, so a short run gives fewer."""
    if not points:
        return ()
    ordered = sorted(points, key=lambda p: p[0])
    first, last = ordered[0][0], ordered[-1][0]
    chosen = [
        min(range(len(ordered)), key=lambda i: abs(ordered[i][0] - target))
        for target in (first + (last - first) * pct / 100 for pct in LOSS_PERCENTS)
    ]
    return tuple(
        (pct, ordered[index][1])
        for n, (pct, index) in enumerate(zip(LOSS_PERCENTS, chosen, strict=True))
        if n == len(chosen) - 1 or chosen[n + 1] != index
    )


def run_figures(
    node_id: str,
    log_path: Path,
    points: Sequence[tuple[int, float]],
    wall_seconds: float | None = None,
) -> RunFigures:
    """One run's figures from its log's ends and its loss points (`Store.load_points`:
    step, loss). The seconds are the summary's training seconds (else its total seconds,
    else `wall_seconds`, the node's own started-to-finished time); a figure the log does
    not print is None (an MFU printed as 0, as on CPU, is not measured)."""
    log = read_log_ends(log_path)
    values = summary_values([*log.head, *log.tail])
    late, early = step_figures(log.tail), step_figures(log.head)
    steps_seen = late if late.last_step is not None else early
    seconds = _first(values, SECONDS_KEYS)
    if seconds is None:
        seconds = wall_seconds

    # steps: the summary's, else the last step line's, else the last loss point's (the
    # points cover the whole run; the head's step lines only its start)
    last_step = late.last_step
    if last_step is None and points:
        last_step = max(step for step, _ in points)
    if last_step is None:
        last_step = early.last_step
    steps = _first(values, STEPS_KEYS)
    if steps is None and last_step is not None:
        steps = last_step + 1

    rate = _first(values, TOKENS_PER_S_KEYS) or _median(steps_seen.tokens_per_s)
    training = values.get("training_seconds")
    if rate is None and "total_tokens_m" in values and training:
        rate = values["total_tokens_m"] * 1e6 / training

    memory = next((values[k] * scale for k, scale in MEMORY_KEYS.items() if k in values), None)
    mfu = _first(values, MFU_KEYS) or _median(steps_seen.mfu)
    return RunFigures(
        node_id=node_id,
        seconds=seconds,
        steps=int(steps) if steps is not None else None,
        tokens_per_s=rate or None,
        peak_memory_mb=memory or None,
        mfu_percent=mfu or None,
        loss_at=loss_at(points),
    )


# -- the machine -----------------------------------------------------------------------
def gpu_names(ids: Sequence[str]) -> list[str]:
    """The names `nvidia-smi` gives the GPUs `ids` (CUDA_VISIBLE_DEVICES entries: indices
    or UUIDs), all its GPUs when none match; [] without nvidia-smi."""
    if shutil.which("nvidia-smi") is None:
        return []
    query = ["nvidia-smi", "--query-gpu=index,uuid,name", "--format=csv,noheader"]
    try:
        out = subprocess.run(query, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return []
    rows = [
        [cell.strip() for cell in line.split(",", 2)]
        for line in out.stdout.splitlines()
        if line.count(",") >= 2
    ]
    wanted = set(ids)
    chosen = [name for index, uuid, name in rows if index in wanted or uuid in wanted]
    return chosen or [name for _, _, name in rows]


def machine_text(slots: Sequence[Slot], timeout_s: float) -> str:
    """Where the runs run and their hard limit, in one line: "NVIDIA H100 80GB HBM3
    (8 slots, 1 per GPU); a run is killed after 10:00" or "CPU, 2 threads per slot
    (2 slots, 4 cores); ...". Call it once per search: it may run nvidia-smi."""
    local_gpus = [s.gpu for s in slots if s.gpu is not None]
    ray_gpus = [s for s in slots if s.gpu is None and s.remote == "gpu"]
    cpus = [s for s in slots if s.gpu is None and s.remote != "gpu"]
    parts = []
    if local_gpus:
        names = Counter(gpu_names(local_gpus)) or Counter({"GPU (model unknown)": 1})
        model = ", ".join(f"{name} × {n}" if n > 1 else name for name, n in names.items())
        parts.append(f"{model} ({_slots(len(local_gpus))}, 1 per GPU)")
    if ray_gpus:
        parts.append(f"GPUs of a Ray cluster ({_slots(len(ray_gpus))}, 1 GPU each)")
    if cpus:
        threads = max(1, max(s.threads for s in cpus))
        where = (
            "a Ray cluster's CPUs"
            if any(s.remote for s in cpus)
            else f"{os.cpu_count() or 1} cores"
        )
        per_slot = f"{threads} thread{'' if threads == 1 else 's'} per slot"
        parts.append(f"CPU, {per_slot} ({_slots(len(cpus))}, {where})")
    limit = f"a run is killed after {fmt_duration(timeout_s)} (timeout_s)"
    return "; ".join([*parts, limit]) if parts else limit[0].upper() + limit[1:]


def _slots(n: int) -> str:
    return f"{n} slot" if n == 1 else f"{n} slots"


# -- the readonly files' constants -----------------------------------------------------
def _literal(value: ast.expr) -> int | float | str | None:
    if isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.USub):
        number = _literal(value.operand)
        return -number if isinstance(number, int | float) else None
    if not isinstance(value, ast.Constant) or isinstance(value.value, bool):
        return None
    if isinstance(value.value, int | float):
        return value.value
    if isinstance(value.value, str) and len(value.value) <= SETUP_STRING_CHARS:
        return value.value
    return None


def constant_lines(source: str) -> list[str]:
    """A Python file's module-level `UPPER_CASE = number or short string` assignments,
    each as its source line (with its comment, cut at `SETUP_LINE_CHARS`)."""
    try:
        module = pyast.parse(source)
    except SyntaxError:
        return []
    lines = source.splitlines()
    found = []
    for stmt, name, value in module_assignments(module):
        if not CONSTANT_NAME.match(name):
            continue
        literal = _literal(value)
        if literal is None:
            continue
        if stmt.lineno == stmt.end_lineno:
            text = lines[stmt.lineno - 1].strip()
        else:
            text = f"{name} = {literal!r}"
        found.append(text if len(text) <= SETUP_LINE_CHARS else text[: SETUP_LINE_CHARS - 1] + "…")
    return found


def run_setup_text(readonly_files: dict[str, str]) -> str:
    """The readonly Python files' key constants, a header line per file, at most
    `SETUP_LINES` lines in all: what every run shares (time budget, sequence length,
    data set ...)."""
    out: list[str] = []
    left_out = 0
    for path in sorted(readonly_files):
        if not path.endswith(".py"):
            continue
        constants = constant_lines(readonly_files[path])
        if not constants:
            continue
        room = SETUP_LINES - len(out) - 1
        if room <= 0:
            left_out += len(constants)
            continue
        out += [f"{path}:", *(f"  {line}" for line in constants[:room])]
        left_out += max(0, len(constants) - room)
    if left_out:
        out.append(f"  … ({left_out} more)")
    return "\n".join(out)


# -- for the requests of one search ----------------------------------------------------
class RunFacts:
    """What the runs are, for every request of one open search. The machine line and the
    readonly set-up are read once, each finished node's figures once (a finished run's
    log and points do not change); the reads run off the loop (points and log on the
    store thread, the base's readonly files on the git thread, nvidia-smi on a worker)."""

    def __init__(self, ctx: RunContext, slots: Sequence[Slot]) -> None:
        self.ctx = ctx
        self.slots = list(slots)
        self._machine: str | None = None
        self._setup: str | None = None
        self._figures: dict[str, RunFigures] = {}

    async def fill(self, request: ProposalRequest, parent: Node, best: Node | None) -> None:
        """Set the request's `machine`, `run_setup`, `parent_run` and `best_run`."""
        request.machine = await self.machine()
        request.run_setup = await self.setup()
        request.parent_run = await self.figures(parent)
        request.best_run = await self.figures(best) if best is not None else None

    async def machine(self) -> str:
        if self._machine is None:
            timeout = self.ctx.config.target.timeout_s
            self._machine = await asyncio.to_thread(machine_text, self.slots, timeout)
        return self._machine

    async def setup(self) -> str:
        """The readonly files' constants, as the base commit holds them."""
        if self._setup is None:
            ctx, readonly = self.ctx, list(self.ctx.config.target.readonly)
            try:
                files = await ctx.threads.git(ctx.git.read_files, ctx.run.base_commit, readonly)
            except (KeyError, ValueError):  # not in the base commit, or not text
                files = {}
            self._setup = run_setup_text(files)
        return self._setup

    async def figures(self, node: Node) -> RunFigures | None:
        """A node's run figures once it ran; None before."""
        if node.status not in FINISHED:
            return None
        if (known := self._figures.get(node.id)) is None:
            ctx, node_id, seconds = self.ctx, node.id, node.run_seconds
            log = ctx.config.log_path(node_id)

            def read() -> RunFigures:
                return run_figures(node_id, log, ctx.store.load_points(node_id), seconds)

            known = self._figures[node_id] = await ctx.threads.db(read)
        return known
