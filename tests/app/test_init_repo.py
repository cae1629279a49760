"""`autoresearch-tui init DIR` on an existing repository (app/init_repo.py, init_probe.py):
the real CLI in a subprocess on repositories shaped like karpathy/autoresearch and nanoGPT
(tests/app/repo_fixtures.py): init writes a toml that works, the base runs, a child
finishes; then what it finds (imports, ignored data, the metric) and its one-line errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from repo_fixtures import CACHE_VAR, UV, autoresearch_like, nanogpt_like
from synthetic import git

from autoresearch_tui.app.init_probe import find_metric
from autoresearch_tui.app.init_scan import ignored_data, imported_files

CLI = [sys.executable, "-m", "autoresearch_tui.app.cli"]
needs_uv = pytest.mark.skipif(not Path(UV).exists(), reason="uv is not installed (the test extra)")


@pytest.fixture
def cache(tmp_path: Path):
    """autoresearch's data lives in ~/.cache, outside the repository: a folder there (a
    sandboxed run sees the home directory read-only, but not other folders of /tmp)."""
    path = Path.home() / ".cache" / "autoresearch-tui-tests" / tmp_path.name
    path.mkdir(parents=True, exist_ok=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def cli(*args: str, cache: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The real program, with `python` and `uv` on PATH as a user's shell has them."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    if cache is not None:
        env[CACHE_VAR] = str(cache)
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=180, env=env)


def toml(repo: Path) -> dict:
    return tomllib.loads((repo / "autoresearch.toml").read_text())


def children_done(out: str) -> list[str]:
    """The headless lines of finished explorer children."""
    return [line for line in out.splitlines() if " explorer " in line and ", Δ " in line]


@needs_uv
def test_autoresearch_like_from_nothing_to_a_finished_child(tmp_path: Path, cache: Path) -> None:
    repo = autoresearch_like(tmp_path / "autoresearch", cache)
    head = git(repo, "rev-parse", "HEAD")

    init = cli("init", str(repo), cache=cache)
    assert init.returncode == 0, init.stderr
    target = toml(repo)["target"]
    assert target["editable"] == ["train.py"] and target["readonly"] == ["prepare.py"]
    assert target["run"] == "uv run train.py" and target["metric"] == "val_bpb"
    assert target["goal"] == "min" and "link" not in target  # the data is outside the repo
    assert "val_bpb = 1.1" in init.stdout and 'run       = "uv run train.py"' in init.stdout
    assert git(repo, "rev-parse", "HEAD") == head  # nothing committed
    assert not git(repo, "status", "--porcelain", "--untracked-files=no")

    run = cli("run", str(repo), "--headless", "--agents", "explorer@mutator",
              "--max-experiments", "1", cache=cache)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert children_done(run.stdout), run.stdout
    logs = repo / ".autoresearch" / "logs"
    assert all("val_bpb:" in log.read_text() for log in logs.glob("n*.log"))
    assert "Creating virtual environment" not in "".join(p.read_text() for p in logs.iterdir())
    assert not list((repo / ".autoresearch").rglob("pyvenv.cfg"))  # no env per worktree


def test_nanogpt_like_from_nothing_to_a_finished_child(tmp_path: Path) -> None:
    repo = nanogpt_like(tmp_path / "nanoGPT")
    command = "python train.py config/train_shakespeare_char.py"

    init = cli("init", str(repo), "--run", command)
    assert init.returncode == 0, init.stderr
    target = toml(repo)["target"]
    assert target["editable"] == ["config/train_shakespeare_char.py"]
    assert target["readonly"] == ["model.py", "configurator.py"]
    assert target["run"] == command and target["link"] == ["data/"]
    assert target["metric_regex"] == "val loss ([0-9.]+)" and target["goal"] == "min"
    assert "base | step 10: train loss" in init.stderr  # the base run, as it went

    run = cli("run", str(repo), "--headless", "--agents", "explorer@mutator",
              "--max-experiments", "1")  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert children_done(run.stdout), run.stdout
    assert not (repo / "out-shakespeare-char").exists()  # each run wrote its own out-*
    assert not git(repo, "status", "--porcelain", "--untracked-files=no")


def test_the_missing_toml_message_leads_to_init(tmp_path: Path) -> None:
    repo = nanogpt_like(tmp_path / "nanoGPT")
    first = cli("run", str(repo), "--headless")
    assert first.returncode == 2 and f"autoresearch-tui init {repo}" in first.stderr
    init = cli("init", str(repo), "--editable", "config/train_shakespeare_char.py",
               "--metric-regex", "val loss ([0-9.]+)", "--commit")  # fmt: skip
    assert init.returncode == 0, init.stderr
    assert "base |" not in init.stderr  # the metric was given: no base run
    target = toml(repo)["target"]  # the config file not imported: passed as the argument
    assert target["run"] == "python train.py config/train_shakespeare_char.py"
    assert target["timeout_s"] == 600 and "metric" not in target
    assert "autoresearch.toml" in git(repo, "show", "--name-only", "--format=", "HEAD")
    again = cli("init", str(repo))
    assert again.returncode == 2 and "already exists" in again.stderr


@pytest.mark.parametrize(
    ("setup", "args", "code", "says"),
    [
        ("plain", [], 2, "--editable FILE"),
        ("nogit", [], 2, "is not a git repository"),
        ("silent", [], 2, "--metric-regex"),
        ("crash", [], 1, "the base run failed (exit 1)"),
        ("plain", ["--run", "python other.py"], 2, "names no .py file"),
    ],
)
def test_init_says_what_to_give_or_fix(
    tmp_path: Path, setup: str, args: list[str], code: int, says: str
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    script = {"silent": "print('done')\n", "crash": "raise SystemExit('no data')\n"}
    (repo / ("train.py" if setup in script else "main.py")).write_text(script.get(setup, ""))
    if setup != "nogit":
        git(repo, "init", "-q")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "base")
    out = cli("init", str(repo), *args)
    assert out.returncode == code and says in out.stderr, out.stderr
    assert (
        len(out.stderr.strip().splitlines()[-1]) > 20 and not (repo / "autoresearch.toml").exists()
    )


def test_repository_flags_are_refused_for_a_new_workspace(tmp_path: Path) -> None:
    out = cli("init", str(tmp_path / "new"), "--metric", "val_bpb")
    assert out.returncode == 2 and "--metric is for an existing repository" in out.stderr
    assert not (tmp_path / "new").exists()


def test_find_metric_reads_what_the_real_scripts_print() -> None:
    summary = ["step 00953 (100.0%) | loss: 3.1", "---", "val_bpb:          0.997900",
               "training_seconds: 300.1", "depth:            8"]  # fmt: skip
    assert find_metric(summary).name == "val_bpb"  # type: ignore[union-attr]
    nano = ["iter 0: loss 4.2, time 10ms", "step 250: train loss 1.9, val loss 2.0012"]
    found = find_metric(nano)
    assert found is not None and found.regex == "val loss ([0-9.]+)" and found.goal == "min"
    accuracy = find_metric(["epoch: 3", "train_loss: 0.3", "val_accuracy: 0.91"])
    assert accuracy is not None and (accuracy.name, accuracy.goal) == ("val_accuracy", "max")
    assert find_metric(["epoch: 3", "hello"]) is None


def test_imports_and_ignored_data_found_in_a_repository(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "lib" / "nn").mkdir(parents=True)
    (repo / "train.py").write_text("import os\nimport torch\nfrom lib.nn import layers\n"
                                   "from helpers import x\n")  # fmt: skip
    (repo / "lib" / "__init__.py").write_text("")
    (repo / "lib" / "nn" / "__init__.py").write_text("from .layers import Linear\n")
    (repo / "lib" / "nn" / "layers.py").write_text("from ..util import f\n")
    (repo / "lib" / "util.py").write_text("")
    (repo / "helpers.py").write_text("")
    assert imported_files(repo, ["train.py"]) == [
        "lib/__init__.py", "lib/nn/__init__.py", "lib/nn/layers.py", "helpers.py", "lib/util.py"
    ]  # fmt: skip
    (repo / ".gitignore").write_text("*.bin\n.venv\n__pycache__/\nout-*/\ncache/\nrun.log\n")
    for path in ["data/x/train.bin", ".venv/pyvenv.cfg", "lib/__pycache__/a.pyc",
                 "out-run/ckpt.bin", "cache/tok.bin", "top.bin", "run.log"]:  # fmt: skip
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text("")
    (repo / "data" / "x" / "prepare.py").write_text("")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    assert ignored_data(repo) == ["cache/", "data/", "top.bin"]
