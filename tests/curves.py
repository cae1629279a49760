"""A target whose loss curve falls to a level set by its constants, printed as
`step N (p%) | loss: X` over about two seconds, for the early-stopping tests
(search/early_stopping.py): a change that is worse all along, one that is better, one
that is worse but touches the schedule (exempt)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from synthetic import ScriptedProposer, make_workspace, until

from autoresearch_tui.search.scheduler import Scheduler
from autoresearch_tui.search.slots import Slot

# The loss curve's level is set by the constants; AR_SEED adds run-to-run noise.
CURVES_PY = textwrap.dedent(
    '''\
    """A trainer whose loss curve falls to a level set by its constants."""
    import os
    import random
    import time

    DEPTH = 8
    WIDTH = 4
    WARMUP = 0.1
    PENALTY = 0.0
    STEPS = 20
    PAUSE_S = 0.1

    rng = random.Random(int(os.environ.get("AR_SEED", "0")))
    final = 1.0 + abs(DEPTH - 12) * 0.05 + abs(WIDTH - 4) * 0.01 + (WARMUP - 0.1) * 3
    final += PENALTY + rng.gauss(0, 0.01)
    for step in range(STEPS):
        progress = (step + 1) / STEPS
        loss = final + 2.0 * (1 - progress) + rng.gauss(0, 0.005)
        print(f"step {step} ({progress * 100:.1f}%) | loss: {loss:.5f}", flush=True)
        time.sleep(PAUSE_S)
    print(f"val_bpb: {final:.6f}")
    '''
)

CURVES_TOML = textwrap.dedent(
    """\
    [target]
    editable  = ["train.py"]
    readonly  = ["prepare.py"]
    run       = "python train.py"
    metric    = "val_bpb"
    timeout_s = 60

    [search]
    slots = 2
    base_runs = 2
    confirm_runs = 0
    merge = false
    sandbox = "none"
    early_stop = true
    """
)

SLOTS = [Slot("cpu0", threads=1), Slot("cpu1", threads=1)]
BAD = [("PENALTY = 0.0", "PENALTY = 0.5")]  # worse all along the curve
GOOD = [("DEPTH = 8", "DEPTH = 12")]  # better
SCHEDULE = [("WARMUP = 0.1", "WARMUP = 0.3")]  # worse, but a schedule change: exempt


def curves_workspace(path: Path, toml: str = CURVES_TOML) -> Path:
    return make_workspace(path, train=CURVES_PY, toml=toml)


class AfterNoise(ScriptedProposer):
    """Proposes once the base's two runs are measured (the noise is known), so which
    child is judged does not depend on timing."""

    def __init__(self, script: list) -> None:
        super().__init__(script)
        self.search: Scheduler | None = None

    async def propose(self, request):  # type: ignore[no-untyped-def]
        await until(lambda: self.search is not None and self.search.tree.noise_groups(),
                    "the base's two runs", timeout=60)  # fmt: skip
        return await super().propose(request)
