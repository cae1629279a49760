"""The demo workspace names the interpreter of the install that made it; one made by
another install (another interpreter, or a plain `python`) is made anew."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from synthetic import TOML, make_workspace

import autoresearch_tui.trainer.workspace as workspace_module
from autoresearch_tui.app.demo import prepare_demo


def test_a_demo_of_another_interpreter_is_made_anew(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[str] = []

    def fake_init(path: Path, log: Callable[[str], None] = print, **kw: object) -> Path:
        run = json.dumps(workspace_module.run_command())
        made.append(run)
        return make_workspace(path, toml=TOML.replace('"python train.py"', run))

    monkeypatch.setattr(workspace_module, "init_workspace", fake_init)
    demo = tmp_path / "cache" / "demo"
    make_workspace(demo)  # an older demo: `python train.py`, whatever `python` is
    (tmp_path / "cache" / "demo.ready").touch()
    prepare_demo(demo, print)
    assert (
        len(made) == 1
        and workspace_module.run_command() in (demo / "autoresearch.toml").read_text()
    )
    prepare_demo(demo, print)  # this install's demo is kept
    assert len(made) == 1
