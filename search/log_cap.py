"""A run's log file, capped by `[search] max_log_mb` (docs/ARCHITECTURE.md §3, §6).

The executors write a run's output through a `CappedLog`. Without a cap (0) it appends
everything. With one, the log keeps the run's first half-cap (the head, ended at a line
break when one is near) and its latest output (the tail), with one line where the middle
was cut: `[... 412 MB cut by autoresearch-tui: max_log_mb = 50 ...]`. The tail is kept
by compaction: once the part after the head passes half the cap, its last quarter-cap
stays and the rest goes, so the file stays within the cap (plus the marker and one chunk)
and each byte is copied at most once more. The parser still sees every byte as it
streams (search/output.py); only the file is capped.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

MB = 1 << 20
NEAR = 4096  # a cut moves to a line break at most this far away


def size_text(n: int) -> str:
    """Bytes as the marker line says them: `412 MB`, `3.5 MB`, `700 KB`."""
    if n >= 10 * MB:
        return f"{n / MB:.0f} MB"
    if n >= MB:
        return f"{n / MB:.1f} MB"
    return f"{max(1, round(n / 1024))} KB"


class CappedLog:
    """An append-only log file that keeps its head and tail within `max_mb` megabytes."""

    def __init__(self, path: Path, max_mb: float = 0.0) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.max_mb = path, max_mb
        self.cap = int(max_mb * MB) if max_mb > 0 else 0
        self.fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        self.size = os.fstat(self.fd).st_size  # an earlier attempt's output stays
        self.head_end = self.size + self.cap // 2  # final once the head is full
        self.head_full = False
        self.newline = self.size == 0 or os.pread(self.fd, 1, self.size - 1) == b"\n"
        self.head_newline = True  # the head does (the marker line needs no break before it)
        self.marker = b""  # the cut line, right after the head, once something was cut
        self.cut = 0  # bytes left out so far

    def write(self, data: bytes) -> int:
        if not self.cap:
            self._append(data)
            return len(data)
        rest = data
        if not self.head_full:
            room = self.head_end - self.size
            if len(rest) <= room:
                self._append(rest)
                return len(data)
            line_end = rest.rfind(b"\n", max(0, room - NEAR), room)
            end = line_end + 1 if line_end >= 0 else room
            self._append(rest[:end])
            self.head_full, self.head_end = True, self.size
            self.head_newline = self.newline
            rest = rest[end:]
        self._append(rest)
        if self.size - self.head_end - len(self.marker) > self.cap // 2:
            self._compact()
        return len(data)

    def _compact(self) -> None:
        """Keep the last quarter-cap after the head (from a line break when one is near),
        with the marker line in front of it saying how much is gone."""
        start = self.head_end + len(self.marker)
        want = self.cap // 4
        tail = os.pread(self.fd, want, self.size - want)
        line_end = tail.find(b"\n", 0, NEAR)
        if 0 <= line_end < len(tail) - 1:
            tail = tail[line_end + 1 :]
        self.cut += self.size - start - len(tail)
        gone = (
            f"[... {size_text(self.cut)} cut by autoresearch-tui: max_log_mb = {self.max_mb:g} ...]"
        )
        self.marker = ("" if self.head_newline else "\n").encode() + gone.encode() + b"\n"
        os.ftruncate(self.fd, self.head_end)
        self.size = self.head_end
        self._append(self.marker + tail)

    def _append(self, data: bytes) -> None:
        if data:
            self.newline = data.endswith(b"\n")
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]
            self.size += written

    def flush(self) -> None:
        """Nothing to do: every write goes straight to the file (readers see it at once)."""

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> CappedLog:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
