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


def test_the_demo_trains_half_the_preset_and_an_older_budget_s_demo_is_made_anew(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's budget (issue 14 item 8: its first child's result within two minutes on
    2 cores) goes to init_workspace; a demo made for another budget is made anew."""
    import re

    from autoresearch_tui.app.demo import demo_tokens

    made: list[dict[str, object]] = []

    def fake_init(path: Path, log: Callable[[str], None] = print, **kw: object) -> Path:
        made.append(kw)
        run = json.dumps(workspace_module.run_command())
        return make_workspace(path, toml=TOML.replace('"python train.py"', run))

    monkeypatch.setattr(workspace_module, "init_workspace", fake_init)
    preset = re.search(
        r"^TOKEN_BUDGET = ([0-9_]+)", workspace_module.template_text("prepare.py"), re.M
    )
    assert preset is not None and 0 < demo_tokens() <= int(preset[1].replace("_", "")) * 0.6
    demo, marker = tmp_path / "cache" / "demo", tmp_path / "cache" / "demo.ready"
    prepare_demo(demo, print)
    assert made == [{"preset": "cpu", "budget_tokens": demo_tokens()}]
    prepare_demo(demo, print)  # kept
    marker.write_text("budget_tokens = 1\n")  # a demo of an older budget
    prepare_demo(demo, print)
    assert len(made) == 2 and marker.read_text() == f"budget_tokens = {demo_tokens()}\n"
    marker.unlink()  # its data preparation stopped half-way
    prepare_demo(demo, print)
    assert len(made) == 3
