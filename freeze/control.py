"""The freeze's life: turn it on, change it, thaw it, see it, and grant or
revoke the migration role for its window.

Operations over a state backend (and Keystone, for grants) for every front
end (freeze-ctl, the ``openstack compute freeze`` plugin): they take decided
values, never a command line, print nothing, and return what the operator
should read (``notes``).  The state's transitions are the document's own
(``FreezeState.frozen_with``, ``thawed``); the window's grants are
``freeze.window``'s.  Keystone is passed as ``connect``, a function that
returns its adapter, so that it is reached only by what needs it.
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
import datetime
import getpass
import socket
from typing import Any, TYPE_CHECKING

from freeze import state as freeze_state
from freeze import window
from freeze.state import acks
from freeze.state import document

if TYPE_CHECKING:
    from freeze.keystone import Keystone
    from freeze.state.backend import Backend


class Failed(Exception):
    """A clear, expected failure: nothing, or only what it says, changed."""


class Invalid(ValueError):
    """The request cannot be (a usage error)."""


def operator() -> str:
    """``user@host``, the audit history's "who"."""
    return f'{getpass.getuser()}@{socket.gethostname()}'


@dataclasses.dataclass(frozen=True)
class Freeze:
    """What ``turn_on`` writes, checked and with its end decided."""

    mode: str
    reason: str
    until: object = None
    auto_thaw: bool = False
    notes: tuple = ()


def current(backend: Backend, force: bool = False) -> document.FreezeState:
    """The state a change continues from: a vanished document is its
    history's last; a corrupt one counts as thawed with ``force`` (which
    sets it aside)."""
    try:
        return backend.read()
    except freeze_state.StateMissing as exc:
        return exc.recorded
    except document.StateError:
        if force:
            return document.THAWED
        raise


def plan_freeze(old: document.FreezeState, mode: str, reason: str,
                now: datetime.datetime, until: datetime.datetime | None = None,
                length: datetime.timedelta | None = None,
                no_until: bool = False,
                auto_thaw: bool | None = None) -> Freeze:
    """The freeze to write over ``old``, or Invalid.

    The window's end is ``until`` or now + ``length``; without either, the
    end (and auto-thaw) of a window already on is kept, unless ``no_until``
    or it has passed (both said in ``notes``).  ``auto_thaw`` None keeps the
    window's.
    """
    if not reason.strip():
        raise Invalid('--reason must say why (every blocked caller sees it)')
    if length is not None:
        if not length:
            raise Invalid('--for 0s would end the window as it starts: give '
                          'a length, or leave --for out')
        until = now + length
    if until is not None and until <= now:
        raise Invalid(f'--until {document.format_time(until)} is in the past')
    notes = []
    kept = old.frozen and until is None and old.until is not None
    end = document.format_time(old.until) if kept else None
    if kept and no_until:
        also = ' and auto-thaw' if old.auto_thaw else ''
        notes.append(f'the expected end {end}{also} is dropped (--no-until)')
    elif kept and old.until <= now:
        also = ', with auto-thaw' if old.auto_thaw else ''
        notes.append(f'the expected end {end} has passed: dropped{also}')
    elif kept:
        until = old.until
    if auto_thaw is None:
        auto_thaw = old.frozen and old.auto_thaw and until is not None
    if auto_thaw and until is None:
        raise Invalid('--auto-thaw needs --until or --for')
    return Freeze(mode, reason, until, auto_thaw, tuple(notes))


def check_overlay(freeze: Freeze) -> None:
    """Refuse a policy overlay with an automatic thaw: nothing would remove
    it at the end."""
    if freeze.auto_thaw:
        raise Invalid('--auto-thaw cannot be used with a policy overlay: '
                      'nothing would remove it at the end (--no-auto-thaw '
                      'turns it off)')


@dataclasses.dataclass(frozen=True)
class Grants:
    """Grants asked for: ``targets`` (``window.Target``) get ``role``."""

    connect: object
    targets: tuple
    role: str


def turn_on(backend: Backend, freeze: Freeze, who: str,
            now: datetime.datetime, force: bool = False,
            grants: Grants | None = None,
            ) -> tuple[document.FreezeState, document.FreezeState]:
    """Freeze (or change the freeze that is on); ``(old, new)``.

    With ``grants``, they are made first and the freeze written with their
    result in one change: a failed grant leaves the freeze as it was.
    """
    def change(old: document.FreezeState) -> document.FreezeState | None:
        return old.frozen_with(freeze.mode, freeze.reason, freeze.until,
                               freeze.auto_thaw, who, now)
    if grants is None or not grants.targets:
        return backend.update(change, who, now, force=force)
    return _add_grants(backend, grants, who, now, change, force)


def thaw(backend: Backend, who: str, now: datetime.datetime,
         force: bool = False,
         ) -> tuple[document.FreezeState, document.FreezeState, list[str]]:
    """Thaw; ``(old, new, notes)``.  The window's grants stay recorded
    until ``revoke_window`` takes them back: thawing never waits on
    Keystone."""
    old, new = backend.update(lambda old: old.thawed(), who, now,
                              force=force)
    notes = (('The API was not frozen; nothing changed.',)
             if old == new and not new.grants else ())
    return old, new, notes


def revoke_window(backend: Backend, connect: Callable[[], Keystone], who: str,
                  now: datetime.datetime) -> list[document.Grant]:
    """Revoke every grant the window made; the grants revoked.  Without
    Keystone credentials (``connect`` returns None) only ``existing`` ones
    can be forgotten.  Raises window.GrantsLeft with what is left."""
    return window.revoke_window_grants(backend, connect(), who, now)


def grant(backend: Backend, grants: Grants, who: str,
          now: datetime.datetime) -> document.FreezeState:
    """Add grants to the window that is on; the state after."""
    if not grants.targets:
        raise Invalid('nothing to grant: give --grant or --grant-group')
    if not backend.read().frozen:
        raise Failed('the API is not frozen: grants belong to a freeze '
                     'window (freeze-ctl on --grant ...)')
    _, new = _add_grants(backend, grants, who, now)
    return new


def revoke(backend: Backend, grants: Grants, who: str,
           now: datetime.datetime) -> document.FreezeState:
    """Revoke some of the window's grants; the state after."""
    keystone = grants.connect()
    if not grants.targets:
        raise Invalid('nothing to revoke: give --grant or --grant-group')
    wanted = {target.names(grants.role) for target in grants.targets}
    chosen = [g for g in backend.read().grants if window.names(g) in wanted]
    missing = wanted - {window.names(g) for g in chosen}
    if missing:
        names = ', '.join(f'{kind} {actor} on {project}'
                          for kind, actor, project, _ in sorted(missing))
        raise Failed(f'not granted by this window: {names}')
    try:
        window.revoke_window_grants(backend, keystone, who, now, only=chosen)
    except window.GrantsLeft as exc:
        raise Failed(str(exc)) from exc
    return backend.read()


def _add_grants(backend: Backend, grants: Grants, who: str,
                now: datetime.datetime,
                change: document.Change | None = None, force: bool = False,
                ) -> tuple[document.FreezeState, document.FreezeState]:
    try:
        return window.add_grants(backend, grants.connect(), grants.targets,
                                 grants.role, who, now, change, force=force)
    except window.GrantError as exc:
        raise Failed(str(exc)) from exc


def status(state: document.FreezeState,
           now: datetime.datetime) -> dict[str, Any]:
    """What ``status`` shows of ``state``."""
    return dict(state.to_dict(), in_force=state.in_force(now))


def workers(backend: Backend, state: document.FreezeState,
            now: datetime.datetime) -> tuple[list[dict[str, Any]], str | None]:
    """``(rows, problem)``: each worker against ``state``, or why they
    cannot be listed."""
    try:
        records = backend.ack_store().records(detail=True)
    except freeze_state.StateUnavailable as exc:
        return [], f'cannot list the workers: {exc}'
    return acks.rows(records, state, now), None


def wait_for_workers(backend: Backend, epoch: int,
                     wait: float) -> tuple[str | None, str | None]:
    """``(problem, note)``: problem is None once every live worker enforces
    ``epoch`` (within ``wait`` seconds), else why not; note warns when no
    worker reports at all."""
    store = backend.ack_store()
    try:
        records, behind = acks.wait_for_epoch(store, epoch, wait)
    except freeze_state.StateUnavailable as exc:
        return (f'epoch {epoch} is recorded, but the workers cannot be '
                f'checked: {exc}'), None
    note = None if records else (
        f"no nova-api worker reports to {store}: is the freeze filter in "
        "nova's pipeline, with this state URL?")
    if behind:
        lagging = ', '.join(acks.describe(a) for a in behind)
        return (f'epoch {epoch} is recorded, but after {wait:g}s these '
                f'workers do not enforce it: {lagging}'), note
    return None, note
