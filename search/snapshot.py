"""Read a workspace's run without running it: the tree, the best node, totals, export.

Used by `status`, `export` and the report; opens state.db read-only, so it works while
a search is running in another process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from autoresearch_tui.search.config import Config
from autoresearch_tui.search.gitops import GitWorkspace
from autoresearch_tui.search.model import FINISHED, Node
from autoresearch_tui.search.store import Store
from autoresearch_tui.search.tree import Tree


class NoRunError(LookupError):
    """The workspace has no search state yet."""


@dataclass
class Snapshot:
    config: Config
    run: str
    base: str
    tree: Tree
    calls: dict[str, dict[str, float]]

    @property
    def best(self) -> Node | None:
        return self.tree.best()

    def node_dict(self, node: Node) -> dict[str, Any]:
        return {
            "id": node.id,
            "parent": node.parent,
            "parents": ([node.parent] if node.parent else []) + node.other_parents,
            "status": node.status,
            "kind": node.kind,
            "metric": node.metric,
            "delta_parent": self.tree.delta_parent(node),
            "delta_base": self.tree.delta_base(node),
            "persona": node.persona,
            "backend": node.backend,
            "model": node.model,
            "description": node.description,
            "reason": node.reason,
            "pruned": node.pruned,
            "boost": node.boost,
            "branch": node.branch,
            "commit": node.commit,
            "seconds": node.run_seconds,
        }

    def as_json(self) -> dict[str, Any]:
        best = self.best
        nodes = list(self.tree)
        finished = [n for n in nodes if n.status in FINISHED and n.kind != "root"]
        return {
            "workspace": str(self.config.root),
            "run": self.run,
            "metric": self.config.target.metric,
            "goal": self.config.target.goal,
            "base": {
                "commit": self.base,
                "metric": self.tree.root.metric if self.tree.root else None,
            },
            "best": self.node_dict(best) if best else None,
            "experiments": len(finished),
            "counts": {
                s: sum(1 for n in nodes if n.status == s) for s in sorted({n.status for n in nodes})
            },
            "calls": self.calls,
            "nodes": [self.node_dict(n) for n in nodes],
        }


def load_snapshot(config: Config) -> Snapshot:
    path = config.state_dir / "state.db"
    if not path.exists():
        raise NoRunError(
            f"{config.root}: no search has run here yet — start one with "
            f"`autoresearch-tui run {config.root} --headless`"
        )
    store = Store(path, readonly=True)
    try:
        return Snapshot(
            config=config,
            run=store.get_meta("run"),
            base=store.get_meta("base"),
            tree=Tree(config.target.goal, store.load_nodes()),
            calls=store.call_totals(),
        )
    finally:
        store.close()


def resolve_node(snapshot: Snapshot, which: str) -> Node:
    if which == "best":
        best = snapshot.best
        if best is None:
            raise LookupError("no node has a metric yet — wait for the first experiment to finish")
        return best
    if which not in snapshot.tree:
        raise LookupError(f"no node {which} in this run — `autoresearch-tui status` lists them")
    node = snapshot.tree[which]
    if not node.commit:
        raise LookupError(f"node {which} has no commit ({node.status}: {node.reason})")
    return node


def export_patch(snapshot: Snapshot, node: Node, *, series: bool = False) -> str:
    """`git diff base node -- editable`, or with series the lineage as format-patch mails."""
    git = GitWorkspace(snapshot.config.root, snapshot.config.state_dir)
    if series:
        return git.format_patch(snapshot.base, node.commit)
    return git.diff(snapshot.base, node.commit, snapshot.config.target.editable)
