"""`uv run train.py` in every worktree uses the checkout's environment (search/uv_env.py):
the variables for a checkout, then a real uv project (no dependencies, synced offline)
searched by the real engine with `uv run train.py` as its run command."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from synthetic import git

from autoresearch_tui.agents.mutator import Mutator
from autoresearch_tui.agents.proposer import AgentSpec
from autoresearch_tui.search.config import load_config
from autoresearch_tui.search.scheduler import Scheduler
from autoresearch_tui.search.slots import Slot
from autoresearch_tui.search.uv_env import uv_env

UV = shutil.which("uv") or str(Path(sys.executable).parent / "uv")

PYPROJECT = """\
[project]
name = "tiny"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = []
"""

TRAIN_PY = textwrap.dedent(
    """\
    import os
    import sys

    LR = 0.04
    print("prefix:", sys.prefix)
    print("venv_in_worktree:", int(os.path.exists(".venv")))
    print("val_bpb:", 1.0 + (LR - 0.08) ** 2)
    """
)

TOML = """\
[target]
editable = ["train.py"]
run = "uv run train.py"
metric = "val_bpb"
timeout_s = 60

[search]
base_runs = 1
confirm_runs = 0
"""


def test_no_project_files_no_variables(tmp_path: Path) -> None:
    assert uv_env(tmp_path, {}) == {}


def test_a_synced_checkout_is_used_as_it_is(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    (tmp_path / "uv.lock").write_text("")
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    env = uv_env(tmp_path, {})
    assert env == {
        "UV_PROJECT_ENVIRONMENT": str(tmp_path / ".venv"),
        "UV_NO_SYNC": "1",
        "UV_NO_CACHE": "1",
    }


def test_before_the_first_sync_the_lock_is_frozen(tmp_path: Path) -> None:
    (tmp_path / "uv.lock").write_text("")
    assert uv_env(tmp_path, {}) == {
        "UV_PROJECT_ENVIRONMENT": str(tmp_path / ".venv"),
        "UV_FROZEN": "1",
    }
    (tmp_path / "uv.lock").unlink()
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)  # no lock: nothing to freeze
    assert uv_env(tmp_path, {}) == {"UV_PROJECT_ENVIRONMENT": str(tmp_path / ".venv")}


def test_the_users_settings_are_kept_and_made_absolute(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    env = uv_env(tmp_path, {"UV_PROJECT_ENVIRONMENT": "envs/py", "UV_FROZEN": "0"})
    assert env == {"UV_PROJECT_ENVIRONMENT": str(tmp_path / "envs" / "py")}
    env = uv_env(tmp_path, {"UV_PROJECT_ENVIRONMENT": "/opt/venv"})
    assert env["UV_PROJECT_ENVIRONMENT"] == "/opt/venv"


def uv(cwd: Path, *args: str) -> None:
    out = subprocess.run([UV, *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


@pytest.mark.skipif(not Path(UV).exists(), reason="uv is not installed (pip install -e '.[test]')")
def test_uv_run_in_every_worktree_uses_the_checkouts_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", f"{Path(UV).parent}:{os.environ['PATH']}")  # `uv` as typed
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "pyproject.toml").write_text(PYPROJECT)
    (ws / "train.py").write_text(TRAIN_PY)
    (ws / "autoresearch.toml").write_text(TOML)
    (ws / ".gitignore").write_text(".venv\n")
    uv(ws, "lock", "--offline")
    uv(ws, "sync", "--offline", "--python", sys.executable)
    git(ws, "init", "-q", "-b", "main")
    git(ws, "add", "-A")
    git(ws, "commit", "-q", "-m", "base")

    slots = [Slot("cpu0", threads=1)]
    config = load_config(ws)
    s = Scheduler(config, [Mutator(AgentSpec("explorer"))], slots=slots, max_experiments=1)
    asyncio.run(s.run())

    ran = [n for n in s.tree if n.finished_at]
    assert any(n.kind != "root" for n in ran)
    assert all(n.status == "done" for n in ran), [(n.id, n.reason) for n in ran]
    for node in ran:
        log = config.log_path(node.id).read_text()
        prefix = log.split("prefix: ", 1)[1].splitlines()[0]
        assert Path(prefix).resolve() == (ws / ".venv").resolve()
        assert "venv_in_worktree: 0" in log
        assert "Creating virtual environment" not in log
    assert not list((ws / ".autoresearch").rglob("pyvenv.cfg"))  # no env under the worktrees
