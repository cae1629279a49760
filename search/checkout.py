"""The user's checkout as the runs see it: what autoresearch.toml's paths must be there,
and the uncommitted inputs (`[target] link`) a run's worktree is given.

A worktree holds only committed files. `[target] link = ["data/", "helpers.py"]` names
paths of the checkout that every run's worktree gets as symlinks to the checkout's copy:
prepared data that is git-ignored, a helper script not yet committed. A link fills in
only what the commit lacks (a committed file always wins, inside a linked folder too);
everything else a run writes stays in its own worktree (nanoGPT's `out-*`). When a run
crashes and its output names a path that the checkout has and the worktree has not,
`missing_input` says which link would have given it. See docs/ARCHITECTURE.md §3.
The checks here return the one-line problem (or ""); search/config.py raises it.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path, PurePosixPath

PRIVATE = (".git", ".autoresearch")  # never linked: git's own files, the runner's state
PATH_IN_TEXT = re.compile(r"""[\w.~+-]*(?:/[\w.~+-]+)+|[\w~+-]+\.[A-Za-z]\w{0,9}""")
NO_MODULE = re.compile(r"No module named '([\w.]+)'")


def files_problem(root: Path, editable: list[str], readonly: list[str]) -> str:
    """The first editable or readonly file that is missing or a symlink, as a fix."""
    for path in editable + readonly:
        if not (root / path).is_file():
            kind = "editable" if path in editable else "readonly"
            return f"{kind} file {path} does not exist in {root} — fix [target] {kind}"
        if (root / path).is_symlink():
            return f"{path} is a symlink — list the real file instead"
    return ""


def clean_problem(root: Path, tracked: list[str]) -> str:
    """The search starts from a commit: no uncommitted changes, the target files tracked."""
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=root, capture_output=True, text=True, check=True,
    ).stdout.split("\n")  # fmt: skip
    changed = [line[3:] for line in dirty if line.strip()]
    if changed:
        return (
            f"{root}: uncommitted changes ({', '.join(changed[:3])}) — commit or stash them "
            "first; the search starts from a commit"
        )
    listed = subprocess.run(
        ["git", "ls-files", "--error-unmatch", *tracked], cwd=root, capture_output=True, text=True
    )
    if listed.returncode != 0:
        return (
            f"{root}: {listed.stderr.strip().splitlines()[0]} — `git add` and commit the "
            "editable and readonly files"
        )
    return ""


def link_problem(root: Path, links: list[str], target_files: list[str]) -> str:
    """The first `[target] link` path that cannot be linked: one the checkout lacks, git's
    or the runner's own, or one that is (or holds) an editable or readonly file."""
    for link in links:
        parts = PurePosixPath(link).parts
        if not parts:
            return "[target] link '.' is the whole checkout — list the paths the commit lacks"
        if parts[0] in PRIVATE:
            return f"[target] link {link!r} is not a path of your checkout's own files"
        if not os.path.lexists(root / link):
            return (
                f"[target] link {link} does not exist in {root} — prepare it there first "
                "(e.g. run the data preparation) or remove it from [target] link"
            )
        for path in target_files:
            if PurePosixPath(path).is_relative_to(link):
                return (
                    f"[target] link {link} holds {path}, an editable or readonly file — those "
                    "come from each experiment's commit; link only what is not committed"
                )
    return ""


def link_into(root: Path, worktree: Path, links: list[str]) -> None:
    """Make each linked path of the checkout visible in the worktree, as a symlink where
    the commit has nothing there; inside a folder the commit also has, entry by entry."""
    for link in links:
        _link(root / link, worktree / link)


def _link(source: Path, dest: Path) -> None:
    if not os.path.lexists(source):
        return  # gone from the checkout since the start: the run says what it misses
    if not os.path.lexists(dest):
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.symlink_to(source.absolute(), target_is_directory=source.is_dir())
    elif dest.is_dir() and not dest.is_symlink() and source.is_dir():
        for entry in source.iterdir():
            _link(entry, dest / entry.name)


def missing_input(root: Path, worktree: Path, lines: list[str]) -> str:
    """For a crashed run: the first path its output names that is in the checkout but not
    in the worktree, as the fix ("... add data/ to [target] link"), or ""."""
    for line in reversed(lines):
        modules = [m.replace(".", "/") for m in NO_MODULE.findall(line)]
        candidates = [f"{m}{end}" for m in modules for end in (".py", "")]
        for found in candidates + PATH_IN_TEXT.findall(line):
            rel = _relative(found.rstrip("."), root, worktree)
            if rel is None or rel.parts[0] in PRIVATE:
                continue
            if os.path.lexists(root / rel) and not os.path.lexists(worktree / rel):
                top = rel.parts[0] + ("/" if len(rel.parts) > 1 else "")
                return (
                    f"{rel} is in your checkout but not committed: add {top} to [target] link "
                    "in autoresearch.toml (or commit it)"
                )
    return ""


def _relative(found: str, root: Path, worktree: Path) -> PurePosixPath | None:
    """`found` as a path inside the workspace, when it can be one."""
    path = PurePosixPath(found)
    for base in (worktree, root):
        if path.is_absolute() and path.is_relative_to(base.as_posix()):
            path = path.relative_to(base.as_posix())
    path = PurePosixPath(*[p for p in path.parts if p != "."]) if path.parts else path
    if path.is_absolute() or not path.parts or ".." in path.parts:
        return None
    return path
