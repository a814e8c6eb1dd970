"""A one-line progress bar with rate and time left, for long applies.

A counter of items done out of a total, which the runbook's narrator
(cutover/progress.py: events, hosts per stage) is not; the time left is
reckoned and written as it does it (``eta``, ``format_seconds``).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from freeze.cutover.progress import eta, format_seconds


class Progress:
    def __init__(self, total: int, label: str = 'apply',
                 stream: TextIO = sys.stderr, interval: float = 0.5) -> None:
        self.total, self.label, self.stream = total, label, stream
        self.done = 0
        self.began = self._shown = time.monotonic()
        # A log file gets a line every few seconds, a terminal a live bar.
        self.interval = interval if stream.isatty() else 10 * interval
        self.end = '\r' if stream.isatty() else '\n'
        self._lock = threading.Lock()

    def __call__(self, n: int) -> None:
        with self._lock:
            self.done += n
            now = time.monotonic()
            if now - self._shown >= self.interval or self.done >= self.total:
                self._shown = now
                self.stream.write(self.line(now) + self.end)
                self.stream.flush()

    def line(self, now: float) -> str:
        elapsed = max(now - self.began, 1e-9)
        left = eta(elapsed, self.done, self.total - self.done)
        width = 30
        filled = int(width * self.done / self.total) if self.total else width
        return (f'{self.label} [{"#" * filled}{"." * (width - filled)}] '
                f'{self.done}/{self.total} {self.done / elapsed:.1f}/s, '
                f'{format_seconds(left)} left ')

    def close(self) -> None:
        if self.total and self.end == '\r':
            self.stream.write('\n')
