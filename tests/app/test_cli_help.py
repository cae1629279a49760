"""Flags and names: every flag of every subcommand is described in `--help`; a persona
with no brief, or without `@backend`, is a one-line error that shows what to type;
`metric` may be left out when `metric_regex` names the result."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from synthetic import TOML, git

from autoresearch_tui.app.cli import SUBCOMMANDS, main
from autoresearch_tui.search.config import ConfigError, load_config, metric_name

CLI = [sys.executable, "-m", "autoresearch_tui.app.cli"]
ENTRY = re.compile(r"^  (\S.*?)(?:\s{2,}(\S.*))?$")  # "  --flag ARG   its help" (or help below)


def help_entries(text: str) -> dict[str, str]:
    """Each argument of a --help text (its first column) and its description."""
    entries: dict[str, str] = {}
    last = ""
    for line in text.splitlines():
        if (match := ENTRY.match(line)) is not None:
            last = match.group(1)
            entries[last] = match.group(2) or ""
        elif last and line.startswith(" " * 4) and line.strip():
            entries[last] += " " + line.strip()  # the description on the next lines
        else:
            last = ""
    return entries


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_flag_of_every_subcommand_has_a_description(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    entries = help_entries(capsys.readouterr().out)
    flags = {name: text for name, text in entries.items() if name.startswith("-")}
    assert "-h, --help" in flags and len(flags) >= 1
    assert [name for name, text in flags.items() if not text.strip()] == []
    positionals = {n: t for n, t in entries.items() if not n.startswith(("-", "{"))}
    assert [name for name, text in positionals.items() if not text.strip()] == []


def test_help_entries_sees_an_option_without_a_description() -> None:
    text = "options:\n  -h, --help  show this\n  --seed SEED\n  --slots SLOTS  how many\n"
    assert help_entries(text) == {"-h, --help": "show this", "--seed SEED": "",
                                  "--slots SLOTS": "how many"}  # fmt: skip


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60)


def test_an_unknown_persona_is_an_error_listing_the_known_ones(workspace: Path) -> None:
    out = cli("run", str(workspace), "--headless", "--agents", "explorr@mutator")
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "unknown persona 'explorr'" in out.stderr
    assert "architect, debugger, explorer, optimizer, simplifier" in out.stderr
    assert not (workspace / ".autoresearch" / "state.db").exists()  # nothing started
    (workspace / "autoresearch.toml").write_text(TOML.replace('"explorer"', '"explorr"'))
    git(workspace, "commit", "-qam", "a typo in [[agents]]")
    out = cli("run", str(workspace), "--headless")
    assert out.returncode == 2 and "unknown persona 'explorr'" in out.stderr, out.stderr

    (workspace / "briefs").mkdir()
    (workspace / "briefs" / "tuner.md").write_text("Tune the schedule.\n")
    toml = TOML.replace('persona = "explorer"', 'persona = "tuner"')
    (workspace / "autoresearch.toml").write_text(toml)
    git(workspace, "add", "-A")
    git(workspace, "commit", "-qm", "a persona of the workspace")
    out = cli("run", str(workspace), "--headless", "--agents", "tunr@mutator")
    assert out.returncode == 2 and "tuner" in out.stderr  # the workspace's own is known
    ok = cli("run", str(workspace), "--headless", "--max-experiments", "1")
    assert ok.returncode == 0, ok.stderr


def test_a_persona_without_a_backend_shows_the_full_form(workspace: Path) -> None:
    out = cli("run", str(workspace), "--headless", "--agents", "architect")
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "'architect' has no backend" in out.stderr
    assert "architect@mutator" in out.stderr and "architect@anthropic:claude-" in out.stderr


@pytest.mark.parametrize(
    ("regex", "name"),
    [
        ("val loss ([0-9.]+)", "val_loss"),
        (r"step \d+: train loss [0-9.]+, val loss ([0-9.]+)", "val_loss"),
        (r"val_bpb:\s*([0-9.]+)", "val_bpb"),
        (r"^Test Acc(?:uracy)?\s*=\s*([0-9.]+)", "test_acc"),
        (r"([0-9.]+)", "metric"),
    ],
)
def test_a_metric_name_comes_from_the_regex(regex: str, name: str) -> None:
    assert metric_name(regex) == name


def test_metric_is_optional_with_a_regex_only(workspace: Path) -> None:
    toml = TOML.replace('metric    = "val_bpb"', "metric_regex = 'val_bpb: +([0-9.]+)'")
    (workspace / "autoresearch.toml").write_text(toml)
    git(workspace, "commit", "-qam", "regex only")
    assert load_config(workspace).target.metric == "val_bpb"
    (workspace / "autoresearch.toml").write_text(toml.replace("metric_regex", "# metric_regex"))
    git(workspace, "commit", "-qam", "neither")
    with pytest.raises(ConfigError, match=r"\[target\] metric is missing — add metric = "):
        load_config(workspace)
