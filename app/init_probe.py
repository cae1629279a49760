"""`init` on an existing repository, the metric: run the base once and read its output.

The probe runs the run command the way the search will (docs/ARCHITECTURE.md §2, §6): in
a temporary worktree of HEAD with the `[target] link` paths linked in, under the
experiment environment (the caller's PATH, uv pointed at the checkout's environment), in
a process group of its own that a timeout kills. Its output is then searched for a
`name: number` line (autoresearch's `val_bpb:` summary) or nanoGPT's `val loss N`.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from autoresearch_tui.search.checkout import link_into, missing_input
from autoresearch_tui.search.config import metric_name
from autoresearch_tui.search.output import FLOAT, OutputParser
from autoresearch_tui.search.processes import command_argv, experiment_env, kill_group
from autoresearch_tui.search.uv_env import uv_env

NAME_VALUE = re.compile(rf"^\s*([A-Za-z_][\w./-]*)\s*[:=]\s*({FLOAT})\s*$")
NANOGPT_VAL = r"val loss ([0-9.]+)"
MEASURES = ("bpb", "loss", "ppl", "perplexity", "acc", "accuracy", "error", "score", "f1")
HIGHER_IS_BETTER = re.compile(r"acc|score|reward|f1|auc|map|bleu|rouge", re.IGNORECASE)


class ProbeFailed(RuntimeError):
    """The base run failed or timed out; the message is one line with the fix."""


class NoMetric(ValueError):
    """The base run finished but printed no metric it could find; asks for the flags."""


@dataclass(frozen=True)
class Probe:
    """One base run: its output lines, wall-clock seconds and how it ended."""

    lines: list[str]
    seconds: float
    exit_code: int
    timed_out: bool
    hint: str  # a missing uncommitted input the output names ("" when none)


@dataclass(frozen=True)
class Metric:
    """What the toml says about the result: a name (METRIC: lines) or a regex, the goal."""

    name: str
    regex: str
    goal: str


def run_probe(
    root: Path, run: str, links: list[str], timeout_s: float, log: Callable[[str], None]
) -> Probe:
    """Run `run` once in a throwaway worktree of HEAD; its output goes to `log` too."""
    tmp = Path(tempfile.mkdtemp(prefix="autoresearch-init-"))
    worktree = tmp / "base"
    _git(root, "worktree", "add", "-q", "--detach", str(worktree), "HEAD")
    try:
        link_into(root, worktree, links)
        env = experiment_env({**uv_env(root), "AR_SEED": "0", "AR_NODE": "n0000"})
        start = time.monotonic()
        lines, code, timed_out = _run(run, worktree, env, timeout_s, log)
        hint = missing_input(root, worktree, lines[-40:]) if code else ""
        return Probe(lines, time.monotonic() - start, code, timed_out, hint)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=root,
                       capture_output=True, check=False)  # fmt: skip
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run(["git", "worktree", "prune"], cwd=root, capture_output=True, check=False)


def _run(
    run: str, cwd: Path, env: dict[str, str], timeout_s: float, log: Callable[[str], None]
) -> tuple[list[str], int, bool]:
    proc = subprocess.Popen(
        command_argv(run), cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, start_new_session=True, text=True, errors="replace",
    )  # fmt: skip
    assert proc.stdout is not None
    timer = _Deadline(proc.pid, timeout_s)
    lines: list[str] = []
    try:
        for line in proc.stdout:  # universal newlines: `\r` progress lines count as lines
            if line.strip():
                lines.append(line.rstrip())
                log(line.rstrip())
        code = proc.wait()
    finally:
        timer.cancel()
        kill_group(proc.pid)  # what the run left behind
    return lines, code, timer.fired


class _Deadline:
    """Kills a process group after `timeout_s` unless cancelled first."""

    def __init__(self, pgid: int, timeout_s: float) -> None:
        self.fired = False
        self._pgid = pgid
        self._timer = threading.Timer(timeout_s, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        kill_group(self._pgid)

    def cancel(self) -> None:
        self._timer.cancel()


def find_metric(lines: list[str]) -> Metric | None:
    """The result the output reports: a validation `name: number` line (val_bpb first),
    else nanoGPT's `val loss N`, else any `name: number` naming a measure; None if none."""
    names = _names(lines)
    measures = [n for n in names if any(word in n.lower() for word in MEASURES)]
    validation = [n for n in measures if re.search(r"val|eval|valid|test", n, re.IGNORECASE)]
    if "val_bpb" in names:
        return _metric("val_bpb", "")
    if validation:
        return _metric(validation[0], "")
    if any(re.search(NANOGPT_VAL, line) for line in lines):
        return _metric(metric_name(NANOGPT_VAL), NANOGPT_VAL)
    return _metric(measures[-1], "") if measures else None


def _metric(name: str, regex: str) -> Metric:
    return Metric(name, regex, "max" if HIGHER_IS_BETTER.search(name) else "min")


def value_of(metric: Metric, lines: list[str]) -> float | None:
    """The value the search would read from these lines (the engine's own parser)."""
    parser = OutputParser(metric=metric.name, metric_regex=metric.regex)
    parser.feed("\n".join(lines) + "\n")
    return parser.value


def probe_metric(probe: Probe, timeout_s: float) -> tuple[Metric, float]:
    """The metric of a probe and its value, or ProbeFailed naming what to do."""
    metric = find_metric(probe.lines)
    value = value_of(metric, probe.lines) if metric else None
    if metric is not None and value is not None and math.isfinite(value):
        return metric, value
    last = probe.lines[-1].strip() if probe.lines else "(no output)"
    if probe.timed_out:
        raise ProbeFailed(f"the base run did not finish within {timeout_s:g} s — give "
                          "--probe-timeout-s SECONDS, or --metric NAME / --metric-regex RE "
                          "to skip the base run")  # fmt: skip
    if probe.exit_code != 0:
        fix = probe.hint or "fix it (or name its inputs with --link), then run init again"
        raise ProbeFailed(f"the base run failed (exit {probe.exit_code}): {last[:200]} — {fix}")
    seen = ", ".join(_names(probe.lines)[:6]) or "none"
    raise NoMetric(
        "the base run printed no metric (like `val_bpb: 0.99` or `val loss 1.23`; name: "
        f"number lines seen: {seen}) — give --metric NAME or --metric-regex 'RE'"
    )


def _names(lines: list[str]) -> list[str]:
    return list(dict.fromkeys(m.group(1) for line in lines if (m := NAME_VALUE.match(line))))


def suggested_timeout(seconds: float) -> int:
    """A run's hard limit from the base run's time: three times it, at least a minute."""
    return max(60, math.ceil(seconds * 3 / 10.0) * 10)


def _git(root: Path, *args: str) -> None:
    out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        lines = out.stderr.strip().splitlines() or ["(no message)"]
        raise ProbeFailed(f"git {args[0]} {args[1]} failed: {lines[-1]}")


def echo(line: str) -> None:
    """The probe's output as the person watches it (stderr: stdout is the toml)."""
    print(f"  base | {line}", file=sys.stderr, flush=True)
