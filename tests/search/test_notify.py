"""[notify]: a real shell command gets a line per confirmed best, per error and at the
stop; a failing command is one warning and never stops the search."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from synthetic import TOML, git, make_workspace

from autoresearch_tui.agents.mutator import Mutator
from autoresearch_tui.agents.proposer import AgentSpec
from autoresearch_tui.search.config import ConfigError, load_config
from autoresearch_tui.search.counts import Counts
from autoresearch_tui.search.events import Notice
from autoresearch_tui.search.scheduler import Scheduler
from autoresearch_tui.search.slots import Slot

SLOTS = [Slot("cpu0", threads=1), Slot("cpu1", threads=1)]


def notify_workspace(tmp_path: Path, table: str, train: str | None = None) -> Path:
    toml = TOML.replace("[search]\n", "[search]\nconfirm_after = 0\n") + "\n" + table
    ws = make_workspace(tmp_path / "ws", toml=toml)
    if train is not None:
        (ws / "train.py").write_text(train)
        git(ws, "commit", "-qam", "broken")
    return ws


def run(ws: Path, notices: list[Notice] | None = None, max_experiments: int = 12) -> Scheduler:
    seen = notices if notices is not None else []
    s = Scheduler(load_config(ws, check_clean=False), [Mutator(AgentSpec("explorer"))],
                  slots=SLOTS, max_experiments=max_experiments, seed=1,
                  listeners=[lambda e: seen.append(e) if isinstance(e, Notice) else None])  # fmt: skip
    asyncio.run(s.run())
    return s


def test_confirmed_bests_and_the_stop_reach_the_command(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    ws = notify_workspace(tmp_path, f'[notify]\ncommand = "cat >> {out}/messages; '
                                    f'echo $AR_EVENT >> {out}/events"\n')  # fmt: skip
    s = run(ws)
    events = (out / "events").read_text().split()
    messages = (out / "messages").read_text().splitlines()
    assert len(events) == len(messages) and events[-1] == "stopped" and "best" in events
    assert set(events) <= {"best", "stopped"}
    # The counts everywhere else say (search/counts.py): experiments, base runs, failures.
    ran = Counts.of(s.tree)
    assert 0 < ran.experiments <= 12 and not ran.running
    assert messages[-1].startswith(f"ws: search stopped after {ran.text()}; best ")
    bests = [m for e, m in zip(events, messages, strict=True) if e == "best"]
    means = []
    for line in bests:
        node_id = line.split("new confirmed best ")[1].split()[0]
        assert s.tree.gain_state(node_id, s.tree.noise_spread()) == "confirmed"
        means.append(s.tree.metric_mean(node_id))
    assert means == sorted(means, reverse=True) and len(set(means)) == len(means)  # goal: min
    assert bests[-1].startswith(f"ws: new confirmed best {s.tree.best(confirmed=True).id} val_bpb ")


def test_an_error_is_sent_and_a_failing_command_is_one_warning(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    ws = notify_workspace(
        tmp_path,
        f'[notify]\ncommand = "cat >> {out}/messages; echo no webhook >&2; exit 3"\n',
        train="raise SystemExit(3)\n",
    )
    notices: list[Notice] = []
    s = run(ws, notices, max_experiments=4)
    assert s.tree.root.status == "crashed"
    messages = (out / "messages").read_text().splitlines()
    assert messages[0].startswith("ws: the base n0000 crashed: exit code 3")
    no_best = r"ws: search stopped after 0 experiments \+ \d+ base runs?(, \d+ failed proposals?)?"
    assert re.fullmatch(no_best, messages[-1])
    warnings = [n.text for n in notices if n.text.startswith("[notify]")]
    assert warnings == [
        "[notify] command failed (exit code 3: no webhook) — fix it in autoresearch.toml"
    ]


def test_notify_settings_are_checked(tmp_path: Path) -> None:
    ws = notify_workspace(tmp_path, '[notify]\ncommand = "true"\nevents = ["best", "bedtime"]\n')
    with pytest.raises(
        ConfigError, match=r"\[notify\] events must be a list of best, stopped, error"
    ):
        load_config(ws, check_clean=False)
