"""Search policies: given the tree, pick the node to expand next.

A policy is a small class with a `name`, a `sequential` flag (one experiment at a time,
like autoresearch) and `choose(tree, ...)`. Add one in one file under this package,
decorate it with `@register`, and import it below.
"""

from autoresearch_tui.search.policies import (  # noqa: F401  (registers)
    best_first,
    parallel_greedy,
    ratchet,
    uct,
)
from autoresearch_tui.search.policies.base import (
    POLICIES,
    Policy,
    make_policy,
    policy_options,
    register,
)

__all__ = ["POLICIES", "Policy", "make_policy", "policy_options", "register"]
