"""Worker acknowledgements: which nova-api processes enforce which epoch.

Every middleware process keeps one record (host, pid, the epoch it enforces,
its last heartbeat) where freeze-ctl can list them: small files beside the
state document on the file backend, keys under a lease on etcd.  A record
that stops being renewed expires, so a killed worker stops counting.

The judging is pure; the stores are thin adapters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
import contextlib
import dataclasses
import datetime
import json
import os
import re
import time
from typing import Any, TYPE_CHECKING

from freeze.state import StateUnavailable
from freeze.state import document

if TYPE_CHECKING:
    from freeze.state.backend import AckStore

#: File records expired this long ago are deleted when a worker registers,
#: so that killed workers do not pile up; younger ones stay, shown as expired.
PRUNE_AFTER = datetime.timedelta(days=1)

OK, LAGGING, FAILING, EXPIRED = 'ok', 'lagging', 'failing', 'expired'

#: What a worker reports when its policy dir holds no overlay.
ABSENT = 'absent'


@dataclasses.dataclass(frozen=True)
class WorkerAck:
    """What one middleware process says it enforces.

    ``failing`` is true while it applies ``fail_mode`` instead of a state it
    read (``problem`` says why).  ``expires_at`` is None for a record that a
    store keeps alive by other means (an etcd lease) and has not dated.
    ``overlay`` is the mode of the policy overlay in the worker's
    ``[freeze] policy_dir`` (``absent`` when there is none there), or None
    when it has no policy_dir.
    """

    host: str
    pid: int
    epoch: int
    heartbeat: datetime.datetime
    expiry: float
    failing: bool = False
    problem: str = None
    started_at: datetime.datetime = None
    expires_at: datetime.datetime = None
    overlay: str = None

    @property
    def name(self) -> str:
        host = re.sub(r'[^A-Za-z0-9._-]', '_', self.host)
        return f'{host}-{self.pid}'

    def to_dict(self) -> dict[str, Any]:
        return {'host': self.host, 'pid': self.pid, 'epoch': self.epoch,
                'heartbeat': document.format_time(self.heartbeat),
                'expiry': self.expiry, 'failing': self.failing,
                'problem': self.problem,
                'started_at': document.format_time(self.started_at),
                'overlay': self.overlay}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkerAck:
        """Parse a stored record; a malformed one raises StateError."""
        try:
            heartbeat = document.parse_time(data['heartbeat'], 'heartbeat')
            expiry = float(data['expiry'])
            return cls(host=str(data['host']), pid=int(data['pid']),
                       epoch=int(data['epoch']), heartbeat=heartbeat,
                       expiry=expiry, failing=bool(data.get('failing')),
                       problem=data.get('problem'),
                       started_at=document.parse_time(data.get('started_at')),
                       expires_at=heartbeat + datetime.timedelta(
                           seconds=expiry),
                       overlay=data.get('overlay'))
        except (KeyError, TypeError, ValueError) as exc:
            raise document.StateError(f'malformed worker record: {exc}')


def judge(ack: WorkerAck, epoch: int, now: datetime.datetime) -> str:
    """``ok``, ``lagging``, ``failing`` or ``expired`` against ``epoch``."""
    if ack.expires_at is not None and now > ack.expires_at:
        return EXPIRED
    if ack.failing:
        return FAILING
    return OK if ack.epoch >= epoch else LAGGING


def overlay_status(ack: WorkerAck, state: document.FreezeState,
                   now: datetime.datetime) -> str | None:
    """Whether the worker's policy overlay matches ``state``: None when it
    has none configured, else ``ok``, ``missing`` or ``stale (...)``."""
    if ack.overlay is None:
        return None
    expected = state.mode if state.in_force(now) else ABSENT
    if ack.overlay == expected:
        return OK
    if ack.overlay == ABSENT:
        return 'missing'
    return f'stale (mode {ack.overlay})'


def laggards(records: Iterable[WorkerAck], epoch: int,
             now: datetime.datetime) -> list[WorkerAck]:
    """The live workers that do not (yet) enforce ``epoch``."""
    return [ack for ack in records
            if judge(ack, epoch, now) in (LAGGING, FAILING)]


def describe(ack: WorkerAck) -> str:
    failing = f', failing: {ack.problem}' if ack.failing else ''
    return f'{ack.host} pid {ack.pid} (epoch {ack.epoch}{failing})'


def rows(records: Iterable[WorkerAck], state: document.FreezeState,
         now: datetime.datetime) -> list[dict[str, Any]]:
    """One row per worker for ``freeze-ctl status``, stable order."""
    def age(moment: datetime.datetime | None) -> float | None:
        return None if moment is None else round(
            (now - moment).total_seconds(), 1)
    return [{'host': ack.host, 'pid': ack.pid, 'epoch': ack.epoch,
             'status': judge(ack, state.epoch, now),
             'heartbeat_age_s': age(ack.heartbeat),
             'overlay': overlay_status(ack, state, now),
             'problem': ack.problem}
            for ack in sorted(records, key=lambda a: (a.host, a.pid))]


def wait_for_epoch(
        store: AckStore, epoch: int, timeout: float,
        now: Callable[[], datetime.datetime] = document.utcnow,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        interval: float = 0.05) -> tuple[list[WorkerAck], list[WorkerAck]]:
    """Poll ``store`` until no live worker lags behind ``epoch``.

    Returns ``(records, laggards)``; laggards is empty on success, else the
    workers still behind when ``timeout`` seconds ran out.  A worker whose
    record expires while waiting stops counting.
    """
    deadline = clock() + timeout
    while True:
        records = store.records()
        behind = laggards(records, epoch, now())
        if not behind or clock() >= deadline:
            return records, behind
        sleep(min(interval, max(0.0, deadline - clock())))


class AckDir:
    """Records as ``<dir>/<host>-<pid>.json``, renewed by rewriting them."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._pruned = False

    def __str__(self) -> str:
        return self.path

    def _file(self, ack: WorkerAck) -> str:
        return os.path.join(self.path, ack.name + '.json')

    def report(self, ack: WorkerAck) -> None:
        try:
            os.makedirs(self.path, exist_ok=True)
            if not self._pruned:
                self._prune(ack.heartbeat)
                self._pruned = True
            tmp = os.path.join(self.path, f'.{ack.name}.tmp')
            with open(tmp, 'w', encoding='utf-8') as f:
                json.dump(ack.to_dict(), f, sort_keys=True)
            os.replace(tmp, self._file(ack))
        except OSError as exc:
            raise StateUnavailable('cannot write worker record in '
                                   f'{self.path}: {exc}')

    def retire(self, ack: WorkerAck) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self._file(ack))

    def records(self, detail: bool = False) -> list[WorkerAck]:
        """Every record, expired ones included; unreadable files skipped.

        File records are always dated, so ``detail`` changes nothing here.
        """
        found = []
        try:
            names = sorted(os.listdir(self.path))
        except FileNotFoundError:
            return found
        except OSError as exc:
            raise StateUnavailable(f'cannot list {self.path}: {exc}')
        for name in names:
            if name.startswith('.') or not name.endswith('.json'):
                continue
            with contextlib.suppress(OSError, ValueError):
                with open(os.path.join(self.path, name), encoding='utf-8') as f:
                    found.append(WorkerAck.from_dict(json.load(f)))
        return found

    def _prune(self, now: datetime.datetime) -> None:
        for ack in self.records():
            if now - ack.expires_at > PRUNE_AFTER:
                self.retire(ack)
