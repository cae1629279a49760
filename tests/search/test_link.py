"""`[target] link`: uncommitted inputs of the checkout (git-ignored prepared data, a helper
script) made visible in every run's worktree, the refusals of paths that cannot be
linked, and the crash reason that names the missing link. A nanoGPT-shaped fixture:
`data/shakespeare_char/train.bin` is prepared in the checkout and git-ignored, each run
writes `out-shakespeare-char/`, the metric is read by regex (`val loss ...`, no `metric`)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from synthetic import git

from autoresearch_tui.search.checkout import link_into, missing_input
from autoresearch_tui.search.config import ConfigError, load_config

CLI = [sys.executable, "-m", "autoresearch_tui.app.cli"]

TRAIN = textwrap.dedent(
    """\
    import os

    LEARNING_RATE = 0.001
    N_LAYER = 6
    DROPOUT = 0.2

    data_dir = os.path.join("data", "shakespeare_char")
    with open(os.path.join(data_dir, "train.bin"), "rb") as f:
        tokens = f.read()
    from helpers import penalty

    os.makedirs("out-shakespeare-char", exist_ok=True)
    with open(os.path.join("out-shakespeare-char", "ckpt.txt"), "w") as f:
        f.write("checkpoint")
    loss = 1.5 + abs(LEARNING_RATE - 0.002) * 100 + abs(N_LAYER - 8) * 0.01 + penalty(DROPOUT)
    loss += len(tokens) * 1e-6
    print(f"step 250: train loss {loss + 0.1:.4f}, val loss {loss:.4f}")
    """
)

TOML = textwrap.dedent(
    """\
    [target]
    editable     = ["train.py"]
    run          = "python train.py"
    metric_regex = 'val loss ([0-9.]+)'
    timeout_s    = 30
    {link}
    [search]
    slots     = 1
    base_runs = 1
    confirm_runs = 0
    """
)


def nanogpt(path: Path, link: str = "") -> Path:
    """A nanoGPT-shaped repository: committed train.py and toml; data prepared in the
    checkout and git-ignored; an uncommitted helper module."""
    path.mkdir(parents=True)
    (path / "train.py").write_text(TRAIN)
    (path / "autoresearch.toml").write_text(TOML.format(link=link))
    (path / ".gitignore").write_text("data/**/*.bin\nout-*/\nhelpers.py\n")
    (path / "data" / "shakespeare_char").mkdir(parents=True)
    (path / "data" / "shakespeare_char" / "prepare.py").write_text("# writes train.bin\n")
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "base")
    (path / "data" / "shakespeare_char" / "train.bin").write_bytes(b"\x01" * 1000)
    (path / "helpers.py").write_text("def penalty(p):\n    return abs(p - 0.1)\n")
    return path


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)


def nodes(ws: Path) -> list[dict]:
    out = cli("status", str(ws), "--json")
    assert out.returncode == 0, out.stderr
    return list(json.loads(out.stdout)["nodes"])


def test_without_link_the_reason_names_the_fix(tmp_path: Path) -> None:
    ws = nanogpt(tmp_path / "nanogpt")
    run = cli("run", str(ws), "--headless", "--agents", "explorer@mutator",
              "--max-experiments", "2")  # fmt: skip
    assert run.returncode in (0, 1, 130), run.stderr
    base = next(n for n in nodes(ws) if n["id"] == "n0000")
    assert base["status"] == "crashed"
    assert base["reason"].startswith(
        "data/shakespeare_char/train.bin is in your checkout but not committed: "
        "add data/ to [target] link"
    ), base["reason"]


def test_with_link_a_child_finishes_and_outputs_stay_in_the_worktree(tmp_path: Path) -> None:
    ws = nanogpt(tmp_path / "nanogpt", link='link = ["data/", "helpers.py"]')
    run = cli("run", str(ws), "--headless", "--agents", "explorer@mutator",
              "--max-experiments", "3")  # fmt: skip
    assert run.returncode == 0, run.stderr + run.stdout
    found = nodes(ws)
    base = next(n for n in found if n["id"] == "n0000")
    assert base["status"] == "done" and base["metric"] == pytest.approx(1.721, abs=1e-3)
    assert any(n["parent"] and n["status"] == "done" for n in found), found
    # what the runs wrote stayed in their worktrees (now removed); the linked data is intact
    assert not (ws / "out-shakespeare-char").exists()
    assert (ws / "data" / "shakespeare_char" / "train.bin").read_bytes() == b"\x01" * 1000
    assert (ws / "helpers.py").is_file()
    assert not list((ws / ".autoresearch" / "worktrees").glob("*/*"))
    assert "val_loss" in cli("status", str(ws)).stdout  # the metric's name, from the regex


def test_a_committed_file_wins_inside_a_linked_folder(tmp_path: Path) -> None:
    ws = nanogpt(tmp_path / "nanogpt")
    worktree = tmp_path / "wt"
    git(ws, "worktree", "add", "-q", "--detach", str(worktree), "HEAD")
    (ws / "data" / "shakespeare_char" / "prepare.py").write_text("# edited, not committed\n")
    link_into(ws, worktree, ["data", "helpers.py"])
    linked = worktree / "data" / "shakespeare_char"
    assert not linked.is_symlink()  # the commit has this folder: linked entry by entry
    assert (linked / "prepare.py").read_text() == "# writes train.bin\n"  # the commit's
    assert (linked / "train.bin").is_symlink() and (worktree / "helpers.py").is_symlink()
    lines = ["ModuleNotFoundError: No module named 'extra'"]
    (ws / "extra.py").write_text("X = 1\n")
    assert missing_input(ws, worktree, lines).startswith(
        "extra.py is in your checkout but not committed: add extra.py to [target] link"
    )
    assert missing_input(ws, worktree, ["FileNotFoundError: 'data/nothing.bin'"]) == ""


@pytest.mark.parametrize(
    ("link", "message"),
    [
        ('["/etc"]', "[target] link path '/etc' must be relative to the workspace"),
        ('["../elsewhere"]', "[target] link path '../elsewhere' must be relative"),
        ('["data/missing"]', "[target] link data/missing does not exist in"),
        ('["train.py"]', "[target] link train.py holds train.py, an editable or readonly file"),
        ('["."]', "[target] link '.' is the whole checkout — list the paths the commit lacks"),
        ('[".git"]', "[target] link '.git' is not a path of your checkout's own files"),
    ],
)
def test_a_path_that_cannot_be_linked_is_refused(tmp_path: Path, link: str, message: str) -> None:
    ws = nanogpt(tmp_path / "nanogpt")
    toml = (ws / "autoresearch.toml").read_text().replace("[search]", f"link = {link}\n[search]")
    (ws / "autoresearch.toml").write_text(toml)
    git(ws, "commit", "-qam", "link")
    with pytest.raises(ConfigError) as caught:
        load_config(ws)
    assert message in str(caught.value) and "\n" not in str(caught.value)
