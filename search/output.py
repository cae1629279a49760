"""Reading an experiment's output as it streams: lines, loss points and the metric.

`\r` counts as a line break, so progress lines rewritten in place (autoresearch's
`step 00953 (100.0%) | loss: 3.12 | ...`) are read as they come. The result is the last
`<metric>: <float>` line, or the last match of `metric_regex` when one is configured.
Every executor feeds one (docs/ARCHITECTURE.md §6).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

FLOAT = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf|infinity)"
STEP_LINE = re.compile(rf"\bstep[\s:=]+(\d+)\b.*?\bloss\s*[:=]\s*({FLOAT})", re.IGNORECASE)
PROGRESS = re.compile(r"\((\d+(?:\.\d+)?)%\)")
LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass
class OutputParser:
    """Feed it chunks of output; it keeps the metric, new loss points and the last lines."""

    metric: str
    metric_regex: str = ""
    value: float | None = None
    progress: float = 0.0  # last "(p%)" seen, 0..100
    points: list[tuple[int, float, float]] = field(default_factory=list)  # unflushed
    tail: list[str] = field(default_factory=list)
    _partial: str = ""

    def __post_init__(self) -> None:
        self._metric_re = (
            re.compile(self.metric_regex)
            if self.metric_regex
            else re.compile(rf"^\s*{re.escape(self.metric)}\s*[:=]\s*({FLOAT})\s*$", re.IGNORECASE)
        )

    def feed(self, text: str, elapsed: float = 0.0) -> list[str]:
        """Consume text; return the complete lines it held."""
        pieces = LINE_BREAK.split(self._partial + text)
        self._partial = pieces.pop()
        lines = [p for p in pieces if p.strip()]
        for line in lines:
            self._line(line, elapsed)
        return lines

    def close(self, elapsed: float = 0.0) -> None:
        if self._partial.strip():
            self._line(self._partial, elapsed)
        self._partial = ""

    def _line(self, line: str, elapsed: float) -> None:
        self.tail.append(line)
        if len(self.tail) > 40:
            del self.tail[:-40]
        if (match := self._metric_re.search(line)) is not None:
            try:
                self.value = float(match.group(1))
            except ValueError:
                self.value = math.nan
        if (step := STEP_LINE.search(line)) is not None:
            if (pct := PROGRESS.search(line)) is not None:
                self.progress = float(pct.group(1))
            loss = float(step.group(2))
            if math.isfinite(loss):
                self.points.append((int(step.group(1)), loss, elapsed))

    def take_points(self) -> list[tuple[int, float, float]]:
        points, self.points = self.points, []
        return points

    def crash_reason(self, returncode: int | None) -> str:
        """Why this run does not count, or "" when it produced a finite metric."""
        last = self.tail[-1].strip()[:200] if self.tail else "no output"
        if returncode:
            return f"exit code {returncode}: {last}"
        if self.value is None:
            want = (
                f"a match of {self.metric_regex!r}"
                if self.metric_regex
                else f"'{self.metric}: <float>'"
            )
            return f"no {want} line in the output (last line: {last})"
        if not math.isfinite(self.value):
            return f"{self.metric} is {self.value}"
        return ""
