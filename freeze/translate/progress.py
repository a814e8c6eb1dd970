"""A one-line progress bar with rate and time left, for long applies."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


class Progress:
    def __init__(self, total: int, label: str = 'apply',
                 stream: TextIO = sys.stderr, interval: float = 0.5):
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
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate else float('inf')
        width = 30
        filled = int(width * self.done / self.total) if self.total else width
        eta = f'{left:.0f}s' if left != float('inf') else '?'
        return (f'{self.label} [{"#" * filled}{"." * (width - filled)}] '
                f'{self.done}/{self.total} {rate:.1f}/s, {eta} left ')

    def close(self) -> None:
        if self.total and self.end == '\r':
            self.stream.write('\n')
