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
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass

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
