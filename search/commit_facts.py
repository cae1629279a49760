"""What the search knows about each commit's editable files: their constants and their
content hash, read once per commit per process, and the index that finds a duplicate.

The results section of a prompt (search/memory.py) shows each experiment's changed
constants, which needs every node's files; reading them from git costs a few
milliseconds a commit, so `CommitFacts` keeps what they say (not the files) per commit.
Git is read on the git thread only (`read_facts`); the loop thread merges the answer
(`FactsCache.add`), so the dictionaries are only ever touched on the loop thread. The
content index (normalised content hash -> node id) is filled as proposals are accepted
(`remember`) and, for nodes made elsewhere (a resume, a merge), lazily from their
commits; `duplicate_of` answers whether a proposal's files are an existing node's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from autoresearch_tui.search.constants import content_hash, files_constants
from autoresearch_tui.search.model import Node
from autoresearch_tui.search.skeleton import skeleton_hash
from autoresearch_tui.search.tree import Tree


class FileReader(Protocol):
    def read_files(self, commit: str, paths: list[str]) -> dict[str, str]: ...


@dataclass(frozen=True)
class CommitFacts:
    constants: dict[str, str]  # module-level constants of the editable Python files
    content: str  # content_hash of the editable files
    skeleton: str = ""  # skeleton_hash: the files with constant values masked (the tuner)


def facts_of(files: Mapping[str, str]) -> CommitFacts:
    return CommitFacts(files_constants(files), content_hash(files), skeleton_hash(files))


def read_facts(git: FileReader, commits: list[str], editable: list[str]) -> dict[str, CommitFacts]:
    """On the git thread: the facts of each commit (one that cannot be read is left out,
    so it is tried again next time). Our parses take agents/pyast.py's lock (`ast` is
    not thread-safe); a SystemError from a parse racing someone else's leaves the commit
    out too."""
    found: dict[str, CommitFacts] = {}
    for commit in commits:
        try:
            found[commit] = facts_of(git.read_files(commit, editable))
        except (KeyError, ValueError, OSError, SystemError):
            continue
    return found


class FactsCache:
    """Commit -> facts, and normalised content -> the node that first had it."""

    def __init__(self) -> None:
        self.by_commit: dict[str, CommitFacts] = {}
        self._by_content: dict[str, str] = {}  # content hash -> node id
        self._indexed: set[str] = set()  # node ids whose content is in the index

    def missing(self, tree: Tree) -> list[str]:
        """Commits of the tree's nodes whose facts are not known yet."""
        wanted = {n.commit for n in tree if n.commit and n.commit not in self.by_commit}
        return sorted(wanted)

    def add(self, facts: Mapping[str, CommitFacts], tree: Tree) -> None:
        """Merge facts read on the git thread; index the nodes they belong to."""
        self.by_commit.update(facts)
        for node in tree:
            if node.id not in self._indexed and node.kind != "rerun" and node.commit:
                known = self.by_commit.get(node.commit)
                if known is not None:
                    self._index(known.content, node.id, tree)

    def remember(self, node: Node, files: Mapping[str, str], tree: Tree) -> CommitFacts:
        """An accepted proposal's files (all editable files), before its commit exists,
        so that a twin accepted while this one commits is already a duplicate."""
        facts = facts_of(files)
        self._index(facts.content, node.id, tree)
        return facts

    def committed(self, commit: str, facts: CommitFacts) -> None:
        self.by_commit[commit] = facts

    def _index(self, content: str, node_id: str, tree: Tree) -> None:
        self._indexed.add(node_id)
        holder = self._by_content.get(content)
        if holder is None or _gone(tree, holder):
            self._by_content[content] = node_id

    def duplicate_of(self, files: Mapping[str, str], tree: Tree) -> Node | None:
        """The node whose editable files are `files` (whitespace aside), if any."""
        holder = self._by_content.get(content_hash(files))
        return None if holder is None or _gone(tree, holder) else tree[holder]

    def constants(self, node: Node) -> dict[str, str] | None:
        known = self.by_commit.get(node.commit) if node.commit else None
        return known.constants if known is not None else None


def _gone(tree: Tree, node_id: str) -> bool:
    """A node that no longer stands for its content: removed, or its commit failed."""
    return node_id not in tree or tree[node_id].status == "failed"
