"""The ingest progress line of the ``mmrag`` command: ``ingest  1,234/8,681 pages  41 p/s  eta 3:01``.

A :class:`ProgressLine` is the ``(done, total)`` callback the pipeline calls from its ingest thread,
and draws :class:`rag.progress.PageBar` too: one renderer for the command and the Python API.
On a terminal it rewrites one line in place; into a file or pipe it writes a plain line now and then,
so logs stay readable.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TextIO


def clock_text(seconds: float) -> str:
    """``181 -> "3:01"``, ``3725 -> "1:02:05"``."""
    s = max(0, round(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ProgressLine:
    """A ``(done, total)`` callback that reports work in ``unit`` with its rate and time left."""

    def __init__(self, stream: TextIO, *, unit: str = "pages", label: str = "ingest",
                 interval: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        """``interval``: least seconds between two reports (default 0.2 on a terminal, 10 otherwise)."""
        self.stream = stream
        self.unit = unit
        self.label = label
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.interval = interval if interval is not None else (0.2 if self.tty else 10.0)
        self.clock = clock
        self._start: float | None = None
        self._last_report = -float("inf")
        self._last: tuple[int, int] | None = None
        self._lock = threading.Lock()  # called from the ingest thread; close() from the main one

    def text(self, done: int, total: int, elapsed: float | None = None) -> str:
        """The line for this state; ``elapsed``: seconds of the work so far (default: since the first call)."""
        line = f"{self.label}  {done:,}/{total:,} {self.unit}"
        if elapsed is None:
            elapsed = self.clock() - (self._start if self._start is not None else self.clock())
        if done > 0 and elapsed > 0:
            rate = done / elapsed
            line += f"  {rate:,.0f} {self.unit[0]}/s" if rate >= 10 else f"  {rate:.1f} {self.unit[0]}/s"
            if total > done:
                line += f"  eta {clock_text((total - done) / rate)}"
        return line

    def __call__(self, done: int, total: int, *, elapsed: float | None = None) -> None:
        """Report ``done`` of ``total`` (at most once per ``interval``, and always the last)."""
        with self._lock:
            now = self.clock()
            if self._start is None:
                self._start = now
            self._last = (done, total)
            if now - self._last_report < self.interval and done < total:
                return
            self._last_report = now
            self._write(self.text(done, total, elapsed))

    def _write(self, line: str) -> None:
        if self.tty:
            self.stream.write("\r" + line + "\x1b[K")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the line (on a terminal) after the last report."""
        with self._lock:
            if self._last is not None and self.tty:
                self.stream.write("\n")
                self.stream.flush()
            self._last = None


__all__ = ["ProgressLine", "clock_text"]
