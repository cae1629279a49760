"""Proposals one at a time, in the order asked (search/proposing.py `turn`), for an
executor on a simulated clock (`Executor.serial_proposals`: the search benchmark's)."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest
from synthetic import InProcess, ScriptedProposer, until

from autoresearch_tui.search.config import load_config
from autoresearch_tui.search.scheduler import Scheduler
from autoresearch_tui.search.slots import Slot

SCRIPT = [
    [("LR = 0.04", "LR = 0.08")],
    [("DEPTH = 8", "DEPTH = 10")],
    [("WARMUP = 0.1", "WARMUP = 0.2")],
    [('ACT = "relu"', 'ACT = "gelu"')],
]


class Overlapping(ScriptedProposer):
    """Yields to the loop inside `propose` (as an HTTP call would), counting how many
    proposals are being made at once and the order they were asked for; with `company`,
    the first one waits (with a deadline) for a second to begin."""

    def __init__(self, company: bool) -> None:
        super().__init__([list(item) for item in SCRIPT])
        self.company = company
        self.active = self.most = 0
        self.asked: list[str] = []

    async def propose(self, request):  # type: ignore[no-untyped-def]
        self.active += 1
        self.most = max(self.most, self.active)
        self.asked.append(request.child_id)
        try:
            for _ in range(20):  # another proposal may start meanwhile
                await asyncio.sleep(0)
            if self.company and len(self.asked) == 1:
                await until(lambda: self.most > 1, "a second proposal at once", timeout=20)
            return await super().propose(request)
        finally:
            self.active -= 1


class Simulated(InProcess):
    serial_proposals = True


@pytest.mark.parametrize("serial", [True, False])
def test_proposals_take_turns_on_a_simulated_clock(workspace: Path, serial: bool) -> None:
    config = load_config(workspace, check_clean=False)
    config = dataclasses.replace(
        config, search=dataclasses.replace(config.search, base_runs=1, confirm_runs=0, merge=False)
    )
    proposer = Overlapping(company=not serial)
    executor = (Simulated if serial else InProcess)(lambda job: 1.0)
    s = Scheduler(
        config, [proposer], slots=[Slot("sim0"), Slot("sim1")], max_experiments=len(SCRIPT),
        executor=executor,
    )  # fmt: skip
    asyncio.run(s.run())
    assert len(proposer.asked) == len(SCRIPT)
    if serial:
        assert proposer.most == 1
        assert proposer.asked == sorted(proposer.asked)  # in the order the nodes were made
    else:  # the same search without turns overlaps its proposals
        assert proposer.most > 1
