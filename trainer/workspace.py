"""`init`: a new workspace from the built-in trainer (README, "The built-in research target").

Owns the presets (constants rewritten in the template's train.py and prepare.py),
the files a workspace starts with (train.py, prepare.py, program.md,
autoresearch.toml, .gitignore), its base commit, and running its data preparation.
Its run command names the interpreter autoresearch-tui is installed in by its absolute
path (`/…/.venv/bin/python train.py`): the built-in trainer needs that environment's
torch, and a run's PATH is the user's shell's, where `python` may be another one.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path

PRESETS: tuple[str, ...] = ("cpu", "gpu")
DATASETS: tuple[str, ...] = ("stdlib", "climbmix", "tinystories")

# The template files carry the cpu preset (a budget in tokens, so a seed repeats its
# value on a loaded machine); other presets rewrite these constants.
PRESET_CONSTANTS: dict[str, dict[str, dict[str, int | float | str | bool]]] = {
    "cpu": {"prepare.py": {}, "train.py": {}},
    "gpu": {  # autoresearch's defaults: a budget in seconds
        "prepare.py": {
            "TOKEN_BUDGET": 0,
            "TIME_BUDGET": 300,
            "CPU_THREADS": 0,
            "MAX_SEQ_LEN": 2048,
            "EVAL_TOKENS": 20971520,
        },
        "train.py": {
            "DEPTH": 8,
            "ASPECT_RATIO": 64,
            "HEAD_DIM": 128,
            "TOTAL_BATCH_SIZE": 524288,
            "DEVICE_BATCH_SIZE": 128,
            "EMBEDDING_LR": 0.6,
            "UNEMBEDDING_LR": 0.004,
            "MATRIX_LR": 0.04,
            "WEIGHT_DECAY": 0.2,
            "WARMUP_RATIO": 0.0,
            "WARMDOWN_RATIO": 0.5,
        },
    },
}
DATASET_VOCAB: dict[str, int] = {"stdlib": 2048, "climbmix": 8192, "tinystories": 8192}
# Training tokens per second of the cpu preset on an idle 2-core machine (README): the
# run's timeout is sized from it, with room for a loaded or a slower machine.
CPU_TOKENS_PER_S = 4500

GITIGNORE = ".autoresearch/\n__pycache__/\n*.pyc\nrun.log\nresults.tsv\n"

TOML = """\
[target]
editable  = ["train.py"]
readonly  = ["prepare.py"]
run       = {run}  # the interpreter autoresearch-tui is installed in
metric    = "val_bpb"
goal      = "min"
timeout_s = {timeout_s}

[search]
policy = "best-first"
slots  = "auto"

[[agents]]
persona = "explorer"
backend = "mutator"
"""

FALLBACK_AUTHOR = ("-c", "user.name=autoresearch", "-c", "user.email=autoresearch@localhost")


class WorkspaceExists(ValueError):
    """The target directory exists and is not empty; nothing was written."""


class PrepareFailed(RuntimeError):
    """The workspace was created but `python prepare.py` failed (e.g. no network)."""


def template_text(name: str) -> str:
    """A file of the built-in template (package data), as text."""
    return resources.files("autoresearch_tui.trainer").joinpath("template", name).read_text()


def _literal(value: int | float | str | bool) -> str:
    if isinstance(value, str):
        return json.dumps(value)  # double quotes, as ruff formats them
    return repr(value)


def set_constants(source: str, values: dict[str, int | float | str | bool]) -> str:
    """Rewrite module-level `NAME = <literal>` assignments, keeping comments and layout."""
    lines = source.splitlines(keepends=True)
    found = set()
    for stmt in ast.parse(source).body:
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1):
            continue
        target = stmt.targets[0]
        if not isinstance(target, ast.Name) or target.id not in values or target.id in found:
            continue
        node = stmt.value
        if node.lineno != node.end_lineno:
            raise ValueError(f"{target.id}: the template's value spans several lines")
        line = lines[node.lineno - 1]
        # ast offsets count UTF-8 bytes; these lines are ASCII up to the value's end
        start, end = node.col_offset, node.end_col_offset
        lines[node.lineno - 1] = line[:start] + _literal(values[target.id]) + line[end:]
        found.add(target.id)
    missing = set(values) - found
    if missing:
        raise KeyError(f"constants not found in the template: {sorted(missing)}")
    return "".join(lines)


def render_files(
    preset: str = "cpu",
    budget_s: float | None = None,
    dataset: str = "stdlib",
    budget_tokens: int | None = None,
    constants: dict[str, dict[str, int | float | str | bool]] | None = None,
) -> dict[str, str]:
    """The workspace's files (name -> text) for a preset, budget and data set.

    budget_s sets a budget in training seconds, budget_tokens one in training tokens
    (at most one of them); None keeps the preset's. constants (file -> name -> value)
    are set last, e.g. {"prepare.py": {"CPU_THREADS": 1}}."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r} (choose from {', '.join(PRESETS)})")
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r} (choose from {', '.join(DATASETS)})")
    prepare_values = dict(PRESET_CONSTANTS[preset]["prepare.py"])
    prepare_values.update(DATASET=dataset, VOCAB=DATASET_VOCAB[dataset])
    prepare_values.update(_budget_values(budget_s, budget_tokens))
    prepare_values.update((constants or {}).get("prepare.py", {}))
    train_values = {**PRESET_CONSTANTS[preset]["train.py"], **(constants or {}).get("train.py", {})}
    return {
        "train.py": set_constants(template_text("train.py"), train_values),
        "prepare.py": set_constants(template_text("prepare.py"), prepare_values),
        "program.md": template_text("program.md"),
        "autoresearch.toml": TOML.format(
            run=json.dumps(run_command()), timeout_s=_timeout_s(prepare_values)
        ),
        ".gitignore": GITIGNORE,
    }


def run_command() -> str:
    """The built-in trainer's run command: this interpreter, by its absolute path."""
    return f"{shlex.quote(sys.executable)} train.py"


def _budget_values(budget_s: float | None, budget_tokens: int | None) -> dict[str, int | float]:
    """prepare.py's TIME_BUDGET and TOKEN_BUDGET for an explicit budget (none: {})."""
    if budget_s is not None and budget_tokens is not None:
        raise ValueError("give a budget in seconds or in tokens, not both")
    if budget_s is not None:
        if not budget_s > 0:
            raise ValueError(f"budget_s must be positive, got {budget_s}")
        seconds = int(budget_s) if budget_s == int(budget_s) else budget_s
        return {"TIME_BUDGET": seconds, "TOKEN_BUDGET": 0}
    if budget_tokens is not None:
        if not budget_tokens > 0:
            raise ValueError(f"budget_tokens must be positive, got {budget_tokens}")
        return {"TIME_BUDGET": 0, "TOKEN_BUDGET": int(budget_tokens)}
    return {}


def _template_constant(name: str) -> float:
    match = re.search(rf"^{name} = ([0-9._]+)", template_text("prepare.py"), re.M)
    assert match, f"the template's prepare.py has no {name}"
    return float(match.group(1).replace("_", ""))


def _timeout_s(prepare_values: dict[str, int | float | str | bool]) -> int:
    """A run's timeout: twice a budget in seconds, or ten times the idle cpu preset's
    time for a budget in tokens (a loaded machine is slower), plus start-up and eval."""
    tokens = prepare_values.get("TOKEN_BUDGET", _template_constant("TOKEN_BUDGET"))
    if tokens:
        return int(float(tokens) / CPU_TOKENS_PER_S * 10 + 120)
    seconds = prepare_values.get("TIME_BUDGET", _template_constant("TIME_BUDGET"))
    return int(float(seconds) * 2 + 120)


def _git(path: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=path, capture_output=True, text=True, check=False
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def _has_identity(path: Path) -> bool:
    for key in ("user.name", "user.email"):
        result = subprocess.run(["git", "config", key], cwd=path, capture_output=True, check=False)
        if result.returncode != 0 or not result.stdout.strip():
            return False
    return True


def commit_base(path: Path, message: str) -> str:
    """git init + one commit of everything in path; returns the commit hash."""
    _git(path, "-c", "init.defaultBranch=main", "init", "-q")
    _git(path, "add", "-A")
    author = () if _has_identity(path) else FALLBACK_AUTHOR
    _git(path, *author, "-c", "commit.gpgsign=false", "commit", "-q", "-m", message)
    return _git(path, "rev-parse", "HEAD").strip()


def run_prepare(path: Path, log: Callable[[str], None] = print) -> None:
    """Run the workspace's own `python prepare.py`, passing its output to log line by line."""
    process = subprocess.Popen(
        [sys.executable, "-u", "prepare.py"],
        cwd=path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    last = ""
    for line in process.stdout:
        for part in line.replace("\r", "\n").splitlines():
            if part.strip():
                log(part)
                last = part
    if process.wait() != 0:
        raise PrepareFailed(f"{last.strip()} (retry with `python prepare.py` in {path})")


def init_workspace(
    path: Path,
    preset: str = "cpu",
    budget_s: float | None = None,
    dataset: str = "stdlib",
    prepare_data: bool = True,
    log: Callable[[str], None] = print,
    budget_tokens: int | None = None,
    constants: dict[str, dict[str, int | float | str | bool]] | None = None,
) -> Path:
    """Create a workspace in path (absent or empty), commit it as the base, prepare data.

    Raises WorkspaceExists if path is a non-empty directory or a file (nothing is
    written), ValueError for an unknown preset or data set, PrepareFailed if the data
    preparation fails (the workspace and its base commit are kept).
    """
    path = Path(path).expanduser().resolve()
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise WorkspaceExists(f"{path} already exists and is not empty; choose a new directory")
    files = render_files(preset, budget_s, dataset, budget_tokens, constants)
    path.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (path / name).write_text(text)
    commit_base(path, f"base: built-in trainer (preset {preset}, dataset {dataset})")
    log(f"Created workspace {path} (preset {preset}, dataset {dataset})")
    if prepare_data:
        run_prepare(path, log)
    return path
