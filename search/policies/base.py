"""The policy interface, the registry, and what every policy may expand."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from autoresearch_tui.search.config import SearchConfig
from autoresearch_tui.search.model import BROKEN, Node
from autoresearch_tui.search.tree import Tree


class Policy(Protocol):
    name: str
    sequential: bool  # True: never more than one experiment in flight

    def choose(self, tree: Tree, *, can_debug: bool, max_debug_depth: int) -> str | None:
        """The node to expand next, or None when nothing should be expanded now."""
        ...


POLICIES: dict[str, Callable[..., Policy]] = {}


def register(name: str) -> Callable[[type], type]:
    def add(cls: type) -> type:
        cls.name = name
        POLICIES[name] = cls
        return cls

    return add


def make_policy(name: str, **options: float) -> Policy:
    if name not in POLICIES:
        raise ValueError(f"policy {name!r} is unknown — use one of {', '.join(sorted(POLICIES))}")
    return POLICIES[name](**options)


def policy_options(name: str, search: SearchConfig) -> dict[str, float]:
    """The [search] settings a policy takes as constructor options."""
    return {"c": search.uct_c} if name == "uct" else {}


def debuggable(tree: Tree, node: Node, max_debug_depth: int) -> bool:
    """A crashed or timed-out node may get one debug child, at most `max_debug_depth` deep."""
    return (
        node.status in BROKEN
        and node.kind != "root"
        and tree.debug_depth(node.id) < max_debug_depth
        and not any(c.kind == "debug" for c in tree.children(node.id))
    )


def speculative_root(tree: Tree) -> bool:
    """Before the base has a metric, its children may be proposed while it runs."""
    root = tree.root
    return root is not None and root.status in ("ready", "running") and not root.pruned


def unpruned(tree: Tree) -> list[Node]:
    """Every node not in a pruned subtree."""
    return tree.unpruned()
