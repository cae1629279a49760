"""What a coding agent changed in its worktree, and what of it cannot be taken.

The proposal is the new content of the editable files. Everything else the agent
changed is discarded, and some of that would break the experiment, so it goes back to
the agent for repair (agents/command.py) with the reason:

* an edit to (or the deletion of) a file of the parent that is not editable, such as
  `prepare.py`: the file is put back as it was before the repair round;
* a new file that an editable Python file imports (`import helper`, `from helper import
  x`, found with `ast`): only the editable files reach the experiment, so the import
  would fail there. A new file seen in any round counts, so deleting it while keeping
  the import is caught too;
* an editable file deleted or replaced by a symlink, a Python file that does not
  compile, no editable file changed.

Other new files (scratch notes, caches) are discarded and named in the rationale.
"""

from __future__ import annotations

import ast
import contextlib
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import autoresearch_tui.agents.pyast as pyast
from autoresearch_tui.agents.edits import compile_error

NOISE = re.compile(r"(^|/)(__pycache__/|\.pytest_cache/)|\.pyc$")


@dataclass
class Review:
    """The verdict on one round's worktree."""

    files: dict[str, str] = field(default_factory=dict)  # changed editable files
    errors: list[str] = field(default_factory=list)  # why they cannot be taken yet
    discarded: list[str] = field(default_factory=list)  # harmless other changes, named
    restore: list[str] = field(default_factory=list)  # parent files to put back


def git(cwd: Path, *args: str) -> list[str]:
    """The NUL-separated output of a git command, as a list."""
    out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout
    return [p for p in out.split("\0") if p]


def changed_paths(worktree: Path, base: str) -> list[str]:
    """Paths that differ from commit `base` (committed or not) or are new and not ignored."""
    tracked = git(worktree, "diff", "--name-only", "-z", base)
    untracked = git(worktree, "ls-files", "--others", "--exclude-standard", "-z")
    return sorted({p for p in tracked + untracked if not NOISE.search(p)})


def read_editable(
    worktree: Path, parent_files: dict[str, str], editable: list[str]
) -> tuple[dict[str, str], list[str]]:
    """(changed editable files, problems with editable files that were not taken)."""
    files: dict[str, str] = {}
    problems: list[str] = []
    for path in editable:
        full = worktree / path
        if full.is_symlink():
            problems.append(f"{path} was replaced by a symlink")
        elif not full.is_file():
            problems.append(f"{path} was deleted")
        else:
            try:
                content = full.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(f"{path} cannot be read as text: {exc}")
                continue
            if content != parent_files.get(path):
                files[path] = content
    return files, problems


def _prefixes(folder: PurePosixPath, dotted: str) -> list[str]:
    """`a.b.c` in `folder`: folder/a, folder/a/b, folder/a/b/c (module path stems)."""
    parts = [p for p in dotted.split(".") if p]
    return [str(folder.joinpath(*parts[: i + 1])) for i in range(len(parts))]


def _up(folder: PurePosixPath, levels: int) -> PurePosixPath:
    for _ in range(levels):
        folder = folder.parent
    return folder


def imports(path: str, source: str) -> list[tuple[str, str]]:
    """(module path stem, the statement) for every import in a Python file.

    A stem is where the module would live relative to the worktree root without its
    `.py`: absolute imports are looked up next to the file and at the root (the
    experiment runs from the root), relative ones from the file's package."""
    try:
        tree = pyast.parse(source)
    except (SyntaxError, ValueError):
        return []
    here = PurePosixPath(path).parent
    roots = [PurePosixPath(".")] if here == PurePosixPath(".") else [PurePosixPath("."), here]
    found: list[tuple[str, str]] = []
    for node in ast.walk(tree):
        stems: list[str] = []
        if isinstance(node, ast.Import):
            for alias in node.names:
                stems += [s for root in roots for s in _prefixes(root, alias.name)]
        elif isinstance(node, ast.ImportFrom):
            folders = [_up(here, node.level - 1)] if node.level else roots
            module = node.module or ""
            for folder in folders:
                stems += _prefixes(folder, module)
                stems += [s for a in node.names for s in _prefixes(folder, f"{module}.{a.name}")]
        found += [(stem, ast.unparse(node)) for stem in stems]
    return found


def _is_module(path: str, stem: str) -> bool:
    return path == f"{stem}.py" or path.startswith(f"{stem}/")


def _import_errors(files: dict[str, str], new_files: set[str], editable: list[str]) -> list[str]:
    errors: list[str] = []
    for path, source in sorted(files.items()):
        for stem, statement in imports(path, source):
            for new in sorted(p for p in new_files if _is_module(p, stem)):
                error = (
                    f"{new} is a new file and only {', '.join(editable)} may change, so it "
                    f"was discarded: `{statement}` in {path} would fail when the experiment "
                    f"runs; put that code in {path} itself and remove the import"
                )
                if error not in errors:
                    errors.append(error)
    return errors


def review(
    worktree: Path,
    base: str,
    parent_files: dict[str, str],
    editable: list[str],
    new_files: set[str],
) -> Review:
    """Judge the worktree against commit `base`; `new_files` collects every new file seen."""
    files, problems = read_editable(worktree, parent_files, editable)
    others = [p for p in changed_paths(worktree, base) if p not in editable]
    in_parent: set[str] = set()
    if others:
        listed = git(
            worktree,
            "--literal-pathspecs",
            "ls-tree",
            "-r",
            "--name-only",
            "-z",
            base,
            "--",
            *others,
        )
        in_parent = set(listed)
    found = Review(files=files, errors=list(problems))
    put_in = ", ".join(editable)
    for path in others:
        if path in in_parent:
            found.restore.append(path)
            found.errors.append(
                f"{path} is not editable: your change to it was discarded (the file is back "
                f"as it was); put the change in {put_in}"
            )
        else:
            new_files.add(path)
    found.errors += _import_errors(files, new_files, editable)
    found.errors += [e for p, s in sorted(files.items()) if (e := compile_error(p, s))]
    if not files:
        found.errors.append(f"none of the editable files ({put_in}) changed")
    found.discarded = [p for p in others if p not in in_parent]
    return found


def restore(worktree: Path, base: str, paths: list[str]) -> None:
    """Put `paths` back as they are in commit `base` (before a repair round)."""
    if paths:  # a failure leaves the change in place: the next round names it again
        with contextlib.suppress(subprocess.CalledProcessError):
            git(worktree, "--literal-pathspecs", "checkout", base, "--", *paths)
