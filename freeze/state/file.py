"""The embedded state backend: one JSON file, written atomically.

Writers take an exclusive ``flock`` on a lock file beside the state, write a
temporary file in the same directory, fsync it and rename it over the state, so
a reader sees the old document or the new one, never a part.  Every change is
appended to an audit history beside the state.

No file means never frozen, but only while the history agrees: a file that
disappears while the history's last entry says frozen is read as an
unreadable document (``StateMissing``), so workers keep the last state for
``stale_after`` and then apply ``fail_mode`` rather than thaw.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import datetime
import fcntl
import json
import os
from typing import Any

from freeze import atomic
from freeze.state import StateMissing
from freeze.state import StateUnavailable
from freeze.state import acks
from freeze.state import backend
from freeze.state import document

# Bytes of history read from its end at first to find the last entry.
_TAIL = 16384


class FileBackend:
    """The freeze state in a file (see ``freeze.state.backend.Backend``)."""

    #: A check is a stat: a request may do it inline.
    CHARACTERISTICS = frozenset({backend.Characteristics.POLLS})

    def __init__(self, path: str, create: bool = False) -> None:
        self.path = os.path.abspath(path)
        self.create = create
        self.lock_path = self.path + '.lock'
        self.history_path = self.path + '.history'

    def __str__(self) -> str:
        return 'file://' + self.path

    def directory_exists(self) -> bool:
        return os.path.isdir(os.path.dirname(self.path))

    def signature(self) -> tuple[int, int, int] | None:
        """Cheap identity of the current file, to re-read only on change."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateUnavailable(f'cannot stat {self.path}: {exc}')
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def read(self) -> document.FreezeState:
        """The current document; no file means never frozen (thawed), unless
        the history's last entry is a freeze (``StateMissing``)."""
        try:
            with open(self.path, 'rb') as f:
                raw = f.read()
        except FileNotFoundError:
            return self._missing()
        except OSError as exc:
            raise StateUnavailable(f'cannot read {self.path}: {exc}')
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise document.StateError(f'{self.path} is not valid JSON: {exc}')
        return document.FreezeState.from_dict(data)

    def _missing(self) -> document.FreezeState:
        last = self._last_entry()
        recorded = document.recorded_freeze(last, self.last_epoch)
        if recorded is None:
            # Thawed, at the epoch the history reached: an update after it
            # never repeats an epoch.
            return (document.FreezeState(epoch=self.last_epoch()) if last
                    else document.THAWED)
        raise StateMissing(
            f'{self.path} is missing, but its history says frozen (epoch '
            f'{recorded.epoch}, mode {recorded.mode})', recorded)

    def _last_entry(self) -> dict[str, Any] | None:
        """The newest parseable history entry (read from the end), or None."""
        try:
            with open(self.history_path, 'rb') as f:
                end = f.seek(0, os.SEEK_END)
                size = min(end, _TAIL)
                while True:
                    f.seek(end - size)
                    lines = f.read(size).splitlines()
                    if size < end:
                        del lines[0]  # may begin mid-line
                    for line in reversed(lines):
                        with contextlib.suppress(ValueError):
                            return json.loads(line)
                    if size == end:
                        return None
                    size = min(end, size * 4)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateUnavailable(f'cannot read {self.history_path}: {exc}')

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            if self.create:
                os.makedirs(os.path.dirname(self.path), exist_ok=True)
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StateUnavailable(f'cannot lock {self.lock_path}: {exc}')
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def last_epoch(self) -> int:
        """Highest epoch in the audit history (to recover a corrupt state)."""
        epoch = 0
        try:
            with open(self.history_path, encoding='utf-8') as f:
                for line in f:
                    try:
                        epoch = max(epoch, int(json.loads(line)['new']['epoch']))
                    except (ValueError, KeyError, TypeError):
                        continue
        except FileNotFoundError:
            pass
        return epoch

    def update(self, change: document.Change, who: str,
               now: datetime.datetime, force: bool = False,
               ) -> tuple[document.FreezeState, document.FreezeState]:
        """Apply ``change(old) -> new`` under the lock; return (old, new).

        ``change`` returns None to leave the state as it is.  A corrupt state
        is refused unless ``force``, which sets it aside (never deletes it) and
        continues the epochs from the audit history.  A state file that went
        missing continues from the history's last document.  A missing
        directory is created only with ``create`` (a mistyped path is not a
        new state): without it, a change that would write is refused.
        """
        if not self.create and not self.directory_exists():
            if change(document.THAWED) is None:
                return document.THAWED, document.THAWED
            raise StateUnavailable(
                f'the state directory {os.path.dirname(self.path)} does not '
                'exist: check the state URL, or create it (freeze-ctl on '
                '--create); nothing was changed')
        with self._locked():
            aside = None
            try:
                old = self.read()
            except StateMissing as exc:
                old = exc.recorded
            except document.StateError:
                if not force:
                    raise
                aside = f"{self.path}.corrupt-{now.strftime('%Y%m%dT%H%M%S')}"
                os.replace(self.path, aside)
                old = document.FreezeState(epoch=self.last_epoch())
            new = document.change_of(old, change, aside is not None)
            if new is None:
                return old, old
            try:
                atomic.write_atomically(
                    self.path, json.dumps(new.to_dict(), indent=2,
                                          sort_keys=True) + '\n')
                self._append_history(document.history_entry(
                    who, now, old, new, aside))
            except OSError as exc:
                raise StateUnavailable(f'cannot write {self.path}: {exc}')
            return old, new

    def _append_history(self, entry: dict[str, Any]) -> None:
        with open(self.history_path, 'a', encoding='utf-8') as f:
            f.write(json.dumps(entry, sort_keys=True) + '\n')
            f.flush()
            os.fsync(f.fileno())

    def ack_store(self) -> acks.AckDir:
        """Worker acknowledgements: small files in ``<state>.workers/``."""
        return acks.AckDir(self.path + '.workers')

    def history(self) -> list[dict[str, Any]]:
        """The audit history, oldest first; unreadable lines are skipped."""
        entries = []
        with contextlib.suppress(FileNotFoundError):
            with open(self.history_path, encoding='utf-8') as f:
                for line in f:
                    with contextlib.suppress(ValueError):
                        entries.append(json.loads(line))
        return entries
