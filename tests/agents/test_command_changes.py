"""What of a coding agent's worktree can be taken: imports of new files, restored files."""

from __future__ import annotations

from pathlib import Path

from synthetic import PREPARE_PY, TRAIN_PY

from autoresearch_tui.agents.command_changes import imports, restore, review


def stems(path: str, source: str) -> set[str]:
    return {stem for stem, _ in imports(path, source)}


def test_imports_name_where_each_module_would_live() -> None:
    assert stems("train.py", "import helper\nimport os.path as p\n") == {"helper", "os", "os/path"}
    assert {"helper", "helper/x"} <= stems("train.py", "from helper import x\n")
    assert {"pkg/helper"} <= stems("train.py", "from pkg import helper\n")
    assert stems("sub/train.py", "from . import helper\n") == {"sub/helper"}
    assert stems("sub/pkg/mod.py", "from ..helper import f\n") == {"sub/helper", "sub/helper/f"}
    assert {"helper", "sub/helper"} <= stems("sub/train.py", "import helper\n")
    assert imports("train.py", "import = broken\n") == []


def test_a_new_package_imported_by_train_py_is_an_error(workspace: Path) -> None:
    (workspace / "model").mkdir()
    (workspace / "model" / "__init__.py").write_text("DEPTH = 10\n")
    (workspace / "train.py").write_text(TRAIN_PY.replace("DEPTH = 8", "from model import DEPTH"))
    new: set[str] = set()
    found = review(workspace, "HEAD", {"train.py": TRAIN_PY}, ["train.py"], new)
    assert new == {"model/__init__.py"} and found.discarded == ["model/__init__.py"]
    [error] = found.errors
    assert error.startswith("model/__init__.py is a new file and only train.py may change")
    assert "`from model import DEPTH` in train.py would fail" in error


def test_a_deleted_readonly_file_is_an_error_and_comes_back(workspace: Path) -> None:
    (workspace / "prepare.py").unlink()
    (workspace / "train.py").write_text(TRAIN_PY.replace("DEPTH = 8", "DEPTH = 9"))
    found = review(workspace, "HEAD", {"train.py": TRAIN_PY}, ["train.py"], set())
    assert found.restore == ["prepare.py"] and found.discarded == []
    assert found.errors == [
        "prepare.py is not editable: your change to it was discarded (the file is back as "
        "it was); put the change in train.py"
    ]
    restore(workspace, "HEAD", found.restore)
    assert (workspace / "prepare.py").read_text() == PREPARE_PY
    assert (workspace / "train.py").read_text() != TRAIN_PY  # the editable change stays
    again = review(workspace, "HEAD", {"train.py": TRAIN_PY}, ["train.py"], set())
    assert again.errors == [] and set(again.files) == {"train.py"}
