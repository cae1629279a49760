"""Synthetic research targets for the search benchmark: known landscapes.

Each landscape is a `train.py` of module-level constants (what the mutator edits)
whose metric is a known function of those constants plus Gaussian noise, so the *true*
value of every node is known. The noise is seeded by the constants and by AR_SEED (a
re-run samples it again; the same commit and seed give the same number, like a
deterministic trainer), and the file's own `SEED` constant feeds it too, so editing only
the seed finds "gains" that are pure noise. Shapes (all "min", around 1.0):

* `additive`    independent gains, one per constant, as Karpathy saw;
* `interacting` the best LR depends on the batch size, depth and width trade off,
                warm-up matters more at a high LR;
* `deceptive`   a ridge: LR and batch size lie in a narrow diagonal valley, so one
                step along either alone is worse and a greedy ratchet stalls, while a
                step to a slightly *worse* node and on from there gains;
* `crash`       the best LR and model size sit next to a crash region (divergence
                half-way through the run, out-of-memory at its start).

`evaluate` is what the benchmark's in-process executor calls; the rendered train.py runs
the same function as a script (`python train.py`), for the real executor.
"""

from __future__ import annotations

import ast
import hashlib
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

Constants = dict[str, int | float | bool | str]


def num(c: Constants, name: str) -> float:
    """A numeric constant (the formulas' inputs); a TypeError for any other value."""
    value = c[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, not {value!r}")
    return float(value)


def log2r(x: float, ref: float) -> float:
    """log2(x / ref), with non-positive x treated as very far away."""
    return math.log2(x / ref) if x > 0 and ref > 0 else 20.0


@dataclass(frozen=True)
class Landscape:
    name: str
    summary: str
    base: Constants  # the base commit's constants (SEED and knobs with no effect included)
    value: Callable[[Constants], float]  # true metric, lower is better
    crash: Callable[[Constants], tuple[float, str] | None] = lambda c: None
    noise: float = 0.003  # standard deviation of one run
    optimum: float = 1.0  # the noiseless minimum of `value` (the plots' reference line)
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)  # string constants

    def train_py(self) -> str:
        """The workspace's editable file."""
        lines = [f'"""Synthetic landscape {self.name!r}: {self.summary}"""', "import os", ""]
        lines += [f"{k} = {v!r}" for k, v in self.base.items()]
        lines.append("")
        for name, options in self.choices.items():
            lines.append(f"if {name} not in {options!r}:")
            lines.append(f"    raise ValueError({name})")
        lines += [
            "",
            'if __name__ == "__main__":',
            "    from autoresearch_tui.app.bench.landscapes import run_script",
            "",
            f'    run_script({self.name!r}, globals(), int(os.environ.get("AR_SEED", "0")))',
            "",
        ]
        return "\n".join(lines)

    def true_value(self, consts: Constants) -> float | None:
        """The noiseless metric, or None where the run crashes."""
        full = {**self.base, **consts}
        if self.crash(full) is not None:
            return None
        return self.value(full)

    def measure(self, consts: Constants, seed: int) -> tuple[float | None, float, str]:
        """One noisy run: (metric or None on a crash, fraction of the run used, reason)."""
        full = {**self.base, **consts}
        crashed = self.crash(full)
        if crashed is not None:
            return None, crashed[0], crashed[1]
        key = repr(sorted(full.items())) + f"|{seed}|{self.name}"
        rng = random.Random(hashlib.sha256(key.encode()).hexdigest())
        return self.value(full) + rng.gauss(0.0, self.noise), 1.0, ""


def read_constants(source: str) -> Constants:
    """Module-level `NAME = literal` assignments of a Python file."""
    out: Constants = {}
    for stmt in ast.parse(source).body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target = stmt.targets[0]
            if isinstance(target, ast.Name):
                try:
                    out[target.id] = ast.literal_eval(stmt.value)
                except ValueError:
                    continue
    return out


# -- the shapes ------------------------------------------------------------------------
def _additive(c: Constants) -> float:
    v = 1.0
    v += 0.010 * log2r(num(c, "MATRIX_LR"), 0.1) ** 2
    v += 0.004 * log2r(num(c, "WEIGHT_DECAY"), 0.025) ** 2
    v += 0.300 * (num(c, "WARMUP_RATIO") - 0.2) ** 2
    v += 0.008 * log2r(num(c, "DEPTH"), 8) ** 2
    v += 0.005 * log2r(num(c, "BATCH_SIZE"), 64) ** 2
    v += 0.0 if c["QK_NORM"] else 0.008
    v += {"relu": 0.008, "gelu": 0.002, "silu": 0.0}[str(c["ACT"])]
    return v


ADDITIVE = Landscape(
    name="additive",
    summary="independent gains: each constant has its own optimum",
    base={
        "MATRIX_LR": 0.04,
        "WEIGHT_DECAY": 0.1,
        "WARMUP_RATIO": 0.05,
        "DEPTH": 4,
        "BATCH_SIZE": 32,
        "QK_NORM": False,
        "ACT": "relu",
        "LOG_EVERY": 100,
        "SEED": 1337,
    },
    value=_additive,
    choices={"ACT": ("relu", "gelu", "silu")},
)


def _interacting(c: Constants) -> float:
    lr, batch = log2r(num(c, "LR"), 1.0), log2r(num(c, "BATCH_SIZE"), 1.0)
    depth, width = log2r(num(c, "DEPTH"), 1.0), log2r(num(c, "WIDTH"), 1.0)
    v = 1.0
    v += 0.015 * (lr - 0.5 * batch + 7.0) ** 2  # best LR ~ sqrt(batch): 0.044 at 32, 0.088 at 128
    v += 0.006 * (batch - 7.0) ** 2  # bigger batches help (up to 128)
    v += 0.006 * (depth + width - 13.0) ** 2  # capacity: depth * width ~ 8192
    v += 0.004 * (width - depth - 7.0) ** 2  # aspect: width ~ 128 * depth
    v += 0.5 * max(0.0, lr + 4.0) * (num(c, "WARMUP_RATIO") - 0.15) ** 2
    return v


INTERACTING = Landscape(
    name="interacting",
    summary="the best LR depends on the batch size; depth and width trade off",
    base={
        "LR": 0.02,
        "BATCH_SIZE": 16,
        "DEPTH": 4,
        "WIDTH": 256,
        "WARMUP_RATIO": 0.05,
        "LOG_EVERY": 100,
        "SEED": 1337,
    },
    value=_interacting,
)


def _deceptive(c: Constants) -> float:
    lr, batch = log2r(num(c, "LR"), 1.0), log2r(num(c, "BATCH_SIZE"), 1.0)
    v = 1.0
    # A narrow diagonal valley: the best LR grows with sqrt(batch), and bigger batches
    # are better, but slowly. One step along either axis alone leaves the valley floor
    # and costs more than it gains, so a greedy ratchet stalls on the ridge; a step to a
    # (slightly worse) bigger batch, then an LR step from there, gains.
    v += 0.08 * (lr - 0.5 * batch + 6.64) ** 2
    v += 0.002 * (batch - 8.0) ** 2  # BATCH_SIZE 256 is best
    v += 0.3 * (num(c, "WARMUP_RATIO") - 0.2) ** 2
    v += 0.0 if c["QK_NORM"] else 0.006
    return v


DECEPTIVE = Landscape(
    name="deceptive",
    summary="a ridge: LR and batch size must move together; greedy single steps stall",
    base={
        "LR": 0.04,
        "BATCH_SIZE": 16,
        "WARMUP_RATIO": 0.1,
        "QK_NORM": False,
        "LOG_EVERY": 100,
        "SEED": 1337,
    },
    value=_deceptive,
)


def _crash_value(c: Constants) -> float:
    v = 1.0
    v += 0.03 * log2r(num(c, "LR"), 0.16) ** 2
    v += 0.015 * log2r(num(c, "DEPTH") * num(c, "WIDTH"), 8192) ** 2
    v += 0.1 * (num(c, "WARMUP_RATIO") - 0.3) ** 2
    v += 0.0 if c["QK_NORM"] else 0.005
    return v


def _crash_region(c: Constants) -> tuple[float, str] | None:
    if num(c, "DEPTH") * num(c, "WIDTH") > 8192:
        return 0.05, "CUDA out of memory"
    if num(c, "LR") > 0.1 * (1.0 + 2.0 * num(c, "WARMUP_RATIO")):
        return 0.5, "loss is nan (diverged)"
    return None


CRASH = Landscape(
    name="crash",
    summary="the best LR and model size sit next to a crash region",
    base={
        "LR": 0.04,
        "WARMUP_RATIO": 0.05,
        "DEPTH": 4,
        "WIDTH": 512,
        "QK_NORM": False,
        "LOG_EVERY": 100,
        "SEED": 1337,
    },
    value=_crash_value,
    crash=_crash_region,
)

LANDSCAPES: dict[str, Landscape] = {ls.name: ls for ls in (ADDITIVE, INTERACTING, DECEPTIVE, CRASH)}


def evaluate(
    landscape: Landscape, files: dict[str, str], seed: int
) -> tuple[float | None, float, str]:
    """Measure a node from its editable files (train.py): see Landscape.measure."""
    return landscape.measure(read_constants(files["train.py"]), seed)


def run_script(name: str, module_globals: dict[str, object], seed: int) -> None:
    """Body of a rendered train.py run as a script: print the metric or crash."""
    landscape = LANDSCAPES[name]
    consts: Constants = {
        k: v
        for k, v in module_globals.items()
        if k in landscape.base and isinstance(v, int | float | str)  # bool is an int
    }
    metric, used, reason = landscape.measure(consts, seed)
    from autoresearch_tui.app.bench.curves import curve, lines  # it imports this module

    final = metric if metric is not None else landscape.value({**landscape.base, **consts})
    print("\n".join(lines(curve(landscape, consts, final, f"script:{seed}", used))))
    if metric is None:
        raise RuntimeError(reason)
    print("---")
    print(f"val_bpb:          {metric:.6f}")
