"""`init_workspace`: the files, presets and budget it writes, the base commit, the
refusal of a non-empty directory, and data preparation."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from autoresearch_tui.trainer.workspace import (
    CPU_TOKENS_PER_S,
    PRESETS,
    PrepareFailed,
    WorkspaceExists,
    init_workspace,
    render_files,
    set_constants,
)

HYPERPARAMETERS = [
    "DEPTH", "ASPECT_RATIO", "HEAD_DIM", "WINDOW_PATTERN", "MATRIX_LR", "EMBEDDING_LR",
    "UNEMBEDDING_LR", "SCALAR_LR", "WEIGHT_DECAY", "WARMUP_RATIO", "WARMDOWN_RATIO",
    "TOTAL_BATCH_SIZE", "DEVICE_BATCH_SIZE", "ADAM_BETA1", "ADAM_BETA2", "VALUE_EMBEDS",
]  # fmt: skip

EXPECTED_TOML = """\
[target]
editable  = ["train.py"]
readonly  = ["prepare.py"]
run       = "{python} train.py"  # the interpreter autoresearch-tui is installed in
metric    = "val_bpb"
goal      = "min"
timeout_s = {timeout}

[search]
policy = "best-first"
slots  = "auto"

[[agents]]
persona = "explorer"
backend = "mutator"
"""


def constants(source: str) -> dict[str, object]:
    """Module-level `NAME = literal` assignments, as the mutator finds them."""
    found = {}
    for stmt in ast.parse(source).body:
        if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
            try:
                found.setdefault(stmt.targets[0].id, ast.literal_eval(stmt.value))
            except ValueError:
                pass
    return found


def git(path: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=path, capture_output=True, text=True).stdout


@pytest.fixture
def no_git_identity(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A git with no user configured anywhere."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in (
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
        "EMAIL",
    ):
        monkeypatch.delenv(var, raising=False)


def test_init_creates_a_committed_workspace(tmp_path: Path, no_git_identity: None) -> None:
    lines: list[str] = []
    ws = init_workspace(tmp_path / "ws", prepare_data=False, log=lines.append)
    assert ws == (tmp_path / "ws").resolve()
    names = {"train.py", "prepare.py", "program.md", "autoresearch.toml", ".gitignore"}
    assert {p.name for p in ws.iterdir()} == names | {".git"}
    assert git(ws, "rev-list", "--count", "HEAD").strip() == "1"
    assert git(ws, "status", "--porcelain") == ""
    assert set(git(ws, "ls-files").split()) == names
    assert (
        git(ws, "log", "-1", "--format=%an <%ae>").strip()
        == "autoresearch <autoresearch@localhost>"
    )
    assert ".autoresearch/" in (ws / ".gitignore").read_text().splitlines()
    tokens = constants((ws / "prepare.py").read_text())["TOKEN_BUDGET"]
    assert isinstance(tokens, int)
    assert (ws / "autoresearch.toml").read_text() == EXPECTED_TOML.format(
        python=sys.executable, timeout=int(tokens / CPU_TOKENS_PER_S * 10 + 120)
    )
    assert tomllib.loads((ws / "autoresearch.toml").read_text())["target"]["metric"] == "val_bpb"
    assert "val_bpb" in (ws / "program.md").read_text()
    assert lines == [f"Created workspace {ws} (preset cpu, dataset stdlib)"]


def test_init_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    target = tmp_path / "ws"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    with pytest.raises(WorkspaceExists, match="not empty"):
        init_workspace(target, prepare_data=False)
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    assert (target / "notes.txt").read_text() == "mine"
    with pytest.raises(ValueError):  # WorkspaceExists is a ValueError
        init_workspace(target / "notes.txt", prepare_data=False)


def test_init_accepts_an_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    init_workspace(tmp_path / "ws", prepare_data=False, log=lambda s: None)
    assert (tmp_path / "ws" / "train.py").exists()


def test_train_hyperparameters_are_module_level_literals() -> None:
    found = constants(render_files("cpu")["train.py"])
    for name in HYPERPARAMETERS:
        assert name in found, name
        assert isinstance(found[name], int | float | str | bool), name
    assert found["WINDOW_PATTERN"] == "SSSL"


def test_gpu_preset_is_autoresearch_scale() -> None:
    files = render_files("gpu", budget_s=120)
    train, prep = constants(files["train.py"]), constants(files["prepare.py"])
    assert (train["DEPTH"], train["ASPECT_RATIO"], train["HEAD_DIM"]) == (8, 64, 128)
    assert (train["TOTAL_BATCH_SIZE"], train["DEVICE_BATCH_SIZE"]) == (524288, 128)
    assert (prep["MAX_SEQ_LEN"], prep["TIME_BUDGET"], prep["DATASET"]) == (2048, 120, "stdlib")
    assert (prep["TOKEN_BUDGET"], prep["CPU_THREADS"]) == (0, 0)  # wall-clock, as autoresearch
    assert "timeout_s = 360\n" in files["autoresearch.toml"]
    default = render_files("gpu")
    assert constants(default["prepare.py"])["TIME_BUDGET"] == 300
    assert "timeout_s = 720\n" in default["autoresearch.toml"]


def test_presets_and_datasets() -> None:
    assert PRESETS == ("cpu", "gpu")
    cpu = constants(render_files("cpu")["prepare.py"])
    assert (cpu["TIME_BUDGET"], cpu["VOCAB"], cpu["CPU_THREADS"]) == (0, 2048, 1)
    assert isinstance(cpu["TOKEN_BUDGET"], int) and cpu["TOKEN_BUDGET"] > 0  # tokens, not seconds
    climb = constants(render_files("cpu", dataset="climbmix", budget_s=90.5)["prepare.py"])
    assert (climb["DATASET"], climb["VOCAB"], climb["TIME_BUDGET"]) == ("climbmix", 8192, 90.5)
    assert climb["TOKEN_BUDGET"] == 0
    with pytest.raises(ValueError, match="unknown preset"):
        render_files("tpu")
    with pytest.raises(ValueError, match="unknown dataset"):
        render_files("cpu", dataset="imagenet")


def test_a_budget_in_tokens_or_seconds_and_extra_constants() -> None:
    files = render_files("cpu", budget_tokens=80_000, constants={"prepare.py": {"CPU_THREADS": 1}})
    prep = constants(files["prepare.py"])
    assert (prep["TOKEN_BUDGET"], prep["TIME_BUDGET"], prep["CPU_THREADS"]) == (80_000, 0, 1)
    assert (
        f"timeout_s = {int(80_000 / CPU_TOKENS_PER_S * 10 + 120)}\n" in files["autoresearch.toml"]
    )
    gpu = constants(render_files("gpu", budget_tokens=10**6)["prepare.py"])
    assert (gpu["TOKEN_BUDGET"], gpu["TIME_BUDGET"]) == (10**6, 0)
    train = constants(render_files("cpu", constants={"train.py": {"DEPTH": 2}})["train.py"])
    assert train["DEPTH"] == 2
    with pytest.raises(ValueError, match="not both"):
        render_files("cpu", budget_s=10, budget_tokens=1000)
    with pytest.raises(ValueError, match="budget_tokens must be positive"):
        render_files("cpu", budget_tokens=0)
    with pytest.raises(KeyError):
        render_files("cpu", constants={"prepare.py": {"NO_SUCH_NAME": 1}})


def test_set_constants_keeps_comments_and_rejects_unknown_names() -> None:
    source = 'A = 1  # one\nB = "x"\ndef f():\n    A = 3\n'
    assert (
        set_constants(source, {"A": 2.5, "B": "y"})
        == 'A = 2.5  # one\nB = "y"\ndef f():\n    A = 3\n'
    )
    with pytest.raises(KeyError):
        set_constants(source, {"C": 1})


def test_init_prepares_the_stdlib_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AR_DATA_DIR", str(tmp_path / "data"))
    lines: list[str] = []
    init_workspace(tmp_path / "ws", log=lines.append)
    assert (tmp_path / "data" / "stdlib-bpe2048" / "meta.json").exists()
    assert any("Ready to train" in line for line in lines)
    assert git(tmp_path / "ws", "status", "--porcelain") == ""  # data is not in the workspace


def test_failed_prepare_keeps_the_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AR_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "climbmix").write_text("a file where a directory should be")
    with pytest.raises(PrepareFailed, match=r"python prepare\.py"):
        init_workspace(tmp_path / "ws", dataset="climbmix", log=lambda s: None)
    assert git(tmp_path / "ws", "rev-list", "--count", "HEAD").strip() == "1"
