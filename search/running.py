"""The life of one run: a ready node on a free slot, to its verdict, note and log.

Set-up: the node's worktree (checked out ahead while the slots train, `prepare`, with
the checkout's `[target] link` paths linked in: search/checkout.py) or, for an executor
that takes no worktree, its editable files. A readonly file that differs
from the base commit makes the run invalid before it starts. Launch: one `Job` to the
executor, whatever it is (search/executor.py); its output streams to the log, the loss
points to the store and the views. Verdict: timeout, invalid (the run changed a
readonly file), crashed (an exit code, no metric, a metric that is not finite), or done
with its metric; a crash whose output names a file the checkout has and the worktree
has not says which link is missing. Teardown: the worktree goes, a git note records the
result, the node is saved. A run stopped before it finished (a prune, a stop) goes back
to ready. See docs/ARCHITECTURE.md §2 and §6.
"""

from __future__ import annotations

import asyncio
import copy
import errno
import hashlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from autoresearch_tui.search.checkout import link_into, missing_input
from autoresearch_tui.search.context import RunContext
from autoresearch_tui.search.events import Progress
from autoresearch_tui.search.executor import Executor, Job, RunResult
from autoresearch_tui.search.model import Node, NodeStatus
from autoresearch_tui.search.output import OutputParser
from autoresearch_tui.search.slots import Slot

PROGRESS_EVERY_S = 0.25  # a running node's progress reaches the views at most this often


def git_blob_id(data: bytes) -> str:
    """The id git gives a blob with this content (to check readonly files on disk)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def verdict(
    result: RunResult, parser: OutputParser, timeout_s: float, readonly_changed: str
) -> tuple[NodeStatus, float | None, str]:
    """(status, metric, reason) of a run that ended."""
    if result.timed_out:
        return "timeout", None, f"killed after the {timeout_s:g}s timeout"
    if readonly_changed:
        return "invalid", None, f"readonly file {readonly_changed} was changed by the run"
    if reason := parser.crash_reason(result.returncode):
        return "crashed", None, reason
    return "done", parser.value, ""


def runner_error(exc: Exception) -> str:
    """The reason of a run the runner itself failed (a full disk, a git failure)."""
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return "disk full (No space left on device) — free space, then re-run it"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"runner error: {type(exc).__name__}: {first}"


class LiveOutput:
    """A running node's pid, log lines and loss points, passed on to the store and the
    views (at most every PROGRESS_EVERY_S)."""

    def __init__(self, ctx: RunContext, node: Node, slot: Slot, parser: OutputParser) -> None:
        self.ctx, self.node, self.slot, self.parser = ctx, node, slot, parser
        self.last_emit = 0.0
        self.pending: list[str] = []

    def started(self, pid: int) -> None:
        self.node.pid = pid  # so a later start can kill this group if we die
        self.node.started_at = time.time()  # run time = the command's own, without set-up
        self.ctx.threads.db_soon(self.ctx.store.save_node, copy.copy(self.node))

    def output(self, lines: list[str], elapsed: float) -> None:
        self.pending.extend(lines)
        if time.monotonic() - self.last_emit >= PROGRESS_EVERY_S:
            self.last_emit = time.monotonic()
            self.flush(elapsed)

    def flush(self, elapsed: float) -> None:
        parser = self.parser
        points = parser.take_points()
        if points:
            rows = [(step, loss, t, parser.progress) for step, loss, t in points]
            self.ctx.threads.db_soon(self.ctx.store.add_points, self.node.id, rows)
        self.ctx.emit(
            Progress(
                self.node.id, self.slot.name, elapsed, parser.progress, points, self.pending[:]
            )
        )
        self.pending.clear()


class RunLife:
    """Runs nodes through the executor; `released` and `finished` tell the scheduler that
    a run's slot is free (teardown still to come) and that the run is fully recorded."""

    def __init__(
        self,
        ctx: RunContext,
        executor: Executor,
        slots: int,
        released: Callable[[Node, bool], None],
        finished: Callable[[Node, bool], Awaitable[None]],
    ) -> None:
        self.ctx = ctx
        self.executor = executor
        self.slots = slots  # at most this many worktrees are prepared ahead
        self.released = released  # (node, requeued)
        self.finished = finished  # (node, requeued)
        self.durations: list[float] = []  # run times, for the pipeline depth
        self.prepared: dict[str, asyncio.Future[Path]] = {}  # ready node -> its worktree
        self.finishing: set[asyncio.Future[None]] = set()  # teardowns under way

    def prepare(self, node: Node) -> None:
        """Check out a ready node's worktree while the slots train, so that starting it
        is only a process launch (at most one prepared worktree per slot)."""
        if self.executor.checkout and len(self.prepared) < self.slots:
            self.prepared[node.id] = asyncio.ensure_future(
                self.ctx.threads.git(self._add_worktree, node.id, node.commit)
            )

    async def run(self, node: Node, slot: Slot) -> None:
        """Run `node` on `slot` to its verdict; cancelled, it goes back to ready."""
        ctx, target = self.ctx, self.ctx.config.target
        parser = OutputParser(target.metric, target.metric_regex)
        live = LiveOutput(ctx, node, slot, parser)
        worktree: Path | None = None
        requeue = False
        try:
            # Inside the try: a stop that lands while "running" is saved re-queues the node.
            node.status, node.slot = "running", slot.name
            node.started_at, node.finished_at = time.time(), None
            node.metric, node.reason = None, ""
            await ctx.save(node)
            await ctx.threads.db(ctx.store.clear_points, node.id)
            job = self._job(node, slot, parser, live)
            if self.executor.checkout:
                worktree = job.worktree = await self._checkout(node)
                if changed := self.readonly_changed(worktree):
                    node.status = "invalid"
                    node.reason = f"readonly file {changed} differs from the base"
                    return
            else:
                editable = list(target.editable)
                job.files = await ctx.threads.git(ctx.git.read_files, node.commit, editable)
            result = await self.executor.run(job)
            node.finished_at = time.time()
            live.flush(result.elapsed)
            if self.executor.timed:
                self.durations.append(result.elapsed)
            changed = self.readonly_changed(worktree) if worktree is not None else ""
            node.status, node.metric, node.reason = verdict(
                result, parser, target.timeout_s, changed
            )
            if node.status == "crashed" and worktree is not None:
                node.reason = self._missing_input(worktree, parser) + node.reason
        except asyncio.CancelledError:
            requeue = True  # stopped by a prune or by shutdown: it may run again later
            node.status, node.reason = "ready", "stopped before it finished"
            raise
        except Exception as exc:  # a full disk, a git failure: record it, go on
            node.status, node.reason = "crashed", runner_error(exc)
        finally:
            node.finished_at = None if requeue else (node.finished_at or time.time())
            node.slot, node.pid = "", 0
            if requeue:
                node.started_at = None
            finish = asyncio.ensure_future(self._finish(node, worktree, requeue))
            self.finishing.add(finish)  # outlives this task if it is cancelled again:
            finish.add_done_callback(self.finishing.discard)  # `close` waits for it
            await asyncio.shield(finish)

    def _job(self, node: Node, slot: Slot, parser: OutputParser, live: LiveOutput) -> Job:
        config, run = self.ctx.config, self.ctx.run
        env = {
            **slot.env(),
            "AR_SEED": str(node.seed),
            "AR_NODE": node.id,
            "AR_RUN": run.run_name,
            "AR_STATE_DIR": run.state_dir_id,  # a later start finds strays by it
        }
        return Job(
            node_id=node.id,
            commit=node.commit,
            seed=node.seed,
            command=config.target.run,
            env=env,
            slot=slot,
            log_path=config.log_path(node.id),
            parser=parser,
            timeout_s=config.target.timeout_s,
            readonly=list(config.target.readonly),
            on_start=live.started,
            on_output=live.output,
        )

    def _missing_input(self, worktree: Path, parser: OutputParser) -> str:
        """A crash's hint, "... add data/ to [target] link — ", or "" (search/checkout.py)."""
        hint = missing_input(self.ctx.config.root, worktree, parser.tail)
        return f"{hint} — " if hint else ""

    async def _checkout(self, node: Node) -> Path:
        prepared = self.prepared.pop(node.id, None)
        if prepared is not None:
            try:
                return await prepared
            except Exception:
                pass
        return await self.ctx.threads.git(self._add_worktree, node.id, node.commit)

    def _add_worktree(self, name: str, commit: str) -> Path:
        """A worktree of `commit` with the `[target] link` paths of the checkout in it."""
        worktree = self.ctx.git.add_worktree(name, commit)
        config = self.ctx.config
        link_into(config.root, worktree, config.target.link)
        return worktree

    def readonly_changed(self, worktree: Path) -> str:
        """The first readonly file whose content differs from the base commit, or ""."""
        for path, blob in self.ctx.run.readonly_ids.items():
            try:
                data = (worktree / path).read_bytes()
            except OSError:
                return path
            if git_blob_id(data) != blob:
                return path
        return ""

    async def _finish(self, node: Node, worktree: Path | None, requeue: bool) -> None:
        ctx = self.ctx
        ctx.tree.touch()  # the result counts for the next decision, before any await
        self.released(node, requeue)
        if worktree is not None:
            # On the set-up thread: removing the last worktree deletes .git/worktrees/,
            # which a concurrent `worktree add` would then fail to write into.
            await ctx.threads.git(ctx.git.remove_worktree, worktree)
        if requeue:
            await ctx.threads.db(ctx.store.clear_points, node.id)
        else:
            note = (
                f"{ctx.config.target.metric}: {node.metric}"
                if node.has_metric
                else f"{node.status}: {node.reason}"
            )
            await ctx.threads.teardown(ctx.git.add_note, node.commit, note)
        await ctx.save(node)
        kind = "stopped" if requeue else "finished"
        await ctx.event(kind, node.id, status=node.status, metric=node.metric)
        await self.finished(node, requeue)

    async def close(self) -> None:
        """After the runs were cancelled: wait for their teardowns, drop prepared worktrees."""
        if self.finishing:
            await asyncio.gather(*self.finishing, return_exceptions=True)
        for prepared in self.prepared.values():
            try:
                await self.ctx.threads.git(self.ctx.git.remove_worktree, await prepared)
            except Exception:
                pass
        self.prepared.clear()
