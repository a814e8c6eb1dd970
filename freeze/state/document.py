"""The freeze state document: what every worker enforces.

Kept as plain JSON so operators can read it, and validated strictly on the way
in: a document that does not validate is treated as unreadable (``fail_mode``),
never guessed at.
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
import datetime
from typing import Any

MODES = ('full', 'writes', 'network')


class StateError(ValueError):
    """The state document is malformed."""


class EpochError(ValueError):
    """A change whose epoch is not the old one + 1: refused by every
    backend, so that "epochs never repeat" is enforced, not a convention."""


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def format_time(value: datetime.datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace('+00:00', 'Z')


def parse_time(value: str | None,
               field: str = 'time') -> datetime.datetime | None:
    """Parse ISO 8601; a naive time is taken as UTC."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise StateError(f'{field} must be an ISO 8601 string')
    try:
        parsed = datetime.datetime.fromisoformat(value.replace('Z', '+00:00'))
    except ValueError:
        raise StateError(f'{field} is not ISO 8601: {value!r}')
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.astimezone(datetime.timezone.utc)


GRANT_STATUSES = ('pending', 'created', 'existing')


@dataclasses.dataclass(frozen=True)
class Grant:
    """One role assignment the freeze window relies on.

    ``status`` says whose it is: ``created`` by freeze-ctl (revoked at the
    end), ``existing`` before the window (never revoked), or ``pending``: about
    to be created, or failed to be revoked, so it may exist in Keystone and is
    revoked by the next ``off`` (revoking a missing assignment is harmless).
    """

    kind: str
    actor: str
    actor_id: str
    project: str
    project_id: str
    role: str
    role_id: str
    status: str

    def key(self) -> tuple[str, str, str, str]:
        return (self.kind, self.actor_id, self.project_id, self.role_id)

    def to_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Grant:
        names = [f.name for f in dataclasses.fields(cls)]
        if not isinstance(data, dict) or set(data) != set(names):
            raise StateError(f"each grant needs exactly: {', '.join(names)}")
        if not all(isinstance(data[n], str) and data[n] for n in names):
            raise StateError('grant fields must be non-empty strings')
        if data['kind'] not in ('user', 'group'):
            raise StateError('grant kind must be user or group')
        if data['status'] not in GRANT_STATUSES:
            raise StateError('grant status must be one of '
                             + ', '.join(GRANT_STATUSES))
        return cls(**data)


@dataclasses.dataclass(frozen=True)
class FreezeState:
    """One version of the freeze; ``epoch`` increases with every change."""

    epoch: int = 0
    frozen: bool = False
    mode: str = None
    reason: str = ''
    until: datetime.datetime = None
    auto_thaw: bool = False
    started_at: datetime.datetime = None
    started_by: str = None
    grants: tuple = ()

    def in_force(self, now: datetime.datetime) -> bool:
        """True while the freeze applies; only ``auto_thaw`` ends it by time."""
        if not self.frozen:
            return False
        return not (self.auto_thaw and self.until is not None
                    and now >= self.until)

    def successor(self, **changes: Any) -> FreezeState:
        """The next version: ``changes`` applied, the epoch raised by one
        (the only place an epoch is raised)."""
        return dataclasses.replace(self, epoch=self.epoch + 1, **changes)

    def frozen_with(self, mode: str, reason: str,
                    until: datetime.datetime | None, auto_thaw: bool, who: str,
                    now: datetime.datetime) -> FreezeState | None:
        """The successor that freezes in ``mode``, or None when it is already
        frozen just so.  A freeze already on keeps its start (who, when)."""
        if self.frozen and (self.mode, self.reason, self.until,
                            self.auto_thaw) == (mode, reason, until,
                                                auto_thaw):
            return None
        return self.successor(
            frozen=True, mode=mode, reason=reason, until=until,
            auto_thaw=auto_thaw,
            started_at=self.started_at if self.frozen else now,
            started_by=self.started_by if self.frozen else who)

    def thawed(self) -> FreezeState | None:
        """The successor that thaws (the window's grants stay recorded until
        they are revoked), or None when it is not frozen."""
        if not self.frozen:
            return None
        return FreezeState(epoch=self.epoch, grants=self.grants).successor()

    def to_dict(self) -> dict[str, Any]:
        return {
            'epoch': self.epoch,
            'frozen': self.frozen,
            'mode': self.mode,
            'reason': self.reason,
            'until': format_time(self.until),
            'auto_thaw': self.auto_thaw,
            'started_at': format_time(self.started_at),
            'started_by': self.started_by,
            'grants': [grant.to_dict() for grant in self.grants],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FreezeState:
        if not isinstance(data, dict):
            raise StateError('state document must be a JSON object')
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise StateError(f"unknown fields: {', '.join(sorted(unknown))}")
        epoch = data.get('epoch', 0)
        if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
            raise StateError('epoch must be a non-negative integer')
        frozen = data.get('frozen', False)
        if not isinstance(frozen, bool):
            raise StateError('frozen must be true or false')
        mode = data.get('mode')
        if frozen and mode not in MODES:
            raise StateError(f"mode must be one of {', '.join(MODES)} when "
                             f'frozen, not {mode!r}')
        if not frozen and mode is not None and mode not in MODES:
            raise StateError(f'unknown mode {mode!r}')
        reason = data.get('reason') or ''
        if not isinstance(reason, str):
            raise StateError('reason must be a string')
        auto_thaw = data.get('auto_thaw', False)
        if not isinstance(auto_thaw, bool):
            raise StateError('auto_thaw must be true or false')
        started_by = data.get('started_by')
        if started_by is not None and not isinstance(started_by, str):
            raise StateError('started_by must be a string')
        grants = data.get('grants', [])
        if not isinstance(grants, list):
            raise StateError('grants must be a list')
        return cls(epoch=epoch, frozen=frozen, mode=mode, reason=reason,
                   until=parse_time(data.get('until'), 'until'),
                   auto_thaw=auto_thaw,
                   started_at=parse_time(data.get('started_at'), 'started_at'),
                   started_by=started_by,
                   grants=tuple(Grant.from_dict(g) for g in grants))


THAWED = FreezeState()

#: A transition: ``change(old)`` is the successor to write, or None to
#: leave the state as it is.
Change = Callable[[FreezeState], 'FreezeState | None']


def check_successor(old: FreezeState, new: FreezeState) -> None:
    """Refuse ``new`` unless its epoch is ``old``'s + 1 (EpochError)."""
    if new.epoch != old.epoch + 1:
        raise EpochError(f'a change from epoch {old.epoch} must write epoch '
                         f'{old.epoch + 1}, not {new.epoch}: refused, epochs '
                         'never repeat')


def change_of(old: FreezeState, change: Change,
              replacing_corrupt: bool = False) -> FreezeState | None:
    """What a backend's update writes over ``old``: ``change(old)``, or
    None to leave the state as it is.  A corrupt document set aside is
    replaced even when ``change`` changes nothing (by ``old``'s successor,
    so the history says so).  Refuses a ``new`` that is not ``old``'s
    successor (EpochError)."""
    new = change(old)
    if new is None and not replacing_corrupt:
        return None
    if new is None:
        new = old.successor()
    check_successor(old, new)
    return new


#: What a history entry shows as changed, old -> new.
CHANGED_FIELDS = ('frozen', 'mode', 'reason', 'until', 'auto_thaw')


def history_entry(who: str, now: datetime.datetime, old: FreezeState,
                  new: FreezeState,
                  set_aside: str | None = None) -> dict[str, Any]:
    """One audit record; ``set_aside`` names where a corrupt document went."""
    entry = {'who': who, 'when': format_time(now), 'old': old.to_dict(),
             'new': new.to_dict()}
    if set_aside:
        entry['set_aside'] = set_aside
    return entry


def changes(entry: dict[str, Any]) -> dict[str, Any]:
    """``{field: [old, new]}`` for what an audit record changed (grants as
    counts), and ``set_aside``: where a corrupt document was put."""
    old, new = entry.get('old') or {}, entry.get('new') or {}
    found = {name: [old.get(name), new.get(name)] for name in CHANGED_FIELDS
             if old.get(name) != new.get(name)}
    if len(old.get('grants') or ()) != len(new.get('grants') or ()):
        found['grants'] = [len(old.get('grants') or ()),
                           len(new.get('grants') or ())]
    if entry.get('set_aside'):
        found['set_aside'] = entry['set_aside']
    return found


def recorded_freeze(entry: Any,
                    last_epoch: Callable[[], int]) -> FreezeState | None:
    """The freeze a history entry left in force, or None if it left none.

    What a backend whose state vanished continues from: the entry's new
    document when it is a freeze; one that does not validate is taken as a
    full freeze at ``last_epoch()``, never as thawed.
    """
    new = entry.get('new') if isinstance(entry, dict) else None
    if not (isinstance(new, dict) and new.get('frozen') is True):
        return None
    try:
        return FreezeState.from_dict(new)
    except StateError:
        return FreezeState(epoch=last_epoch(), frozen=True, mode='full')
