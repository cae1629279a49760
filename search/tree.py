"""The in-memory search tree: a networkx DiGraph of `Node`s, rebuilt from the store.

Edges run parent -> child; a merge node has two parents. The tree answers the questions
the policies, the scheduler and the views ask: the best node, lineage, subtrees, the
frontier, and the metric deltas shown everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import networkx as nx

from autoresearch_tui.search.model import ROOT_ID, Node, better, improvement, node_index
from autoresearch_tui.search.noise import SPREAD_SDS, pooled_std

_UNSET = -1.0  # gain_state: compute the spread
GAIN_STATES = ("base", "rerun", "pending", "seed-only", "no-gain", "unconfirmed", "confirmed")


class Tree:
    def __init__(self, goal: str, nodes: Iterable[Node] = (), *, required_samples: int = 2):
        self.goal = goal
        # Runs of a commit (its own + re-runs) before its gain may count as confirmed.
        self.required_samples = required_samples
        self.graph: nx.DiGraph = nx.DiGraph()
        self._nodes: dict[str, Node] = {}  # the same nodes, for O(1) lookups in hot loops
        self._next = 0
        self._reruns: dict[str, list[Node]] = {}  # node id -> its re-run children
        self._children: dict[str, list[Node]] = {}  # the graph's successors, without its overhead
        # Answers kept until the next change (`touch`): unpruned(), and best() per arguments.
        self._unpruned_nodes: list[Node] | None = None
        self._best_nodes: dict[tuple[bool, bool], Node | None] = {}
        for node in sorted(nodes, key=lambda n: node_index(n.id)):
            self.add(node)

    # -- structure ---------------------------------------------------------------------
    def touch(self) -> None:
        """A node changed (status, metric, prune, boost): drop the cached answers."""
        self._unpruned_nodes = None
        self._best_nodes.clear()

    def add(self, node: Node) -> None:
        self.touch()
        self._nodes[node.id] = node
        self._next = max(self._next, node_index(node.id) + 1)
        if node.kind == "rerun" and node.parent:
            self._reruns.setdefault(node.parent, []).append(node)
        self.graph.add_node(node.id, node=node)
        self._children.setdefault(node.id, [])
        for parent in ([node.parent] if node.parent else []) + node.other_parents:
            self.graph.add_edge(parent, node.id)
            self._children.setdefault(parent, []).append(node)

    def remove(self, node_id: str) -> None:
        self.touch()
        self.graph.remove_node(node_id)
        node = self._nodes.pop(node_id)
        self._children.pop(node_id, None)
        for parent in ([node.parent] if node.parent else []) + node.other_parents:
            if node in self._children.get(parent, ()):
                self._children[parent].remove(node)
        if node.kind == "rerun" and node.parent in self._reruns:
            self._reruns[node.parent].remove(node)

    def __getitem__(self, node_id: str) -> Node:
        return self._nodes[node_id]

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def __iter__(self) -> Iterator[Node]:
        return iter(list(self._nodes.values()))

    @property
    def root(self) -> Node | None:
        return self._nodes.get(ROOT_ID)

    def next_index(self) -> int:
        return self._next

    def children(self, node_id: str) -> list[Node]:
        return list(self._children.get(node_id, ()))

    def experiments(self, node_id: str) -> list[Node]:
        """Children that are experiments of their own (not re-runs of this node)."""
        return [c for c in self.children(node_id) if c.kind != "rerun"]

    def lineage(self, node_id: str) -> list[Node]:
        """Root -> node along first parents."""
        chain: list[Node] = []
        current: str | None = node_id
        while current is not None:
            chain.append(self[current])
            current = self[current].parent
        return chain[::-1]

    def subtree(self, node_id: str) -> set[str]:
        descendants: set[str] = nx.descendants(self.graph, node_id)
        return {node_id} | descendants

    def is_pruned(self, node_id: str) -> bool:
        """Pruned itself or below a pruned ancestor (first-parent chain)."""
        return any(n.pruned for n in self.lineage(node_id))

    def unpruned(self) -> list[Node]:
        """Every node outside pruned subtrees, in one walk from the root (O(n), where
        asking is_pruned of each node would cost O(n x depth)); cached until a change."""
        if self._unpruned_nodes is None:
            self._unpruned_nodes = self._unpruned()
        return self._unpruned_nodes

    def _unpruned(self) -> list[Node]:
        if ROOT_ID not in self._nodes:
            return []
        keep: list[Node] = []
        stack, seen = [ROOT_ID], set()
        while stack:
            nid = stack.pop()
            if nid in seen or self._nodes[nid].pruned:
                continue
            seen.add(nid)
            keep.append(self._nodes[nid])
            stack.extend(c.id for c in self._children.get(nid, ()))
        return keep

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

    def best(self, *, include_pruned: bool = False, confirmed: bool = False) -> Node | None:
        """The node with the best mean metric over its runs (ties: the earliest); with
        `confirmed`, among the base and the nodes whose gain is confirmed. Seed-only edits
        never count (their code is their parent's; their metric is another seed's sample).
        Cached until a change (`touch`)."""
        key = (include_pruned, confirmed)
        if key not in self._best_nodes:
            self._best_nodes[key] = self._best(include_pruned, confirmed)
        return self._best_nodes[key]

    def _best(self, include_pruned: bool, confirmed: bool) -> Node | None:
        best: Node | None = None
        best_mean = 0.0
        spread = self.noise_spread() if confirmed else None
        pool = self if include_pruned else self.unpruned()
        for node in pool:
            if not node.has_metric or node.kind == "rerun" or node.seed_only:
                continue
            if confirmed and self.gain_state(node.id, spread) not in ("base", "confirmed"):
                continue
            mean = self.metric_mean(node.id)
            if mean is None:
                continue
            if (
                best is None
                or better(mean, best_mean, self.goal)
                or (mean == best_mean and node_index(node.id) < node_index(best.id))
            ):  # ties: the earliest node
                best, best_mean = node, mean
        return best

    # -- noise and confirmation (docs/ARCHITECTURE.md §4; search/noise.py) --------------
    def samples(self, node_id: str) -> list[float]:
        """Every metric measured for this node's commit: its own run, then its re-runs
        (for a re-run node: the samples of the node it repeats)."""
        node = self[node_id]
        if node.kind == "rerun" and node.parent is not None:
            return self.samples(node.parent)
        runs = [node, *self._reruns.get(node_id, ())]
        return [m for run in runs if (m := run.measured_metric) is not None]

    def metric_mean(self, node_id: str) -> float | None:
        """The mean of the node's samples; None before its first run finished."""
        node = self._nodes[node_id]
        if node.kind != "rerun" and node_id not in self._reruns:  # the common case: one run
            return node.metric if node.has_metric else None
        samples = self.samples(node_id)
        return sum(samples) / len(samples) if samples and self[node_id].has_metric else None

    def ranking_mean(self, node_id: str) -> float | None:
        """The mean policies rank a node by: its own, except for a seed-only edit, which is
        worth its reference's (its code is the same; its luck is not a gain)."""
        node = self[node_id]
        if node.seed_only and (ref := self.reference(node_id)) is not None:
            return self.metric_mean(ref.id)
        return self.metric_mean(node_id)

    def noise_groups(self) -> list[list[float]]:
        """The samples the spread is pooled from: those of every commit that was re-run
        (the base's calibration runs first), two or more each."""
        repeated = {n.parent for n in self if n.kind == "rerun" and n.has_metric and n.parent}
        groups = [self.samples(p) for p in sorted(repeated) if p in self]
        return [g for g in groups if len(g) >= 2]

    def noise_spread(self) -> float | None:
        """Run-to-run spread: SPREAD_SDS pooled standard deviations of one run, pooled over
        `noise_groups`; None before any commit has two runs."""
        sd = pooled_std(self.noise_groups())
        return None if sd is None else SPREAD_SDS * sd

    def reference(self, node_id: str) -> Node | None:
        """What a node's gain is measured against: its parent (for a merge, the better of
        its parents), or the nearest measured ancestor when that parent has no metric."""
        node = self[node_id]
        refs = []
        for parent in ([node.parent] if node.parent else []) + node.other_parents:
            current: str | None = parent
            while current is not None and current in self and not self[current].has_metric:
                current = self[current].parent
            if current is not None and current in self:
                refs.append(self[current])
        sign = 1.0 if self.goal == "min" else -1.0
        ranked = [(sign * m, r) for r in refs if (m := self.metric_mean(r.id)) is not None]
        return min(ranked, key=lambda pair: pair[0])[1] if ranked else None

    def gain(self, node_id: str) -> float | None:
        """Improvement of the node's mean over its reference's mean (positive = better)."""
        mean = self.metric_mean(node_id)
        ref = self.reference(node_id)
        ref_mean = self.metric_mean(ref.id) if ref is not None else None
        if mean is None or ref_mean is None:
            return None
        return improvement(mean, ref_mean, self.goal)

    def gain_state(self, node_id: str, spread: float | None = _UNSET) -> str:
        """One of GAIN_STATES. `confirmed`: re-run (required_samples runs) and the mean
        beats the reference by more than the noise spread; `unconfirmed`: better, but not
        re-run yet or within the spread; `seed-only`: the edit changes only a seed.
        Pass `spread` (noise_spread()) when asking for many nodes."""
        node = self[node_id]
        if node.kind == "root":
            return "base"
        if node.kind == "rerun":
            return "rerun"
        if not node.has_metric:
            return "pending"
        if node.seed_only:
            return "seed-only"
        gain = self.gain(node_id)
        if gain is None:
            return "unconfirmed"
        if gain <= 0:
            return "no-gain"
        if len(self.samples(node_id)) < self.required_samples:
            return "unconfirmed"
        if spread is not None and spread < 0:
            spread = self.noise_spread()
        if spread is None or gain <= spread:
            return "unconfirmed"
        return "confirmed"

    def is_confirmed(self, node_id: str) -> bool:
        """The base, or a node whose gain is confirmed (see gain_state)."""
        return self.gain_state(node_id) in ("base", "confirmed")

    def delta_parent(self, node: Node) -> float | None:
        """Δ: the node's mean minus its reference's mean (metric units; search/values.py
        defines it for every surface); None for a re-run, a sample of its node, not a change."""
        if node.parent is None or node.kind == "rerun":
            return None
        mean, ref = self.metric_mean(node.id), self.reference(node.id)
        ref_mean = self.metric_mean(ref.id) if ref is not None else None
        return mean - ref_mean if mean is not None and ref_mean is not None else None

    def delta_base(self, node: Node) -> float | None:
        """The node's mean minus the base's mean; None for the base itself and re-runs."""
        if node.parent is None or node.kind == "rerun" or self.root is None:
            return None
        mean, base = self.metric_mean(node.id), self.metric_mean(self.root.id)
        return mean - base if mean is not None and base is not None else None
