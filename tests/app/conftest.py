"""Fixtures for the TUI tests (helpers live in tui_helpers.py, importable from here)."""

from __future__ import annotations

from pathlib import Path

import pytest
from synthetic import TRAIN_PY, make_workspace
from tui_helpers import populate


@pytest.fixture
def slow_workspace(tmp_path: Path) -> Path:
    """A synthetic workspace whose runs take 3 s (so a test can catch them running)."""
    return make_workspace(tmp_path / "slow", train=TRAIN_PY.replace("hang_s=0.0", "hang_s=3.0"))


@pytest.fixture
def populated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A workspace with a finished, deterministic run (see tui_helpers.populate)."""
    for var in ("GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE"):
        monkeypatch.setenv(var, "2026-01-01T00:00:00+0000")
    return populate(tmp_path / "ws")
