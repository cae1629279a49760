"""The TUI's view of the search tree: nodes as the scheduler reported them, the rows the
tree widget shows, and the cached answers it needs on every frame (best node, pruned
subtrees, metric means) — kept incrementally so a new node costs O(depth + siblings),
not a walk of 5,000 nodes. Pure Python: no Textual here, so it is unit-testable.

`search.tree.Tree.best()` walks every node's lineage (≈180 ms at 5,000 nodes); this
model keeps `effectively pruned` flags and per-node means up to date instead and finds
the best in one pass over the measured nodes, only when a metric or prune changed.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field

from autoresearch_tui.search.model import FINISHED, Node, better, node_index
from autoresearch_tui.search.tree import Tree
from autoresearch_tui.search.values import NodeValue, node_value

BULK = 32  # more new nodes than this in one batch: rebuild the rows instead of inserting
STATUS_WORDS = (
    "proposing",
    "ready",
    "running",
    "done",
    "crashed",
    "timeout",
    "invalid",
    "failed",
    "stopped",
    "pruned",
    "boosted",
)


@dataclass
class Changes:
    """What one `TreeModel.update` batch did."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)  # became done/crashed/... in this batch
    rows_changed: bool = False  # rows were inserted or rebuilt
    first_row: int | None = None  # lowest row index that moved (None: nothing moved)
    best_changed: bool = False


class TreeModel:
    """Nodes by id, first-parent children in id order, visible rows, best and means."""

    def __init__(self, goal: str = "min"):
        self.goal = goal
        self.tree = Tree(goal)  # for deltas and gain states of single nodes
        self.kids: dict[str, list[str]] = {}
        self.depth: dict[str, int] = {}
        self.pruned_eff: set[str] = set()  # pruned itself or below a pruned node
        self.measured: set[str] = set()  # has a metric, not a re-run
        self.running_ids: set[str] = set()
        self.node_version: dict[str, int] = {}  # bumps when a node (or its re-runs) change
        self._mean: dict[str, float | None] = {}
        self.best_id: str | None = None
        self.spread: float | None = None
        self._spread_known = False
        self.counts: dict[str, int] = {}
        self.personas: set[str] = set()
        self.collapsed: set[str] = set()
        self.filter_text = ""
        self._visible: set[str] | None = None  # with a filter: matches and their ancestors
        self.rows: list[str] = []
        self._row_of: dict[str, int] | None = {}
        self.version = 0

    # -- reading -------------------------------------------------------------------------
    def __contains__(self, node_id: object) -> bool:
        return node_id in self.depth

    def __getitem__(self, node_id: str) -> Node:
        return self.tree[node_id]

    def get(self, node_id: str | None) -> Node | None:
        return self.tree[node_id] if node_id is not None and node_id in self.depth else None

    def __len__(self) -> int:
        return len(self.depth)

    def row_of(self, node_id: str) -> int | None:
        if self._row_of is None:
            self._row_of = {nid: i for i, nid in enumerate(self.rows)}
        return self._row_of.get(node_id)

    def children(self, node_id: str) -> list[str]:
        """First-parent children shown under a node (filtered when a filter is on)."""
        kids = self.kids.get(node_id, [])
        if self._visible is None:
            return kids
        return [k for k in kids if k in self._visible]

    def is_last_child(self, node_id: str) -> bool:
        parent = self.tree[node_id].parent
        if parent is None or parent not in self.depth:
            return True
        siblings = self.children(parent)
        return not siblings or siblings[-1] == node_id

    def hidden_below(self, node_id: str) -> int:
        """How many nodes a collapsed node hides."""
        count, stack = 0, list(self.children(node_id))
        while stack:
            nid = stack.pop()
            count += 1
            stack.extend(self.children(nid))
        return count

    def mean(self, node_id: str) -> float | None:
        if node_id not in self._mean:
            self._mean[node_id] = self.tree.metric_mean(node_id)
        return self._mean[node_id]

    def value(self, node_id: str) -> NodeValue:
        """The node's value, Δ and verdict (search/values.py, as every surface shows them)."""
        return node_value(self.tree, node_id, self.spread)

    def matches(self, node: Node) -> bool:
        """Does a node match the filter (persona or status, comma-separated, any term)?"""
        terms = [t.strip().lower() for t in self.filter_text.split(",") if t.strip()]
        if not terms:
            return True
        words = {node.persona.lower(), node.status.lower(), node.kind.lower()}
        if node.id in self.pruned_eff:
            words.add("pruned")
        if node.boost != 1.0:
            words.add("boosted")
        if node.id == self.best_id:
            words.add("best")
        return any(any(w.startswith(t) for w in words) for t in terms)

    @property
    def finished_count(self) -> int:
        """Experiments that ran (re-runs included, the base excluded)."""
        total = sum(v for k, v in self.counts.items() if k in FINISHED)
        root = self.tree.root
        return total - int(root is not None and root.status in FINISHED)

    # -- writing -------------------------------------------------------------------------
    def update(self, nodes: Iterable[Node]) -> Changes:
        """Apply a batch of node snapshots (new or changed), in any order."""
        changes = Changes()
        new_nodes: list[Node] = []
        prune_roots: list[str] = []
        candidates: list[str] = []  # may now beat the best
        full_best = False  # the best itself, a prune or a re-run of the best changed
        reruns_changed = False
        for node in sorted(nodes, key=lambda n: node_index(n.id)):
            old = self.tree[node.id] if node.id in self.depth else None
            if old is None:
                new_nodes.append(node)
            else:
                changes.changed.append(node.id)
                self.counts[old.status] = self.counts.get(old.status, 1) - 1
                if old.pruned != node.pruned:
                    prune_roots.append(node.id)
                    full_best = True
            if node.status in FINISHED and (old is None or old.status not in FINISHED):
                changes.finished.append(node.id)
            self.counts[node.status] = self.counts.get(node.status, 0) + 1
            self.personas.add(node.persona)
            measured_changed = old is None or (old.metric, old.status) != (
                node.metric,
                node.status,
            )
            if node.kind == "rerun":
                reruns_changed = reruns_changed or measured_changed
                if measured_changed and node.parent is not None:
                    if node.parent == self.best_id:
                        full_best = True
                    candidates.append(node.parent)
            elif node.id == self.best_id and measured_changed:
                full_best = True
            elif node.has_metric:
                candidates.append(node.id)
            self._store(node)
        for node in new_nodes:
            self._link(node)
            changes.added.append(node.id)
        for nid in prune_roots:
            self._repropagate_pruned(nid)
        if reruns_changed or not self._spread_known:
            self.spread = self.tree.noise_spread()
            self._spread_known = True
        old_best = self.best_id
        if full_best:
            self.best_id = self._find_best(self.measured)
        elif candidates:
            pool = set(candidates) & self.measured
            if self.best_id is not None:
                pool.add(self.best_id)
            self.best_id = self._find_best(pool)
        changes.best_changed = old_best != self.best_id
        if self._visible is not None:
            before = list(self.rows)
            self._rebuild_visible()
            self.rebuild_rows()
            if self.rows != before:
                changes.rows_changed, changes.first_row = True, 0
        elif len(new_nodes) > BULK:  # a resume or a burst: one O(n) pass beats n inserts
            self.rebuild_rows()
            changes.rows_changed, changes.first_row = True, 0
        else:
            for node in new_nodes:
                pos = self._insert_row(node.id)
                if pos is not None:
                    changes.rows_changed = True
                    if changes.first_row is None or pos < changes.first_row:
                        changes.first_row = pos
        self.version += 1
        return changes

    def _store(self, node: Node) -> None:
        self.tree.add(node)
        self._mean.pop(node.id, None)
        self.node_version[node.id] = self.node_version.get(node.id, 0) + 1
        if node.kind == "rerun" and node.parent:
            self._mean.pop(node.parent, None)
            self.node_version[node.parent] = self.node_version.get(node.parent, 0) + 1
        if node.status == "running":
            self.running_ids.add(node.id)
        else:
            self.running_ids.discard(node.id)
        if node.has_metric and node.kind != "rerun":
            self.measured.add(node.id)
        else:
            self.measured.discard(node.id)

    def _link(self, node: Node) -> None:
        parent = node.parent if node.parent in self.depth else None
        self.depth[node.id] = self.depth[parent] + 1 if parent else 0
        self.kids.setdefault(node.id, [])
        if parent:
            siblings = self.kids.setdefault(parent, [])
            index = node_index(node.id)
            if not siblings or node_index(siblings[-1]) < index:
                siblings.append(node.id)
            else:
                keys = [node_index(s) for s in siblings]
                siblings.insert(bisect.bisect(keys, index), node.id)
        if node.pruned or (parent is not None and parent in self.pruned_eff):
            self.pruned_eff.add(node.id)

    def _repropagate_pruned(self, root: str) -> None:
        parent = self.tree[root].parent
        stack = [(root, parent is not None and parent in self.pruned_eff)]
        while stack:
            nid, above = stack.pop()
            pruned = above or self.tree[nid].pruned
            if pruned:
                self.pruned_eff.add(nid)
            else:
                self.pruned_eff.discard(nid)
            stack.extend((k, pruned) for k in self.kids.get(nid, []))

    def _find_best(self, pool: Iterable[str]) -> str | None:
        """Same answer as Tree.best() over `pool`: the best mean among unpruned measured
        nodes; ties go to the earliest node."""
        best, best_mean, best_index = None, 0.0, 0
        pruned, measured = self.pruned_eff, self.measured
        for nid in pool:
            if nid in pruned or nid not in measured:
                continue
            mean = self.mean(nid)
            if mean is None:
                continue
            index = node_index(nid)
            if (
                best is None
                or better(mean, best_mean, self.goal)
                or (mean == best_mean and index < best_index)
            ):
                best, best_mean, best_index = nid, mean, index
        return best

    # -- rows ----------------------------------------------------------------------------
    def roots(self) -> list[str]:
        out = [nid for nid, d in self.depth.items() if d == 0]
        out.sort(key=node_index)
        return [r for r in out if self._visible is None or r in self._visible]

    def _subtree_rows(self, node_id: str, out: list[str]) -> None:
        stack = [node_id]
        while stack:
            nid = stack.pop()
            out.append(nid)
            if nid not in self.collapsed:
                stack.extend(reversed(self.children(nid)))

    def rebuild_rows(self) -> None:
        rows: list[str] = []
        for root in self.roots():
            self._subtree_rows(root, rows)
        self.rows = rows
        self._row_of = None

    def _shown(self, node_id: str) -> bool:
        """Is every ancestor expanded (so the node has a row)?"""
        parent = self.tree[node_id].parent
        while parent is not None and parent in self.depth:
            if parent in self.collapsed:
                return False
            parent = self.tree[parent].parent
        return True

    def _subtree_end(self, row: int) -> int:
        """The row after the last row of the subtree starting at `row`."""
        depth = self.depth[self.rows[row]]
        end = row + 1
        rows, depths = self.rows, self.depth
        while end < len(rows) and depths[rows[end]] > depth:
            end += 1
        return end

    def _insert_row(self, node_id: str) -> int | None:
        """Give a new node its row without rebuilding the others; its position or None."""
        parent = self.tree[node_id].parent
        if parent is None or parent not in self.depth:
            pos = len(self.rows)
        else:
            if not self._shown(node_id):
                return None
            parent_row = self.row_of(parent)
            if parent_row is None:
                return None
            siblings = self.kids[parent]
            i = siblings.index(node_id)
            after = next(
                (self.row_of(s) for s in siblings[i + 1 :] if self.row_of(s) is not None), None
            )
            pos = after if after is not None else self._subtree_end(parent_row)
        self.rows.insert(pos, node_id)
        if self._row_of is not None:
            if pos == len(self.rows) - 1:
                self._row_of[node_id] = pos
            else:
                self._row_of = None
        return pos

    def toggle(self, node_id: str, expand: bool | None = None) -> bool:
        """Collapse or expand a node; True if the rows changed."""
        if not self.kids.get(node_id):
            return False
        collapsed = node_id in self.collapsed
        want_collapsed = (not collapsed) if expand is None else (not expand)
        if want_collapsed == collapsed:
            return False
        row = self.row_of(node_id)
        if want_collapsed:
            self.collapsed.add(node_id)
        else:
            self.collapsed.discard(node_id)
        if row is None:
            return False
        end = self._subtree_end(row)
        sub: list[str] = []
        self._subtree_rows(node_id, sub)
        self.rows[row:end] = sub
        self._row_of = None
        return True

    def reveal(self, node_id: str) -> None:
        """Expand every ancestor of a node (and clear a filter that hides it)."""
        if self._visible is not None and node_id not in self._visible:
            self.set_filter("")
        parent = self.tree[node_id].parent
        changed = False
        while parent is not None and parent in self.depth:
            if parent in self.collapsed:
                self.collapsed.discard(parent)
                changed = True
            parent = self.tree[parent].parent
        if changed:
            self.rebuild_rows()

    def set_filter(self, text: str) -> None:
        self.filter_text = text.strip()
        if self.filter_text:
            self._rebuild_visible()
        else:
            self._visible = None
        self.rebuild_rows()

    def _rebuild_visible(self) -> None:
        visible: set[str] = set()
        for nid in self.depth:
            node = self.tree[nid]
            if not self.matches(node):
                continue
            current: str | None = nid
            while current is not None and current in self.depth and current not in visible:
                visible.add(current)
                current = self.tree[current].parent
        self._visible = visible

    def is_match(self, node_id: str) -> bool:
        """With a filter on: does this row match it (else it is shown as an ancestor)?"""
        return self._visible is None or self.matches(self.tree[node_id])

    def running(self) -> dict[str, str]:
        """slot name -> the node running on it."""
        out = {}
        for nid in sorted(self.running_ids, key=node_index):
            node = self.tree[nid]
            if node.slot:
                out[node.slot] = nid
        return out
