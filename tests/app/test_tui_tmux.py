"""End to end: the real `autoresearch-tui DIR` in tmux (120x35). Keys go in with
send-keys, the screen comes back with capture-pane, and a prune made in the TUI must
show in `autoresearch-tui status DIR --json` (read while the TUI runs, and after it quit).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from synthetic import make_workspace
from tui_helpers import events

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(
    TMUX is None, reason="tmux is not installed (apt-get install tmux; the Makefile does)"
)
BIN = Path(sys.executable).parent / "autoresearch-tui"


class Tmux:
    """One tmux server of our own (-L), so a person's tmux is never touched."""

    def __init__(self) -> None:
        self.socket = f"artui-{uuid.uuid4().hex[:8]}"
        self.session = "tui"

    def __call__(self, *args: str) -> str:
        out = subprocess.run(
            [TMUX or "tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30
        )
        return out.stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", self.session)

    def keys(self, *keys: str) -> None:
        for key in keys:
            self("send-keys", "-t", self.session, key)
            time.sleep(0.15)

    def wait(self, predicate: Callable[[str], bool], what: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if predicate(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; the screen:\n{screen}")
            time.sleep(0.2)

    def pane_dead(self) -> bool:
        return self("display-message", "-p", "-t", self.session, "#{pane_dead}").strip() == "1"

    def kill(self) -> None:
        self("kill-server")


def status(ws: Path) -> dict:
    out = subprocess.run(
        [str(BIN), "status", str(ws), "--json"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def line_of(screen: str, node: str) -> str:
    return next((line for line in screen.splitlines() if f" {node} " in line), "")


def test_prune_in_tmux_shows_in_status_json(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    tmux = Tmux()
    env = {**os.environ, "TERM": "xterm-256color", "COLORTERM": "truecolor"}
    command = f"{BIN} {ws}"
    try:
        subprocess.run(
            [TMUX or "tmux", "-L", tmux.socket, "-f", "/dev/null", "new-session", "-d",
             "-s", tmux.session, "-x", "120", "-y", "35", command],
            check=True, env=env, timeout=30,
        )  # fmt: skip
        tmux("set-option", "-t", tmux.session, "remain-on-exit", "on")
        tmux("set-option", "-sg", "escape-time", "10")
        tmux.wait(lambda s: " n0001 " in s and "experiments" in s, "the tree with n0001")
        tmux.keys("j")  # n0000 -> n0001, the first child of the base
        tmux.keys("p")
        screen = tmux.wait(lambda s: "✂" in line_of(s, "n0001"), "n0001 marked pruned")
        assert "n0001" in screen
        nodes = {n["id"]: n for n in status(ws)["nodes"]}
        assert nodes["n0001"]["pruned"] is True
        tmux.keys("q")
        tmux.wait(lambda s: "Quit (y)" in s or tmux.pane_dead(), "the quit question or the exit")
        if not tmux.pane_dead():
            tmux.keys("y")  # experiments were running: confirm
        last_screen = tmux.wait(lambda s: tmux.pane_dead(), "the TUI to exit")
    finally:
        tmux.kill()
    after = status(ws)
    nodes = {n["id"]: n for n in after["nodes"]}
    assert nodes["n0001"]["pruned"] is True
    assert events(ws)[-1]["kind"] == "stop", last_screen  # the scheduler shut down cleanly
