"""`parallel-greedy`: autoresearch on N GPUs in the simplest way that works.

Waves of `slots` proposals, all children of the current best; when every child of the
wave has finished (or its proposal failed), the best node of the tree becomes the next
wave's parent. Before the base is measured the first wave grows from the running base.
The wave size is the search's slot count (`fit_slots`, called by the scheduler once its
slots are known; 1 until then). Boosts and debug children do not apply. Run it with
noise control off to match a plain parallel autoresearch (as `bench search` does).
"""

from __future__ import annotations

from autoresearch_tui.search.model import node_index
from autoresearch_tui.search.policies.base import register, speculative_root
from autoresearch_tui.search.tree import Tree

IN_FLIGHT = ("proposing", "ready", "running")


@register
class ParallelGreedy:
    name = "parallel-greedy"
    sequential = False

    def __init__(self, slots: float = 1) -> None:
        self.slots = max(1, int(slots))
        self.parent: str | None = None  # the wave's parent
        self.since = 0  # node index where the wave began: its children are from here on

    def fit_slots(self, slots: int) -> None:
        """The wave size: one proposal per slot."""
        self.slots = max(1, slots)

    def wave(self, tree: Tree) -> list[str]:
        """The current wave's children (failed proposals left out: they ran nothing)."""
        if self.parent is None or self.parent not in tree:
            return []
        return [
            c.id
            for c in tree.experiments(self.parent)
            if node_index(c.id) >= self.since and c.status != "failed"
        ]

    def _wave_over(self, tree: Tree) -> bool:
        if self.parent is None or self.parent not in tree or tree[self.parent].pruned:
            return True
        wave = self.wave(tree)
        return len(wave) >= self.slots and all(tree[c].status not in IN_FLIGHT for c in wave)

    def choose(
        self, tree: Tree, *, can_debug: bool = False, max_debug_depth: int = 3
    ) -> str | None:
        if self._wave_over(tree):
            best = tree.best()
            root = tree.root
            if best is None and root is not None and speculative_root(tree):
                best = root
            if best is None:
                return None
            self.parent, self.since = best.id, tree.next_index()
        if len(self.wave(tree)) >= self.slots:
            return None  # the wave is full: wait until it finishes
        return self.parent
