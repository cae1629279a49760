"""The life of one run: a ready node on a free slot, to its verdict, note and log.

Set-up: the node's worktree (checked out ahead while the slots train, `prepare`, with
the checkout's `[target] link` paths linked in: search/checkout.py) or, for an executor
that takes no worktree, its editable files. A readonly file that differs
from the base commit makes the run invalid before it starts. Launch: one `Job` to the
executor, whatever it is (search/executor.py); its output streams to the log, the loss
points to the store and the views. Verdict: timeout, invalid (the run changed a
readonly file), crashed (an exit code, no metric, a metric that is not finite), stopped
(early stopping killed it, losing to its parent: search/early_stopping.py), or done
with its metric; a crash whose output names a file the checkout has and the worktree
has not says which link is missing. Teardown: the worktree goes, the node is saved, a git
note records the result (one git refuses is written later: search/recovery.py). A run
the runner itself fails is crashed, or, when the workspace cannot be written, re-queued
while the search stops with one line. A run stopped before it finished (a prune, a
stop) goes back to ready. See docs/ARCHITECTURE.md §2 and §6.
"""

from __future__ import annotations

import asyncio
import copy
import errno
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from autoresearch_tui.search import early_stopping
from autoresearch_tui.search.checkout import link_into, missing_input
from autoresearch_tui.search.contain import Isolation
from autoresearch_tui.search.context import RunContext
from autoresearch_tui.search.events import Progress
from autoresearch_tui.search.executor import Executor, Job, RunResult
from autoresearch_tui.search.model import Node, NodeStatus
from autoresearch_tui.search.output import OutputParser
from autoresearch_tui.search.processes import undumpable
from autoresearch_tui.search.recovery import PendingNotes, note_text, stop_if_unwritable
from autoresearch_tui.search.sandbox import decide, read_only_write
from autoresearch_tui.search.slots import Slot
from autoresearch_tui.search.tamper import GitGuard, RunChecks
from autoresearch_tui.search.uv_env import uv_env

PROGRESS_EVERY_S = 0.25  # a running node's progress reaches the views at most this often


def verdict(
    result: RunResult, parser: OutputParser, timeout_s: float, invalid: str
) -> tuple[NodeStatus, float | None, str]:
    """(status, metric, reason) of a run that ended; `invalid`: why it does not count."""
    if result.timed_out:
        return "timeout", None, f"killed after the {timeout_s:g}s timeout"
    if invalid:
        return "invalid", None, invalid
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

    def __init__(
        self, ctx: RunContext, node: Node, slot: Slot, parser: OutputParser, every_s: float
    ) -> None:
        self.ctx, self.node, self.slot, self.parser = ctx, node, slot, parser
        self.every_s = every_s  # 0 on a simulated clock: each output is judged as it comes
        self.last_emit = 0.0
        self.pending: list[str] = []
        self.watch: early_stopping.Watch | None = None  # the early-stop judge, if judged

    def started(self, pid: int) -> None:
        self.node.pid = pid  # so a later start can kill this group if we die
        self.node.started_at = time.time()  # run time = the command's own, without set-up
        self.ctx.threads.db_soon(self.ctx.store.save_node, copy.copy(self.node))

    def output(self, lines: list[str], elapsed: float) -> None:
        self.pending.extend(lines)
        if time.monotonic() - self.last_emit >= self.every_s:
            self.last_emit = time.monotonic()
            self.flush(elapsed)

    def flush(self, elapsed: float) -> None:
        parser = self.parser
        rows = parser.take_rows()  # each point with its own "(p%)": early stopping's match
        points = [(step, loss, t) for step, loss, t, _ in rows]
        if points:
            self.ctx.threads.db_soon(self.ctx.store.add_points, self.node.id, rows)
            if self.watch is not None:
                self.watch.add(rows)
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
        undumpable()  # the runner's environment holds the agents' keys
        setting = ctx.config.contain.sandbox
        # A Ray worker decides for itself; an in-process executor runs no command.
        self.sandbox, self.containment = decide(setting) if executor.name == "local" else (
            setting if executor.checkout else "none", ""
        )  # fmt: skip
        self.git_guard = GitGuard(Path(ctx.git.repo.common_dir))
        self.notes = PendingNotes(ctx.git, ctx.config.root)  # notes not written yet
        if self.containment:  # in `status` (meta) and the TUI's title; a fallback said once
            if self.sandbox != "bwrap":
                ctx.notice(self.containment, "warning")
            ctx.threads.db_soon(ctx.store.set_meta, "sandbox", self.containment)

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
        live = LiveOutput(ctx, node, slot, parser, PROGRESS_EVERY_S if self.executor.timed else 0)
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
            checks = None
            if self.executor.checkout:
                worktree = job.worktree = await self._checkout(node)
                checks = RunChecks(worktree, ctx.run.readonly_ids, self.git_guard)
                if invalid := checks.before():
                    node.status, node.reason = "invalid", invalid
                    return
            else:
                editable = list(target.editable)
                job.files = await ctx.threads.git(ctx.git.read_files, node.commit, editable)
            live.watch = await early_stopping.watch(ctx, node)  # None: never stopped early
            run = early_stopping.watched(live.watch, self.executor.run(job), job.log_path)
            result = await (checks.during(run) if checks is not None else run)
            node.finished_at = time.time()
            live.flush(result.elapsed)
            if self.executor.timed:
                self.durations.append(result.elapsed)
            invalid = checks.after() if checks is not None else ""
            node.status, node.metric, node.reason = verdict(
                result, parser, target.timeout_s, invalid
            )
            if node.status == "crashed" and worktree is not None:
                node.status, node.reason = self._crash(node.reason, worktree, parser)
            if why := early_stopping.stop_reason(live.watch, node.status):
                node.status, node.metric, node.reason = "stopped", None, why
        except asyncio.CancelledError:
            requeue = True  # stopped by a prune or by shutdown: it may run again later
            node.status, node.reason = "ready", "stopped before it finished"
            raise
        except Exception as exc:  # a git failure: recorded; an unwritable workspace: stop
            requeue = self._runner_failed(node, exc)
        finally:
            node.finished_at = None if requeue else (node.finished_at or time.time())
            node.slot, node.pid = "", 0
            if requeue:
                node.started_at = None
            finish = asyncio.ensure_future(self._finish(node, worktree, requeue))
            self.finishing.add(finish)  # outlives this task if it is cancelled again:
            finish.add_done_callback(self.finishing.discard)  # `close` waits for it
            await asyncio.shield(finish)

    def _runner_failed(self, node: Node, exc: Exception) -> bool:
        """A run the runner itself failed: crashed with the reason, or, when the workspace
        cannot be written, back to ready while the search stops with one line naming the
        path (search/recovery.py). True: re-queued."""
        if stop_if_unwritable(self.ctx, exc):
            node.status, node.reason = "ready", "the workspace could not be written"
            return True
        node.status, node.reason = "crashed", runner_error(exc)
        return False

    def _job(self, node: Node, slot: Slot, parser: OutputParser, live: LiveOutput) -> Job:
        config, run = self.ctx.config, self.ctx.run
        env = {
            **slot.env(),
            **uv_env(config.root),  # `uv run` uses the checkout's environment
            "AR_SEED": str(node.seed),
            "AR_NODE": node.id,
            "AR_RUN": run.run_name,
            "AR_STATE_DIR": run.state_dir_id,  # a later start finds strays by it
        }
        marker = ("AR_STATE_DIR", "AR_NODE") if self.sandbox == "none" else ()
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
            max_log_mb=config.search.max_log_mb,
            readonly=list(config.target.readonly),
            isolation=self._isolation(env, tuple(f"{k}={env[k]}" for k in marker)),
            on_start=live.started,
            on_output=live.output,
        )

    def _isolation(self, env: dict[str, str], marker: tuple[str, ...]) -> Isolation:
        """How a run is contained: search/contain.py, docs/ARCHITECTURE.md §6."""
        config, root = self.ctx.config, self.ctx.config.root
        contain = config.contain
        writable = [str(p) for p in contain.writable_paths(root)]
        if env.get("UV_PROJECT_ENVIRONMENT") and not env.get("UV_NO_SYNC"):
            # The first `uv run` syncs the checkout's environment (search/uv_env.py).
            cache = os.environ.get("UV_CACHE_DIR") or os.path.expanduser("~/.cache/uv")
            writable += [env["UV_PROJECT_ENVIRONMENT"], cache]
        path = os.environ.get("PATH", "").split(os.pathsep)
        return Isolation(
            sandbox=self.sandbox,
            writable=tuple(writable),
            hidden=(str(self.git_guard.git_dir), str(config.state_dir)),
            visible=(str(root), *filter(None, path)),
            network=contain.network,
            drop=frozenset(contain.env_drop)
            | {a.api_key_env for a in config.agents if a.api_key_env},
            keep=frozenset(contain.env_keep),
            marker=marker,
        )

    def _crash(self, reason: str, worktree: Path, parser: OutputParser) -> tuple[NodeStatus, str]:
        """A crash's status and reason with its hint: a missing `[target] link`
        (search/checkout.py), a write the sandbox refused (a readonly file: invalid)."""
        if self.sandbox != "none":  # "auto" on Ray: the worker decided
            readonly = list(self.ctx.config.target.readonly)
            file, outside = read_only_write(parser.tail, worktree, readonly)
            if file:
                return "invalid", f"readonly file {file}: the run tried to change it (read-only)"
            if outside:
                hint = f"{outside} is read-only in the sandbox: add it to [search] writable"
                return "crashed", f"{hint} — {reason}"
        hint = missing_input(self.ctx.config.root, worktree, parser.tail)
        return "crashed", f"{hint} — {reason}" if hint else reason

    async def _checkout(self, node: Node) -> Path:
        prepared = self.prepared.pop(node.id, None)
        if prepared is not None:
            try:
                if (path := await prepared).is_dir():
                    return path
                # Removed while it waited: git forgets it, then it is checked out again.
                await self.ctx.threads.git(self.ctx.git.repo.git.worktree, "prune")
            except Exception:
                pass
        return await self.ctx.threads.git(self._add_worktree, node.id, node.commit)

    def _add_worktree(self, name: str, commit: str) -> Path:
        """A worktree of `commit` with the `[target] link` paths of the checkout in it."""
        worktree = self.ctx.git.add_worktree(name, commit)
        config = self.ctx.config
        link_into(config.root, worktree, config.target.link)
        return worktree

    async def _finish(self, node: Node, worktree: Path | None, requeue: bool) -> None:
        ctx = self.ctx
        ctx.tree.touch()  # the result counts for the next decision, before any await
        # On a simulated clock the slot frees once the run is recorded: its teardown and
        # the re-run it may queue would race the proposals of the same instant.
        early = not self.executor.serial_proposals
        if early:
            self.released(node, requeue)
        if worktree is not None:
            # On the set-up thread: removing the last worktree deletes .git/worktrees/,
            # which a concurrent `worktree add` would then fail to write into.
            try:
                await ctx.threads.git(ctx.git.remove_worktree, worktree)
            except Exception:  # the next start removes it; the result comes first
                pass
        if requeue:
            await ctx.threads.db(ctx.store.clear_points, node.id)
        await ctx.save(node)  # before the note: a note that cannot be written loses nothing
        if not requeue:  # a note that fails is written later (search/recovery.py)
            note = note_text(node, ctx.config.target.metric)
            if problem := await ctx.threads.teardown(self.notes.write, node.commit, note):
                ctx.notice(problem, "warning")
        kind = "stopped" if requeue else "finished"
        await ctx.event(kind, node.id, status=node.status, metric=node.metric)
        await self.finished(node, requeue)
        if not early:
            self.released(node, requeue)

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
