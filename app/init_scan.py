"""`init` on an existing repository, what the repository holds: the repository files a
script imports (its readonly files) and the git-ignored data a run needs from the checkout
(its `[target] link`, search/checkout.py). Used by app/init_repo.py.
"""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path, PurePosixPath

NOT_DATA = {"venv", "env", "__pycache__", "build", "dist", "node_modules", "wandb", "logs",
            "runs", "checkpoints", "results", "site-packages"}  # fmt: skip
DATA_SUFFIXES = {".bin", ".npy", ".npz", ".pkl", ".parquet", ".arrow", ".csv", ".jsonl",
                 ".txt", ".h5", ".hdf5", ".tfrecord"}  # fmt: skip


def imported_files(root: Path, start: list[str]) -> list[str]:
    """Repository files the `start` scripts import (transitively), or name as `.py`
    strings (nanoGPT's `exec(open('configurator.py').read())`), as relative paths."""
    seen, queue, found = set(start), list(start), []
    while queue:
        rel = queue.pop(0)
        try:
            tree = ast.parse((root / rel).read_text())
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for dep in _deps(root, rel, tree):
            if dep not in seen:
                seen.add(dep)
                found.append(dep)
                queue.append(dep)
    return found


def _deps(root: Path, rel: str, tree: ast.AST) -> list[str]:
    here = (root / rel).parent
    paths: list[Path] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                paths += _module_files([here, root], alias.name)
        elif isinstance(node, ast.ImportFrom):
            bases = [here, root] if not node.level else [_up(here, node.level - 1)]
            module = node.module or ""
            for name in ["", *(a.name for a in node.names)]:
                dotted = ".".join(filter(None, [module, name]))
                paths += _module_files(bases, dotted) if dotted else []
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if not (node.value.endswith(".py") and "\n" not in node.value):
                continue
            paths += [p for p in (here / node.value, root / node.value) if p.is_file()]
    out = []
    for path in paths:
        try:
            out.append(path.resolve().relative_to(root).as_posix())
        except ValueError:
            continue  # outside the repository
    return [p for p in dict.fromkeys(out) if not _private(PurePosixPath(p).parts[0])]


def _up(folder: Path, levels: int) -> Path:
    for _ in range(levels):
        folder = folder.parent
    return folder


def _module_files(bases: list[Path], dotted: str) -> list[Path]:
    parts = dotted.split(".")
    for base in bases:
        files = []
        for i in range(1, len(parts) + 1):
            folder = base.joinpath(*parts[:i])
            if (folder / "__init__.py").is_file():
                files.append(folder / "__init__.py")
            elif i == len(parts) and folder.with_suffix(".py").is_file():
                files.append(folder.with_suffix(".py"))
        if files:
            return files
    return []


def _private(top: str) -> bool:
    return top.startswith(".") or top in NOT_DATA or top.endswith(".egg-info")


def ignored_data(root: Path) -> list[str]:
    """The git-ignored inputs a run needs from the checkout: top-level folders holding
    ignored files (not environments, caches, or `out*` outputs of earlier runs), and
    top-level ignored data files."""
    out = subprocess.run(
        ["git", "ls-files", "--others", "--ignored", "--exclude-standard", "--directory", "-z"],
        cwd=root, capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    links = []
    for entry in filter(None, out.split("\0")):
        parts = PurePosixPath(entry.rstrip("/")).parts
        top = parts[0]
        if _private(top) or top.startswith("out") or "__pycache__" in parts:
            continue
        if len(parts) > 1 or entry.endswith("/"):
            links.append(f"{top}/")
        elif PurePosixPath(top).suffix in DATA_SUFFIXES:
            links.append(top)
    return list(dict.fromkeys(links))
