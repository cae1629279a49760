"""A synthetic research target for the engine's tests: `train.py` prints a metric that
is a known formula of its module-level constants, in autoresearch's output format, in
well under a second. Knobs let a test make it crash, hang, or touch its readonly file."""

from __future__ import annotations

import asyncio
import math
import subprocess
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from autoresearch_tui.agents.request import ProposalRequest
from autoresearch_tui.search.executor import Job, RunResult
from autoresearch_tui.search.slots import Slot

TRAIN_PY = textwrap.dedent(
    '''\
    """Synthetic trainer: val_bpb is a bowl around LR=0.08, DEPTH=12, WARMUP=0.2."""
    import math
    import sys
    import time

    LR = 0.04  # learning rate
    DEPTH = 8
    WARMUP = 0.1
    USE_BIAS = False
    ACT = "relu"
    KNOBS = dict(crash=False, hang_s=0.0, touch_readonly=False, nan=False)  # not for the mutator

    if ACT not in ("relu", "gelu", "silu"):
        raise ValueError(ACT)


    def score():
        value = 1.0 + (math.log2(LR / 0.08)) ** 2 * 0.05 + ((DEPTH - 12) / 8) ** 2 * 0.1
        value += (WARMUP - 0.2) ** 2 + (0.01 if USE_BIAS else 0.0)
        value += {"relu": 0.02, "gelu": 0.0, "silu": 0.01}[ACT]
        return value


    if KNOBS["touch_readonly"]:
        open("prepare.py", "a").write("# changed\\n")
    if KNOBS["crash"]:
        raise RuntimeError("synthetic crash")
    time.sleep(KNOBS["hang_s"])
    final = float("nan") if KNOBS["nan"] else score()
    for step in range(5):
        loss = final + (5 - step) * 0.3
        print(f"step {step:05d} ({(step + 1) * 20:.1f}%) | loss: {loss:.6f} | dt: 1ms", end="\\r")
    print()
    print("---")
    print(f"val_bpb:          {final:.6f}")
    print("training_seconds: 0.1")
    '''
)

PREPARE_PY = "TIME_BUDGET = 1\n"

TOML = textwrap.dedent(
    """\
    [target]
    editable  = ["train.py"]
    readonly  = ["prepare.py"]
    run       = "python train.py"
    metric    = "val_bpb"
    goal      = "min"
    timeout_s = 30

    [search]
    policy = "best-first"
    slots  = 2

    [[agents]]
    persona = "explorer"
    backend = "mutator"
    """
)


def true_metric(lr: float, depth: int, warmup: float, use_bias: bool, act: str) -> float:
    """The same formula, computed independently of the file."""
    value = 1.0 + math.log2(lr / 0.08) ** 2 * 0.05 + ((depth - 12) / 8) ** 2 * 0.1
    value += (warmup - 0.2) ** 2 + (0.01 if use_bias else 0.0)
    return value + {"relu": 0.02, "gelu": 0.0, "silu": 0.01}[act]


def git(path: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=path, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip


def make_workspace(path: Path, *, train: str = TRAIN_PY, toml: str = TOML) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "train.py").write_text(train)
    (path / "prepare.py").write_text(PREPARE_PY)
    (path / "autoresearch.toml").write_text(toml)
    (path / "program.md").write_text("# Synthetic program\nMinimise val_bpb.\n")
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "base")
    return path


class ScriptedProposer:
    """A real Proposer that returns edits a test wrote down, in order (then fails).

    Each script item is a list of (old, new) text replacements on train.py, or an
    Exception to raise from `propose`."""

    can_debug = True

    def __init__(self, script: list, persona: str = "scripted"):
        from autoresearch_tui.agents.proposer import AgentSpec

        self.spec = AgentSpec(persona=persona, backend="scripted")
        self.script = list(script)
        self.requests: list = []

    async def propose(self, request):
        from autoresearch_tui.agents.proposer import Proposal, ProposalFailed

        self.requests.append(request)
        if not self.script:
            raise ProposalFailed("script exhausted")
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        source = request.parent_files["train.py"]
        for old, new in item:
            assert old in source, old
            source = source.replace(old, new)
        return Proposal(
            description="; ".join(f"{o} -> {n}" for o, n in item), files={"train.py": source}
        )


def set_knob(name: str, value: object) -> list[tuple[str, str]]:
    """A replacement that changes one of train.py's KNOBS."""
    defaults = {"crash": False, "hang_s": 0.0, "touch_readonly": False, "nan": False}
    return [(f"{name}={defaults[name]!r}", f"{name}={value!r}")]


def alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper is dead)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def marked_pids(marker: str) -> list[int]:
    """Live processes with `marker` (`AR_RUN=...`, `AR_NODE=...`) in their environment."""
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            env = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker.encode() in env and alive(int(proc.name)):
            pids.append(int(proc.name))
    return pids


def wait_until(predicate: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    """Poll `predicate` until it holds; fail saying `what` was awaited after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.02)


async def until(predicate: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    """`wait_until` on the event loop: the scheduler runs while this waits."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(0.02)


class InProcess:
    """An in-process executor: `measure(job)` gives a run's metric from the job's editable
    files and seed (None: the run crashes), with no process, worktree or log."""

    name = "in-process"
    checkout = False  # jobs come with their editable files
    timed = False  # no real run time
    serial_proposals = False

    def __init__(self, measure: Callable[[Job], float | None]) -> None:
        self.measure = measure

    def slots(self, count: int | None = None) -> list[Slot]:
        return [Slot(f"sim{i}") for i in range(count or 1)]

    async def run(self, job: Job) -> RunResult:
        value = self.measure(job)
        if value is None:
            job.parser.feed("the in-process run crashed\n")
            return RunResult(1, False, 0.0)
        job.parser.feed(f"{job.parser.metric}: {value!r}\n")
        return RunResult(0, False, 0.0)


def train_request(workspace: Path, **fields: object) -> ProposalRequest:
    """A request for a child of the base of a workspace holding TRAIN_PY (`fields`
    override the defaults)."""
    defaults: dict[str, object] = dict(
        workspace=workspace,
        parent_id="n0000",
        parent_files={"train.py": TRAIN_PY},
        editable=["train.py"],
        metric="val_bpb",
        goal="min",
        seed=0,
    )
    return ProposalRequest(**{**defaults, **fields})  # type: ignore[arg-type]
