"""The in-memory search tree: a networkx DiGraph of `Node`s, rebuilt from the store.

Edges run parent -> child; a merge node has two parents. The tree answers the questions
the policies, the scheduler and the views ask: the best node, lineage, subtrees, the
frontier, and the metric deltas shown everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import networkx as nx

from autoresearch_tui.search.model import ROOT_ID, Node, better, node_index


class Tree:
    def __init__(self, goal: str, nodes: Iterable[Node] = ()):
        self.goal = goal
        self.graph: nx.DiGraph = nx.DiGraph()
        for node in sorted(nodes, key=lambda n: node_index(n.id)):
            self.add(node)

    # -- structure ---------------------------------------------------------------------
    def add(self, node: Node) -> None:
        self.graph.add_node(node.id, node=node)
        for parent in ([node.parent] if node.parent else []) + node.other_parents:
            self.graph.add_edge(parent, node.id)

    def remove(self, node_id: str) -> None:
        self.graph.remove_node(node_id)

    def __getitem__(self, node_id: str) -> Node:
        return self.graph.nodes[node_id]["node"]

    def __contains__(self, node_id: object) -> bool:
        return node_id in self.graph

    def __len__(self) -> int:
        return self.graph.number_of_nodes()

    def __iter__(self) -> Iterator[Node]:
        return (data["node"] for _, data in self.graph.nodes(data=True))

    @property
    def root(self) -> Node | None:
        return self[ROOT_ID] if ROOT_ID in self.graph else None

    def next_index(self) -> int:
        return max((node_index(n) for n in self.graph), default=-1) + 1

    def children(self, node_id: str) -> list[Node]:
        return [self[c] for c in self.graph.successors(node_id)]

    def experiments(self, node_id: str) -> list[Node]:
        """Children that are experiments of their own (not re-runs of this node)."""
        return [c for c in self.children(node_id) if c.kind != "rerun"]

    def lineage(self, node_id: str) -> list[Node]:
        """Root -> node along first parents."""
        chain = []
        current: str | None = node_id
        while current is not None:
            chain.append(self[current])
            current = self[current].parent
        return chain[::-1]

    def subtree(self, node_id: str) -> set[str]:
        return {node_id} | nx.descendants(self.graph, node_id)

    def is_pruned(self, node_id: str) -> bool:
        """Pruned itself or below a pruned ancestor (first-parent chain)."""
        return any(n.pruned for n in self.lineage(node_id))

    def debug_depth(self, node_id: str) -> int:
        """How many debug steps in a row end at this node."""
        depth = 0
        for node in reversed(self.lineage(node_id)):
            if node.kind != "debug":
                break
            depth += 1
        return depth

    # -- metrics -----------------------------------------------------------------------
    def measured(self) -> list[Node]:
        """Nodes with a metric of their own (re-runs are samples of their parent)."""
        return [n for n in self if n.has_metric and n.kind != "rerun"]

    def best(self, *, include_pruned: bool = False) -> Node | None:
        """The node with the best metric (ties: the earliest)."""
        best: Node | None = None
        for node in self.measured():
            if not include_pruned and self.is_pruned(node.id):
                continue
            if best is None or better(node.metric, best.metric, self.goal):  # type: ignore[arg-type]
                best = node
        return best

    def delta_parent(self, node: Node) -> float | None:
        """vs the parent (for a re-run: vs the first run of the same commit)."""
        if not node.has_metric or node.parent is None:
            return None
        parent = self[node.parent]
        return node.metric - parent.metric if parent.has_metric else None  # type: ignore[operator]

    def delta_base(self, node: Node) -> float | None:
        root = self.root
        if not node.has_metric or root is None or not root.has_metric:
            return None
        return node.metric - root.metric  # type: ignore[operator]
