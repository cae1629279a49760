"""The Ray executor: run one experiment on a Ray cluster instead of this machine.

`[search] executor = "ray"` sends each run to the cluster at `ray_address` ("auto": the
cluster this machine belongs to; "local": a new one on this machine). The node's
worktree (checked out here as usual) travels as a tar archive; a Ray task unpacks it in
a temporary folder on whichever machine has a free GPU (or CPUs), runs the command
there exactly as the local executor does (own process group, the same environment
rules, the same bwrap sandbox where the worker can make one, SIGTERM then SIGKILL at the
timeout) and streams the output back as it comes,
so the log, the loss curve and the metric arrive here live. After the run the task
sends back the readonly files as they are then, so the usual check sees a run that
changed them. Stopping a run (a prune, a quit) cancels the task, whose cleanup kills
the command's process group. Ray sets CUDA_VISIBLE_DEVICES on the worker; every
machine needs autoresearch-tui installed (the task's code) and the data the trainer
prepares (`prepare.py` caches it per machine). The command's environment is the Ray
worker's, by the local rule (search/processes.py): `python` is the first on the worker's
PATH, and an absolute interpreter path (the built-in trainer's run command) must exist
there too. `[target] link` symlinks travel as links to the same absolute paths: the
linked data must be at the same place on the worker (a shared or mirrored checkout).

`ray` is imported here only: the rest of the engine runs without it. See
docs/ARCHITECTURE.md §6.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import logging
import os
import select
import shlex
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from autoresearch_tui.search.contain import Isolation
from autoresearch_tui.search.executor import Job, RunResult
from autoresearch_tui.search.log_cap import CappedLog
from autoresearch_tui.search.processes import GRACE_S, command_argv, experiment_env, kill_group
from autoresearch_tui.search.sandbox import bwrap_argv, bwrap_problem
from autoresearch_tui.search.slots import Slot

READ_EVERY_S = 0.25  # the task sends output at least this often while there is some
LOST_AFTER_S = 120.0  # beyond the timeout: a task that has not ended by then is lost


def connect(address: str) -> Any:
    """Join (or start) the cluster once per process; return the `ray` module."""
    try:
        import ray
    except ImportError:
        raise ValueError(
            "[search] executor = \"ray\" needs Ray — pip install 'autoresearch-tui[ray]'"
        ) from None
    if not ray.is_initialized():
        try:
            _check_reachable(address)  # Ray itself retries an unreachable address for minutes
            ray.init(
                address=address, log_to_driver=False, include_dashboard=False,
                logging_level=logging.WARNING,
            )  # fmt: skip
        except (ConnectionError, OSError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ValueError(
                f"cannot reach the Ray cluster at {address!r} ({first}) — start it with "
                "`ray start --head`, or set [search] ray_address"
            ) from None
    return ray


def _check_reachable(address: str) -> None:
    """Raise OSError when `host:port` (or `ray://host:port`) refuses a TCP connection."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if sep and host and port.isdigit():
        socket.create_connection((host, int(port)), timeout=5).close()


def ray_slots(address: str, count: int | None = None, cpu_threads: int = 0) -> list[Slot]:
    """One slot per GPU of the cluster; without GPUs, one CPU slot per machine, each as
    many threads as the smallest machine has (a task runs on one machine)."""
    machines = [n["Resources"] for n in connect(address).nodes() if n.get("Alive")]
    return slots_on(machines, address, count, cpu_threads)


def slots_on(
    machines: list[dict[str, float]], address: str, count: int | None, cpu_threads: int
) -> list[Slot]:
    """`ray_slots` for these machines' resources (`ray.nodes()[i]["Resources"]`)."""
    gpus = sum(int(m.get("GPU", 0)) for m in machines)
    if gpus:
        return [Slot(name=f"ray-gpu{i}", remote="gpu") for i in range(count or gpus)]
    smallest = min((int(m.get("CPU", 0)) for m in machines), default=0)
    if smallest < 1:
        raise ValueError(f"the Ray cluster at {address!r} has no machine with a CPU to run on")
    n = count or len(machines)
    threads = cpu_threads or max(1, min(smallest, smallest * len(machines) // n))
    if threads > smallest:
        raise ValueError(
            f"[search] cpu_threads = {threads} but the smallest Ray machine has {smallest} "
            f"CPUs — set cpu_threads to {smallest} or fewer"
        )
    return [Slot(name=f"ray-cpu{i}", threads=threads, remote="cpu") for i in range(n)]


@functools.cache
def _task(ray: Any, num_cpus: int, num_gpus: int = 0) -> Any:
    """`remote_run` as a Ray task needing these resources (made once per shape)."""
    return ray.remote(num_cpus=num_cpus, num_gpus=num_gpus, max_retries=0)(remote_run).options(
        num_returns="streaming"
    )


def pack(worktree: Path) -> bytes:
    """The worktree as a gzipped tar, without git's own files."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path in sorted(worktree.rglob("*")):
            rel = path.relative_to(worktree)
            if rel.parts[0] == ".git" or not (path.is_file() or path.is_symlink()):
                continue
            tar.add(path, arcname=str(rel), recursive=False)
    return buf.getvalue()


def worker_argv(
    command: str, workdir: Path, isolation: Isolation, readonly: list[str]
) -> tuple[list[str], str]:
    """The command line on this worker and a line for the log: in a bwrap sandbox when
    `[search] sandbox` is "auto" or "bwrap" and bwrap runs here (decided per worker).
    "bwrap" where it cannot run is refused (bash exits 126 with the reason)."""
    if isolation.sandbox == "none":
        return command_argv(command), ""
    problem = bwrap_problem()
    if not problem:
        paths = [workdir / rel for rel in readonly]
        return command_argv(command, lambda inner: bwrap_argv(inner, workdir, isolation, paths)), ""
    host = socket.gethostname()
    if isolation.sandbox == "bwrap":
        why = f'[search] sandbox = "bwrap" but on {host} {problem}'
        return ["bash", "-c", f"echo {shlex.quote(why)}; exit 126"], ""
    return command_argv(command), f"[autoresearch-tui] no sandbox on {host}: {problem}\n"


def remote_run(
    archive: bytes,
    command: str,
    extra_env: dict[str, str],
    timeout_s: float,
    readonly: list[str],
    isolation: Isolation | None = None,
) -> Iterator[tuple[str, Any]]:
    """The Ray task (a streaming generator): ("start", (pid, host)), ("out", bytes)...,
    ("end", (returncode, timed_out, elapsed, {readonly path: bytes}))."""
    workdir = Path(tempfile.mkdtemp(prefix="autoresearch-"))
    isolation = isolation or Isolation()
    proc = None
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            tar.extractall(workdir, filter="tar")  # "data" refuses the links' absolute targets
        env = experiment_env(extra_env, isolation.drop, isolation.keep)
        argv, said = worker_argv(command, workdir, isolation, readonly)
        start = time.monotonic()
        proc = subprocess.Popen(
            argv, cwd=workdir, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        yield "start", (proc.pid, socket.gethostname())
        if said:
            yield "out", said.encode()
        assert proc.stdout is not None
        fd, timed_out, pending = proc.stdout.fileno(), False, b""
        last_sent = time.monotonic()
        while True:
            left = timeout_s - (time.monotonic() - start)
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select([fd], [], [], min(left, READ_EVERY_S))
            chunk = os.read(fd, 65536) if ready else b""
            if ready and not chunk:  # EOF: the command (and all that held its output) ended
                break
            pending += chunk
            if pending and (len(pending) > 65536 or time.monotonic() - last_sent >= READ_EVERY_S):
                yield "out", pending
                pending, last_sent = b"", time.monotonic()
        if pending:
            yield "out", pending
        if timed_out:
            _stop(proc)
        returncode = proc.wait()
        elapsed = time.monotonic() - start
        files = {}
        for rel in readonly:
            path = workdir / rel
            if path.is_file():
                files[rel] = path.read_bytes()
        yield "end", (returncode, timed_out, elapsed, files)
    finally:  # also on cancellation (KeyboardInterrupt in the task)
        if proc is not None:
            kill_group(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(GRACE_S)
        shutil.rmtree(workdir, ignore_errors=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    kill_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(GRACE_S)
    except subprocess.TimeoutExpired:
        pass
    kill_group(proc.pid, signal.SIGKILL)


class RayExecutor:
    """Runs each job as a Ray task on the cluster at `address`; see the module docstring."""

    name = "ray"
    checkout = True  # the worktree is checked out here, packed and sent
    timed = True
    serial_proposals = False

    def __init__(
        self, address: str = "auto", setting: int | str | list[int] = "auto", cpu_threads: int = 0
    ) -> None:
        self.address = address  # `[search] ray_address`
        self.setting = setting  # `[search] slots`: a count sizes the cluster's slots
        self.cpu_threads = cpu_threads

    def slots(self, count: int | None = None) -> list[Slot]:
        count = count or (self.setting if isinstance(self.setting, int) else None)
        return ray_slots(self.address, count, self.cpu_threads)

    async def run(self, job: Job) -> RunResult:
        """Run on the cluster, like the local executor runs here; the readonly files come
        back into the job's worktree. Cancelling the awaiting task cancels the Ray task."""
        ray = connect(self.address)
        worktree = job.checkout()
        archive = await asyncio.to_thread(pack, worktree)
        if job.slot.remote == "gpu":
            resources: dict[str, Any] = {"num_gpus": 1, "num_cpus": 1}
        else:
            resources = {"num_cpus": max(1, job.slot.threads)}
        generator = _task(ray, **resources).remote(
            archive, job.command, job.env, job.timeout_s, job.readonly, job.isolation
        )
        with CappedLog(job.log_path, job.max_log_mb) as log:
            stream = _Stream(job, log)
            try:
                await stream.consume(generator)
            except TimeoutError:
                ray.cancel(generator)
                log.write(b"\n[autoresearch-tui] the Ray task did not end: cancelled\n")
            except BaseException:
                ray.cancel(generator)  # the task's cleanup kills the command's group
                raise
            finally:
                job.parser.close(time.monotonic() - stream.start)
            if stream.end is None:
                raise RuntimeError(
                    f"the Ray task had not ended {LOST_AFTER_S:g}s after the timeout: cancelled"
                )
            returncode, timed_out, elapsed, files = stream.end
            for rel, data in files.items():  # only a change: the local copy's facts count
                if (worktree / rel).read_bytes() != data:
                    (worktree / rel).write_bytes(data)
            if timed_out:
                log.write(
                    f"\n[autoresearch-tui] killed after the {job.timeout_s:g}s timeout\n".encode()
                )
        return RunResult(returncode, timed_out, elapsed)


class _Stream:
    """What the Ray task sends back, as it comes: its start, its output, its end."""

    def __init__(self, job: Job, log: CappedLog) -> None:
        self.job, self.log = job, log
        self.start = time.monotonic()
        self.end: tuple[int, bool, float, dict[str, bytes]] | None = None

    async def consume(self, generator: Any) -> None:
        deadline = None  # from the start on: time in Ray's queue is not run time
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                ref = await asyncio.wait_for(generator.__anext__(), left)
            except StopAsyncIteration:
                return
            kind, value = await ref
            if kind == "start":
                self.start = time.monotonic()
                deadline = self.start + self.job.timeout_s + LOST_AFTER_S
                pid, host = value
                self.log.write(f"[autoresearch-tui] running on {host} (pid {pid})\n".encode())
                self.log.flush()
                self.job.on_start(pid)
            elif kind == "out":
                self.log.write(value)
                self.log.flush()
                elapsed = time.monotonic() - self.start
                lines = self.job.parser.feed(value.decode(errors="replace"), elapsed)
                self.job.on_output(lines, elapsed)
            else:
                self.end = value
