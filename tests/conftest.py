"""Shared fixtures: the synthetic workspace and helpers to drive the real engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from synthetic import make_workspace


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A fresh synthetic git workspace (train.py prints a known val_bpb in ~50 ms)."""
    return make_workspace(tmp_path / "ws")
