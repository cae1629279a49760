"""Git operations on the workspace (GitPython): node commits and branches, worktrees,
notes and export.

Node commits are written with plumbing through a private index file, so the person's
own checkout, index and branches are never touched. Branches live under
`autoresearch/<run>/`, notes under `refs/notes/autoresearch`, worktrees under
`.autoresearch/worktrees/`. All methods block; the scheduler calls them from one thread.
Every git command runs with hooks off and without the repository config an experiment
could plant to run a command (`SAFE`); search/tamper.py notices and undoes such a change.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from io import BytesIO
from pathlib import Path

import git
from gitdb.base import IStream

NOTES_REF = "refs/notes/autoresearch"
SAFE = [  # `-c` options of every git command: no hook, no fsmonitor, no attributes file
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "core.attributesFile=/dev/null",
    "commit.gpgSign=false",
]
IDENTITY = {
    "GIT_AUTHOR_EMAIL": "autoresearch@localhost",
    "GIT_COMMITTER_NAME": "autoresearch-tui",
    "GIT_COMMITTER_EMAIL": "autoresearch@localhost",
}


class GitWorkspace:
    def __init__(self, root: Path, state_dir: Path):
        self.root = root
        self.repo = git.Repo(root)
        self.repo.git.set_persistent_git_options(c=SAFE)
        self.worktrees_dir = state_dir / "worktrees"
        self._ignore_state_dir(state_dir)

    def _ignore_state_dir(self, state_dir: Path) -> None:
        """Keep `.autoresearch/` out of `git status` without editing a tracked file."""
        rel = state_dir.relative_to(self.root).as_posix()
        if self.repo.git.check_ignore(rel, with_exceptions=False).strip():
            return
        exclude = Path(self.repo.git_dir) / "info" / "exclude"
        exclude.parent.mkdir(parents=True, exist_ok=True)
        with exclude.open("a") as fh:
            fh.write(f"\n/{rel}/\n")

    # -- reading -----------------------------------------------------------------------
    def head_commit(self) -> str:
        return self.repo.head.commit.hexsha

    def read_files(self, commit: str, paths: list[str]) -> dict[str, str]:
        tree = self.repo.commit(commit).tree
        return {p: (tree / p).data_stream.read().decode() for p in paths}

    def blob_ids(self, commit: str, paths: list[str]) -> dict[str, str]:
        tree = self.repo.commit(commit).tree
        ids = {}
        for p in paths:
            try:
                ids[p] = (tree / p).hexsha
            except KeyError:
                ids[p] = ""
        return ids

    def merge_base(self, a: str, b: str) -> str:
        """The best common ancestor commit of a and b."""
        return str(self.repo.git.merge_base(a, b)).strip()

    def changed_paths(self, old: str, new: str) -> list[str]:
        out = self.repo.git.diff("--name-only", old, new)
        return [line for line in out.splitlines() if line]

    # -- writing -----------------------------------------------------------------------
    def commit_files(
        self,
        parent: str,
        files: dict[str, str],
        message: str,
        branch: str,
        author: str,
        other_parents: list[str] | tuple[str, ...] = (),
    ) -> str:
        """A commit = parent's tree with `files` replaced; `branch` points at it.
        `other_parents` makes it a merge commit (a merge node's second parent)."""
        fd, index = tempfile.mkstemp(prefix="ar-index-")
        os.close(fd)
        os.unlink(index)
        env = {**IDENTITY, "GIT_AUTHOR_NAME": author, "GIT_INDEX_FILE": index}
        try:
            g = self.repo.git
            g.read_tree(parent, env=env)
            tree = self.repo.commit(parent).tree
            for path, content in files.items():
                blob = self._hash_blob(content)
                try:
                    mode = f"{(tree / path).mode:o}"
                except KeyError:
                    mode = "100644"
                g.update_index("--add", "--cacheinfo", f"{mode},{blob},{path}", env=env)
            new_tree = g.write_tree(env=env)
            parents = [arg for p in (parent, *other_parents) for arg in ("-p", p)]
            commit = str(g.commit_tree(new_tree, *parents, "-m", message, env=env))
            g.update_ref(f"refs/heads/{branch}", commit)
            return commit
        finally:
            if os.path.exists(index):
                os.unlink(index)

    def _hash_blob(self, content: str) -> str:
        data = content.encode()
        sha: bytes = self.repo.odb.store(IStream("blob", len(data), BytesIO(data))).hexsha
        return sha.decode()

    def set_branch(self, branch: str, commit: str) -> None:
        self.repo.git.update_ref(f"refs/heads/{branch}", commit)

    def add_note(self, commit: str, text: str) -> None:
        self.repo.git.notes("--ref", NOTES_REF, "add", "-f", "-m", text, commit, env=IDENTITY)

    def note(self, commit: str) -> str:
        return str(self.repo.git.notes("--ref", NOTES_REF, "show", commit))

    # -- worktrees ---------------------------------------------------------------------
    def add_worktree(self, name: str, commit: str) -> Path:
        path = self.worktrees_dir / name
        if path.exists():
            self.remove_worktree(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.repo.git.worktree("add", "--detach", "--quiet", str(path), commit)
        return path

    def remove_worktree(self, path: Path) -> None:
        self.repo.git.worktree("remove", "--force", str(path), with_exceptions=False)
        if path.exists():  # not a registered worktree (a crash mid-creation): clean by hand
            shutil.rmtree(path, ignore_errors=True)
            self.repo.git.worktree("prune")

    def clean_worktrees(self) -> list[str]:
        """Remove every worktree a dead run left behind; return their names."""
        stale = (
            sorted(p.name for p in self.worktrees_dir.iterdir())
            if self.worktrees_dir.exists()
            else []
        )
        for name in stale:
            self.remove_worktree(self.worktrees_dir / name)
        self.repo.git.worktree("prune")
        return stale

    # -- export ------------------------------------------------------------------------
    def diff(self, base: str, commit: str, paths: list[str]) -> str:
        return str(
            self.repo.git.diff(
                "--binary", base, commit, "--", *paths, strip_newline_in_stdout=False
            )
        )

    def format_patch(self, base: str, commit: str) -> str:
        return str(
            self.repo.git.format_patch(
                "--stdout", f"{base}..{commit}", strip_newline_in_stdout=False
            )
        )

    def delete_branches(self, prefix: str) -> None:
        for ref in self.repo.git.for_each_ref(
            "--format=%(refname)", f"refs/heads/{prefix}"
        ).split():
            self.repo.git.update_ref("-d", ref)
