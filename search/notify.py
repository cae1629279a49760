"""Notifications for the person away from the screen.

`[notify] command` is a shell command run with a one-line message on stdin (also in
`AR_MESSAGE`, the kind in `AR_EVENT`) when something worth waking up for happens:

* `best`: the confirmed best improved (noise-controlled: an unconfirmed gain is not news);
* `stopped`: the search ended (budget spent, stopped, or stopped by an error);
* `error`: the search cannot go on as it was (a broken base, a full disk, every persona
  failing).

For example `command = "curl -s -d @- ntfy.sh/my-run"` or
`command = "notify-send autoresearch \"$AR_MESSAGE\""`. A command that fails or hangs
(killed at `timeout_s`) is reported once as a warning; it never stops the search.
`News` decides when the scheduler has news and words it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from autoresearch_tui.agents.format import fmt_delta, fmt_metric
from autoresearch_tui.search.model import ROOT_ID, Node, better

if TYPE_CHECKING:  # search/config.py imports this module: keep it light
    from autoresearch_tui.search.tree import Tree

EVENTS = ("best", "stopped", "error")


@dataclass(frozen=True)
class NotifyConfig:
    command: str = ""  # "": no notifications
    events: tuple[str, ...] = EVENTS
    timeout_s: float = 30.0


class Notifier:
    """Runs the command per message, in the background; `drain` waits for the last ones."""

    def __init__(self, config: NotifyConfig, warn: Callable[[str], None]) -> None:
        self.config = config
        self.warn = warn
        self._pending: set[asyncio.Task[None]] = set()
        self._warned = False

    def send(self, event: str, message: str) -> None:
        if not self.config.command or event not in self.config.events:
            return
        task = asyncio.get_running_loop().create_task(self._run(event, message))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _run(self, event: str, message: str) -> None:
        env = {**os.environ, "AR_EVENT": event, "AR_MESSAGE": message}
        proc = await asyncio.create_subprocess_shell(
            self.config.command, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        try:
            _, err = await asyncio.wait_for(
                proc.communicate(message.encode() + b"\n"), self.config.timeout_s
            )
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            self._fail(f"took longer than {self.config.timeout_s:g}s")
            return
        if proc.returncode:
            last = err.decode(errors="replace").strip().splitlines()[-1:] or [""]
            self._fail(f"exit code {proc.returncode}: {last[0]}".rstrip(": "))

    def _fail(self, what: str) -> None:
        if not self._warned:  # once: a broken webhook must not flood the screen
            self._warned = True
            self.warn(f"[notify] command failed ({what}) — fix it in autoresearch.toml")

    async def drain(self) -> None:
        """Let the messages already sent finish (the last `stopped` included)."""
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)


def _best_text(tree: Tree, metric: str, best: Node, mean: float) -> str:
    """ "best n0042 val_bpb 0.9932 (-0.0047 vs base)" for the notifications."""
    delta = tree.delta_base(best) if best.id != ROOT_ID else None
    vs_base = f" ({fmt_delta(delta)} vs base)" if delta is not None else ""
    return f"best {best.id} {metric} {fmt_metric(mean)}{vs_base}"


def best_message(
    tree: Tree, last: Node | None, workspace: str, metric: str
) -> tuple[Node, str] | None:
    """(the confirmed best, its message) when it beats `last`, the one last told of; a
    best that lost its confirmation and fell back is not news."""
    best = tree.best(confirmed=True)
    if best is None or best.id == ROOT_ID or (last is not None and best.id == last.id):
        return None
    mean = tree.metric_mean(best.id)
    last_mean = tree.metric_mean(last.id) if last is not None else None
    if mean is None or (last_mean is not None and not better(mean, last_mean, tree.goal)):
        return None
    text = _best_text(tree, metric, best, mean)
    return best, f"{workspace}: new confirmed {text} — {best.description} ({best.persona})"


def stopped_message(tree: Tree, workspace: str, metric: str, error: str = "") -> str:
    """The search ended: how many experiments ran, the best, and the error if one stopped it."""
    best = tree.best()
    from autoresearch_tui.search.counts import Counts  # heavy for config.py's import

    text = f"{workspace}: search stopped after {Counts.of(tree).text()}"
    mean = tree.metric_mean(best.id) if best is not None else None
    if best is not None and mean is not None:
        text += f"; {_best_text(tree, metric, best, mean)}"
    if error:
        text += f" — {error}"
    return text


class News:
    """What the scheduler tells [notify]: a new confirmed best, the stop, an error."""

    def __init__(self, notifier: Notifier, workspace: str, metric: str) -> None:
        self.notifier = notifier
        self.workspace = workspace  # the workspace folder's name, first in every message
        self.metric = metric
        self.last_best: Node | None = None  # the confirmed best last told of

    def since(self, tree: Tree) -> None:
        """A resumed run tells only what is new: the best so far is not news."""
        self.last_best = tree.best(confirmed=True)

    def best(self, tree: Tree) -> None:
        """Tell when the confirmed best beats the one last told of."""
        news = best_message(tree, self.last_best, self.workspace, self.metric)
        if news is not None:
            self.last_best, text = news
            self.notifier.send("best", text)

    def stopped(self, tree: Tree, error: str = "") -> None:
        self.notifier.send("stopped", stopped_message(tree, self.workspace, self.metric, error))

    def error(self, text: str) -> None:
        self.notifier.send("error", f"{self.workspace}: {text}")
