"""`[search] early_stop`, `early_stop_after`, `early_stop_margin`: the settings of early
stopping (search/early_stopping.py), read from the `[search]` table by search/config.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

KEYS = ("early_stop", "early_stop_after", "early_stop_margin")


@dataclass(frozen=True)
class EarlyStopConfig:
    """`[search] early_stop`, `early_stop_after`, `early_stop_margin`."""

    enabled: bool = False
    after: float = 0.4  # judged from this fraction of the run on
    margin: float = 1.0  # in run-to-run noise sds of the loss at the same progress


def _number(raw: dict[str, Any], key: str, default: float) -> float | None:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def read_early_stop(
    raw: dict[str, Any], fail: Callable[[str], Exception]
) -> tuple[EarlyStopConfig, dict[str, Any]]:
    """The early-stop settings of the `[search]` table `raw`, and the rest of the table.
    A bad value raises `fail(one line naming the key and the fix)`."""
    rest = {k: v for k, v in raw.items() if k not in KEYS}
    enabled = raw.get("early_stop", False)
    if not isinstance(enabled, bool):
        raise fail(f"[search] early_stop must be true or false, not {enabled!r}")
    after = _number(raw, "early_stop_after", 0.4)
    if after is None or not 0.0 < after < 1.0:
        raise fail(
            "[search] early_stop_after must be a fraction of the run between 0 and 1, "
            f"like 0.4 — got {raw.get('early_stop_after')!r}"
        )
    margin = _number(raw, "early_stop_margin", 1.0)
    if margin is None or margin < 0.0:
        raise fail(
            "[search] early_stop_margin must be a number of noise sds of 0 or more, "
            f"like 1.0 — got {raw.get('early_stop_margin')!r}"
        )
    return EarlyStopConfig(enabled, after, margin), rest
