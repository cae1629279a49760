"""Reading an experiment's output as it streams: lines, loss points and the metric.

`\r` counts as a line break, so progress lines rewritten in place (autoresearch's
`step 00953 (100.0%) | loss: 3.12 | ...`) are read as they come. The result is the last
`<metric>: <float>` line, or the last match of `metric_regex` when one is configured.
Every executor feeds one (docs/ARCHITECTURE.md §6).

The work is linear in the output's length, whatever its shape: each chunk is scanned
once, and only the first MAX_LINE characters of a line are kept and parsed (the log has
all of it). Loss points: all of the first FULL_POINTS, then every k-th, k doubling every
BAND_POINTS kept, so a million step lines give about twenty thousand points (the store
keeps at most MAX_POINTS a node, search/store.py); the first and the latest are kept.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

FLOAT = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf|infinity)"
# `.{0,300}?`, not `.*?`: a long line of "step"s without a loss is still read in linear time
STEP_LINE = re.compile(rf"\bstep[\s:=]+(\d+)\b.{{0,300}}?\bloss\s*[:=]\s*({FLOAT})", re.IGNORECASE)
PROGRESS = re.compile(r"\((\d+(?:\.\d+)?)%\)")
LINE_BREAK = re.compile(r"\r\n|\r|\n")
MAX_LINE = 65536  # characters of one line kept for parsing; the rest goes to the log only
FULL_POINTS = 4000  # loss points all kept; then every k-th, k doubling every BAND_POINTS
BAND_POINTS = 2000
MAX_POINTS = 8000  # loss points a node keeps in the store (search/store.py)

Point = tuple[int, float, float]  # step, loss, seconds


@dataclass
class OutputParser:
    """Feed it chunks of output; it keeps the metric, new loss points and the last lines."""

    metric: str
    metric_regex: str = ""
    value: float | None = None
    progress: float = 0.0  # last "(p%)" seen, 0..100
    points: list[Point] = field(default_factory=list)  # unflushed
    tail: list[str] = field(default_factory=list)
    scanned: int = 0  # characters examined so far: at most twice what was fed
    _partial: list[str] = field(default_factory=list)  # an unterminated line, cut at MAX_LINE
    _partial_len: int = 0
    _kept: int = 0  # loss points kept so far
    _since: int = 0  # loss points seen since the last one kept
    _skipped: Point | None = None  # the latest point, when it was not kept
    _percents: list[float] = field(default_factory=list)  # each unflushed point's "(p%)"

    def __post_init__(self) -> None:
        self._metric_re = (
            re.compile(self.metric_regex)
            if self.metric_regex
            else re.compile(rf"^\s*{re.escape(self.metric)}\s*[:=]\s*({FLOAT})\s*$", re.IGNORECASE)
        )

    def feed(self, text: str, elapsed: float = 0.0) -> list[str]:
        """Consume text; return the complete lines it held (each cut at MAX_LINE)."""
        self.scanned += len(text)
        pieces = LINE_BREAK.split(text)  # the new text only: a partial line is not rescanned
        self._keep(pieces[0])
        if len(pieces) == 1:
            return []
        pieces[0] = self._take_partial()
        self._keep(pieces.pop())
        lines = [p[:MAX_LINE] for p in pieces if p.strip()]
        for line in lines:
            self._line(line, elapsed)
        return lines

    def close(self, elapsed: float = 0.0) -> None:
        partial = self._take_partial()
        if partial.strip():
            self._line(partial, elapsed)
        if self._skipped is not None:  # the latest point is kept
            self.points.append(self._skipped)
            self._percents.append(self.progress)
            self._skipped = None

    def _keep(self, piece: str) -> None:
        """Add `piece` to the unterminated line, as far as MAX_LINE allows."""
        room = MAX_LINE - self._partial_len
        if room > 0 and piece:
            self._partial.append(piece[:room])
            self._partial_len += min(room, len(piece))

    def _take_partial(self) -> str:
        partial = "".join(self._partial)
        self._partial, self._partial_len = [], 0
        return partial

    def _line(self, line: str, elapsed: float) -> None:
        self.scanned += len(line)
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
                self._point((int(step.group(1)), loss, elapsed))

    def _point(self, point: Point) -> None:
        """Keep all of the first FULL_POINTS, then every k-th (the module docstring)."""
        past = self._kept - FULL_POINTS
        stride = 1 if past < 0 else 2 ** (1 + past // BAND_POINTS)
        self._since += 1
        if self._since < stride:
            self._skipped = point
            return
        self.points.append(point)
        self._percents.append(self.progress)
        self._kept += 1
        self._since, self._skipped = 0, None

    def take_points(self) -> list[Point]:
        points, self.points, self._percents = self.points, [], []
        return points

    def take_rows(self) -> list[tuple[int, float, float, float]]:
        """The unflushed points, each with the "(p%)" it was printed with (step, loss,
        seconds, percent): a flush's points each have their own progress."""
        rows = [(*point, pct) for point, pct in zip(self.points, self._percents, strict=True)]
        self.points, self._percents = [], []
        return rows

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
