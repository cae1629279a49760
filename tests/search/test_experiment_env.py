"""A run's environment is the user's: `python` in a run command is the interpreter first on
the PATH of the shell that started autoresearch-tui, not the tool's own venv; the same in
a Ray task. A fake `python` first on PATH prints a marker and the metric."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from synthetic import TOML, make_workspace

from autoresearch_tui.search.ray_executor import pack, remote_run

FAKE_PYTHON = textwrap.dedent(
    """\
    #!/bin/sh
    echo "the user's python ran $*"
    echo "val_bpb: 0.5"
    """
)


@pytest.fixture
def user_bin(tmp_path: Path) -> Path:
    """A folder holding a `python` that is not the tool's interpreter."""
    folder = tmp_path / "user-bin"
    folder.mkdir()
    (folder / "python").write_text(FAKE_PYTHON)
    (folder / "python").chmod(0o755)
    return folder


def test_a_run_uses_the_python_first_on_the_callers_path(tmp_path: Path, user_bin: Path) -> None:
    toml = TOML.replace("slots  = 2", "slots  = 1\nbase_runs = 1")
    ws = make_workspace(tmp_path / "ws", toml=toml)
    env = {**os.environ, "PATH": f"{user_bin}{os.pathsep}{os.environ['PATH']}"}
    out = subprocess.run(
        [sys.executable, "-m", "autoresearch_tui.app.cli", "run", str(ws), "--headless",
         "--agents", "explorer@mutator", "--max-experiments", "1"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    log = (ws / ".autoresearch" / "logs" / "n0000.log").read_text()
    assert "the user's python ran train.py" in log, (log, out.stderr)
    assert "0.5" in out.stdout


def test_a_ray_task_uses_the_python_first_on_the_workers_path(
    tmp_path: Path, user_bin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Ray task's body (`remote_run`), run here as a worker would: its PATH decides;
    a `[target] link` symlink travels in the archive and still reads the checkout's data."""
    monkeypatch.setenv("PATH", f"{user_bin}{os.pathsep}{os.environ['PATH']}")
    data = tmp_path / "checkout-data"
    data.mkdir()
    (data / "train.bin").write_text("prepared tokens\n")
    worktree = tmp_path / "worktree"
    worktree.mkdir()
    (worktree / "train.py").write_text("print('the tool would run this')\n")
    (worktree / "data").symlink_to(data, target_is_directory=True)
    events = list(remote_run(pack(worktree), "python train.py && cat data/train.bin", {}, 30.0, []))
    output = b"".join(value for kind, value in events if kind == "out").decode()
    assert "the user's python ran train.py" in output and "prepared tokens" in output
    assert events[-1][0] == "end" and events[-1][1][0] == 0
