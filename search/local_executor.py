"""The local executor: run one experiment's command in its worktree on this machine.

`[search] executor = "local"` (the default; docs/ARCHITECTURE.md §6). The command runs in
a process group of its own (search/processes.py), in a bwrap sandbox where the job's
isolation says so (search/sandbox.py); its output goes to the node's log (capped:
search/log_cap.py) and to the job's parser as it arrives. The run ends when its main
process exits (a daemon holding its output does not keep it going); on timeout or
cancellation the whole group gets SIGTERM, then SIGKILL; at the end, whatever it left
running is killed. Slots: one per visible NVIDIA GPU, else CPU slots that split the cores.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import shutil
import signal
import subprocess
import time

from autoresearch_tui.search.executor import Job, RunResult
from autoresearch_tui.search.log_cap import CappedLog
from autoresearch_tui.search.processes import (
    GRACE_S,
    command_argv,
    experiment_env,
    kill_group,
    kill_marked,
)
from autoresearch_tui.search.sandbox import bwrap_argv
from autoresearch_tui.search.slots import Slot

DRAIN_S = 2.0  # output still read after the main process exited
EXIT_POLL_S = 0.01


def visible_gpus() -> list[str]:
    """GPU ids from CUDA_VISIBLE_DEVICES when set, else from `nvidia-smi -L`."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        ids = [g.strip() for g in env.split(",") if g.strip()]
        return [] if not ids or ids[0].startswith("-") else ids
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return []
    lines = [line for line in out.stdout.splitlines() if line.startswith("GPU ")]
    return [str(i) for i in range(len(lines))] if out.returncode == 0 else []


def detect_slots(
    setting: int | str | list[int] = "auto",
    *,
    count: int | None = None,
    cpu_threads: int = 0,
    gpus: list[str] | None = None,
) -> list[Slot]:
    """Slots for this machine. `count` (the --slots flag) wins over `setting` (the file)."""
    if isinstance(setting, list):
        gpus = [str(g) for g in setting]
    elif gpus is None:
        gpus = visible_gpus()
    if gpus:
        n = count or (setting if isinstance(setting, int) else len(gpus))
        if n > len(gpus):
            raise ValueError(
                f"--slots {n} but only {len(gpus)} GPU(s) are visible — use --slots {len(gpus)} or fewer"
            )
        return [Slot(name=f"gpu{g}", gpu=g) for g in gpus[:n]]
    n = count or (setting if isinstance(setting, int) else 1)
    cores = os.cpu_count() or 1
    threads = cpu_threads or max(1, cores // n)
    return [Slot(name=f"cpu{i}", threads=threads) for i in range(n)]


async def main_exit(proc: asyncio.subprocess.Process) -> int:
    """The main process's exit code, as soon as it exits. (`proc.wait()` also waits for
    its output to close, which a daemon it left may hold open for ever.)"""
    if proc.returncode is None:
        with contextlib.suppress(OSError, AttributeError):  # pidfd: Linux 5.3, Python 3.9
            fd = os.pidfd_open(proc.pid)
            loop = asyncio.get_running_loop()
            exited: asyncio.Future[None] = loop.create_future()

            def readable() -> None:
                if not exited.done():
                    exited.set_result(None)

            loop.add_reader(fd, readable)
            try:
                await exited
            finally:
                loop.remove_reader(fd)
                os.close(fd)
    while proc.returncode is None:  # the child watcher reaps it a moment later
        await asyncio.sleep(EXIT_POLL_S)
    return proc.returncode


async def _terminate(proc: asyncio.subprocess.Process) -> None:
    kill_group(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(main_exit(proc), GRACE_S)
    except TimeoutError:
        pass
    kill_group(proc.pid, signal.SIGKILL)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(main_exit(proc), GRACE_S)


def job_argv(job: Job) -> list[str]:
    """The job's command line: in a bwrap sandbox when its isolation says so."""
    if job.isolation.sandbox != "bwrap":
        return command_argv(job.command)
    cwd = job.checkout()
    readonly = [cwd / path for path in job.readonly]
    return command_argv(job.command, lambda inner: bwrap_argv(inner, cwd, job.isolation, readonly))


def job_env(job: Job) -> dict[str, str]:
    """The runner's environment as a run may see it, with the job's own variables."""
    return experiment_env(job.env, job.isolation.drop, job.isolation.keep)


class LocalExecutor:
    """Runs each job as a subprocess of this runner, in the job's worktree."""

    name = "local"
    checkout = True
    timed = True
    serial_proposals = False

    def __init__(self, setting: int | str | list[int] = "auto", cpu_threads: int = 0) -> None:
        self.setting = setting  # `[search] slots`
        self.cpu_threads = cpu_threads

    def slots(self, count: int | None = None) -> list[Slot]:
        return detect_slots(self.setting, count=count, cpu_threads=self.cpu_threads)

    async def run(self, job: Job) -> RunResult:
        """Run until the main process exits (its output read for at most DRAIN_S more) or
        the timeout. Cancelling the awaiting task kills the group. Either way, what the run
        left running is killed: its process group, and every process carrying its marker."""
        start = time.monotonic()
        with CappedLog(job.log_path, job.max_log_mb) as log:
            proc = await asyncio.create_subprocess_exec(
                *job_argv(job),
                cwd=job.checkout(),
                env=job_env(job),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
            job.on_start(proc.pid)
            stdout = proc.stdout
            assert stdout is not None  # stdout=PIPE
            text = codecs.getincrementaldecoder("utf-8")(errors="replace")  # chunks split chars

            async def pump() -> None:
                while chunk := await stdout.read(65536):
                    log.write(chunk)
                    elapsed = time.monotonic() - start
                    lines = job.parser.feed(text.decode(chunk), elapsed)
                    job.on_output(lines, elapsed)

            reader = asyncio.ensure_future(pump())
            timed_out = False
            try:
                await asyncio.wait_for(main_exit(proc), job.timeout_s)
                # A child still holding stdout must not keep a finished run going.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(reader), DRAIN_S)
            except TimeoutError:
                timed_out = True
                await _terminate(proc)
            except BaseException:
                await _terminate(proc)
                raise
            finally:
                elapsed = time.monotonic() - start
                kill_group(proc.pid, signal.SIGKILL)  # what it left in its group
                kill_marked(job.isolation.marker)  # and outside it, marked (no sandbox)
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
                transport = getattr(proc, "_transport", None)  # a daemon may hold the pipe:
                if transport is not None:  # close our end (asyncio has no public way)
                    transport.close()
                job.parser.close(elapsed)
            if timed_out:
                log.write(
                    f"\n[autoresearch-tui] killed after the {job.timeout_s:g}s timeout\n".encode()
                )
        return RunResult(proc.returncode, timed_out, elapsed)
