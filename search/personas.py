"""Which persona proposes next, its back-off after failures, and what the agents cost.

Ordinary children go to the personas by a weighted round robin, or by the persona bandit
when `[search] bandit` is on (search/bandit.py); a crashed parent's debug child goes to a
`debugger` persona when there is one (else to any persona that can debug); a merge
conflict only to a model-backed persona (docs/ARCHITECTURE.md §4, §5). A persona whose
proposals fail waits a back-off that grows with its failures in a row; after
`MAX_FAILED_IN_A_ROW` failed proposals in a row, of all personas, no more are asked for.
The agents' spend (dollars per persona@backend, and the run's total) is kept here: the
bandit weighs it and `[search] max_cost_usd` caps it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from autoresearch_tui.agents.proposer import CallRecord, Proposer
from autoresearch_tui.search.bandit import PersonaBandit, persona_key
from autoresearch_tui.search.tree import Tree

MAX_FAILED_IN_A_ROW = 50  # proposals; then the search stops asking and says why
BACKOFF_S = (0.0, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)  # by failures in a row


class Personas:
    """The proposers and their record in this process: uses, failures, back-offs, spend."""

    def __init__(self, proposers: Sequence[Proposer], bandit: PersonaBandit | None) -> None:
        self.proposers = list(proposers)
        self.bandit = bandit
        self.uses: dict[str, int] = {}  # label -> proposals asked of it
        self.failures: dict[str, int] = {}  # label -> failed proposals in a row
        self.cooldown: dict[str, float] = {}  # label -> monotonic time it may go again
        self.failed_in_a_row = 0  # of all personas
        self.agent_usd: dict[str, float] = {}  # persona@backend -> its agent calls' dollars
        self.cost_usd = 0.0  # every agent call of the run

    @property
    def can_debug(self) -> bool:
        return any(getattr(p, "can_debug", False) for p in self.proposers)

    @property
    def exhausted(self) -> bool:
        """So many proposals failed in a row that the search asks for no more."""
        return self.failed_in_a_row >= MAX_FAILED_IN_A_ROW

    def cooling_down(self) -> bool:
        """Some persona waits out a back-off (and the search has not given up)."""
        now = time.monotonic()
        return not self.exhausted and any(t > now for t in self.cooldown.values())

    def pick(self, kind: str, tree: Tree) -> Proposer | None:
        """The persona for a child of this kind (improve, debug, merge); None: every one
        that could is in back-off."""
        pool = self.proposers
        if kind == "merge":  # conflict resolution: model-backed personas only
            pool = [p for p in pool if getattr(p, "can_merge", False)]
        elif kind == "debug":
            pool = [p for p in pool if getattr(p, "can_debug", False)]
            named = [p for p in pool if p.spec.persona == "debugger"]
            pool = named or pool
        else:
            pool = [p for p in pool if p.spec.persona != "debugger"] or pool
        now = time.monotonic()
        pool = [p for p in pool if self.cooldown.get(p.spec.label, 0.0) <= now]
        if not pool:
            return None
        if self.bandit is not None and kind == "improve":
            return self.bandit.choose(tree, pool, self.uses, self.agent_usd)
        return min(
            pool,
            key=lambda p: (self.uses.get(p.spec.label, 0) + 1) / max(p.spec.weight, 1e-9),
        )

    def count_use(self, proposer: Proposer) -> None:
        """Counted when asked, so that one batch of picks rotates."""
        label = proposer.spec.label
        self.uses[label] = self.uses.get(label, 0) + 1

    def succeeded(self, label: str) -> None:
        self.failures[label] = self.failed_in_a_row = 0

    def failed(self, label: str) -> float:
        """Count a failed proposal; return the persona's back-off in seconds (0: none)."""
        failures = self.failures[label] = self.failures.get(label, 0) + 1
        self.failed_in_a_row += 1
        delay = BACKOFF_S[min(failures - 1, len(BACKOFF_S) - 1)]
        if delay:
            self.cooldown[label] = time.monotonic() + delay
        return delay

    def load_spend(self, cost_usd: float, agent_usd: dict[str, float]) -> None:
        """What the run's agent calls cost before this process (from state.db)."""
        self.cost_usd = cost_usd
        self.agent_usd.update(agent_usd)

    def add_calls(self, calls: Sequence[CallRecord]) -> None:
        self.cost_usd += sum(c.cost_usd for c in calls)
        for c in calls:
            key = persona_key(c.persona, c.backend)
            self.agent_usd[key] = self.agent_usd.get(key, 0.0) + c.cost_usd
