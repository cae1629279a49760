"""`ratchet`: exactly autoresearch. One experiment at a time, always from the single
current best (strictly better replaces it; otherwise the next try starts from the same
best, which is autoresearch's `git reset`). Boosts and debug children do not apply."""

from __future__ import annotations

from autoresearch_tui.search.policies.base import register
from autoresearch_tui.search.tree import Tree


@register
class Ratchet:
    name = "ratchet"
    sequential = True

    def choose(
        self, tree: Tree, *, can_debug: bool = False, max_debug_depth: int = 3
    ) -> str | None:
        best = tree.best()
        return best.id if best is not None else None
