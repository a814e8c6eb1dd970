"""What the runner tells the operator while it works.

On a terminal: one line redrawn in place (hosts done, failed, remaining,
estimated time left), with events printed above it.  Otherwise: quiet,
one ``key=value`` line per event (stage start and end, batch end, host
fallen back), easy to grep and to ship to a log system.
"""

from __future__ import annotations

import datetime
import shlex
import sys
import threading
import time
from typing import Any, TextIO


def eta(elapsed: float, completed: int, remaining: int) -> float | None:
    """Seconds left at the pace so far; None before anything completed."""
    if completed <= 0:
        return None
    return elapsed / completed * remaining


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return '?'
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f'{seconds // 3600}h{seconds % 3600 // 60:02d}m'
    if seconds >= 60:
        return f'{seconds // 60}m{seconds % 60:02d}s'
    return f'{seconds}s'


def when(epoch: float | None) -> str | None:
    """A journal time as the operator reads it (UTC, to the second)."""
    return datetime.datetime.fromtimestamp(
        epoch, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def logfmt(event: str, fields: dict[str, Any]) -> str:
    parts = [f'event={event}']
    for key, value in fields.items():
        text = str(value)
        if not text or any(c in text for c in ' "=\n'):
            quoted = text.replace('\\', '\\\\').replace(
                '"', '\\"').replace('\n', '\\n')
            text = f'"{quoted}"'
        parts.append(f'{key}={text}')
    return ' '.join(parts)


class Progress:
    """Thread-safe; ``hosts`` is called after every host, cheaply."""

    REDRAW = 0.1  # seconds between terminal redraws

    def __init__(self, stream: TextIO | None = None,
                 tty: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self._lock = threading.Lock()
        self._line = ''
        self._drawn = 0.0
        self._start = time.monotonic()
        self._base = 0

    def begin(self, completed_before: int = 0) -> None:
        """A run starts: the ETA counts only what this process completes."""
        self._start, self._base = time.monotonic(), completed_before

    def event(self, event: str, **fields: Any) -> None:
        with self._lock:
            if self.tty:
                self._clear()
                words = ' '.join(f'{k}={shlex.quote(str(v))}'
                                 for k, v in fields.items())
                self.stream.write(f'{event} {words}\n')
                self._draw(self._line)
            else:
                self.stream.write(logfmt(event, fields) + '\n')
            self.stream.flush()

    def hosts(self, stage: str, done: int, failed: int, remaining: int,
              final: bool = False) -> None:
        if not self.tty:
            return
        now = time.monotonic()
        with self._lock:
            if not final and now - self._drawn < self.REDRAW:
                return
            left = eta(now - self._start, done + failed - self._base,
                       remaining)
            self._draw(f'{stage}: {done} done, {failed} failed, {remaining} '
                       f'remaining, ETA {format_seconds(left)}')
            if final:
                self.stream.write('\n')
                self._line = ''
            self.stream.flush()
            self._drawn = now

    def _draw(self, line: str) -> None:
        self._clear()
        self.stream.write(line)
        self._line = line

    def _clear(self) -> None:
        if self._line:
            self.stream.write('\r\033[K')
