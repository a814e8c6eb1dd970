"""A freeze window's migration-role grants, kept in step with the state.

The invariant: no assignment exists in Keystone that the state does not
record.  So the intent is written first (``pending``), then Keystone is
changed, then the result is written; a crash in between leaves a ``pending``
record, which the next ``off`` revokes (revoking what is not there is
harmless).  A command that fails takes back what it did, and removes exactly
the assignments it created, never one that existed before the window.
Names are resolved before anything changes, so a typo in the fifth grant of
a list changes nothing at all.

Keystone is reached through an adapter (``freeze.keystone.Keystone``) with
``ensure_role``, ``resolve``, ``exists``, ``grant`` and ``revoke``.
"""

from __future__ import annotations

from collections.abc import Iterable
import dataclasses
import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from freeze.keystone import Keystone
    from freeze.state.backend import Backend
    from freeze.state.document import Change, FreezeState, Grant

#: Keystone's default domain: where a name without ``@DOMAIN`` is looked up.
DEFAULT_DOMAIN = 'Default'


class GrantError(Exception):
    """A grant or revocation could not be done; the message says which.

    ``stuck`` lists grants a rollback could not take back: they may exist.
    """

    def __init__(self, message: str, stuck: list[Grant] = ()) -> None:
        super().__init__(message)
        self.stuck = tuple(stuck)


class GrantsLeft(Exception):
    """Some grants could not be revoked; they stay recorded for a retry."""

    def __init__(self, stuck: list[Grant], reason: str) -> None:
        self.stuck = stuck
        left = ', '.join(describe(g) for g in stuck)
        super().__init__(f'{len(stuck)} grant(s) still to revoke ({reason}): '
                         f'{left}; run freeze-ctl off again once Keystone '
                         'answers')


@dataclasses.dataclass(frozen=True)
class Target:
    """``NAME[@DOMAIN]:PROJECT[@DOMAIN]`` as the operator wrote it."""

    kind: str
    name: str
    domain: str
    project: str
    project_domain: str

    @classmethod
    def parse(cls, kind: str, text: str) -> Target:
        actor, sep, project = text.rpartition(':')
        if not sep or not actor or not project:
            raise ValueError(f'{kind} grant must be '
                             f'NAME[@DOMAIN]:PROJECT[@DOMAIN], not {text!r}')
        name, domain = _split_domain(actor)
        project, project_domain = _split_domain(project)
        return cls(kind, name, domain, project, project_domain)

    def __str__(self) -> str:
        return (f'{self.kind} {self.name}@{self.domain} on '
                f'{self.project}@{self.project_domain}')

    def names(self, role: str) -> tuple[str, str, str, str]:
        """``(kind, actor, project, role)`` as a Grant names them."""
        return (self.kind, f'{self.name}@{self.domain}',
                f'{self.project}@{self.project_domain}', role)


def names(grant: Grant) -> tuple[str, str, str, str]:
    """``(kind, actor, project, role)``: a grant as the operator names it."""
    return (grant.kind, grant.actor, grant.project, grant.role)


def _split_domain(text: str) -> tuple[str, str]:
    name, sep, domain = text.rpartition('@')
    if not sep:
        return text, DEFAULT_DOMAIN
    if not name or not domain:
        raise ValueError(f'bad name {text!r}: expected NAME or NAME@DOMAIN')
    return name, domain


def describe(grant: Grant) -> str:
    return (f'role {grant.role} to {grant.kind} {grant.actor} on project '
            f'{grant.project}')


def plan_grants(keystone: Keystone, targets: Iterable[Target], role_name: str,
                already: Iterable[Grant]) -> list[Grant]:
    """Resolve every target first; nothing changes if one is unknown.

    Returns the grants to record: ``existing`` for assignments Keystone
    already has, ``pending`` for those to create.  Targets the window already
    records (``already``) are skipped: re-running a command is safe.
    """
    role = keystone.ensure_role(role_name)
    known = {grant.key() for grant in already}
    planned = []
    for target in targets:
        grant = keystone.resolve(target, role)
        if grant.key() in known:
            continue
        known.add(grant.key())
        status = 'existing' if keystone.exists(grant) else 'pending'
        planned.append(dataclasses.replace(grant, status=status))
    return planned


def apply_grants(keystone: Keystone, planned: list[Grant]) -> list[Grant]:
    """Create the ``pending`` grants; on a failure, take back what was made.

    Returns the grants with their final status.  Raises GrantError after the
    rollback, with ``stuck`` the grants that could not be taken back either.
    """
    made = []
    try:
        for grant in planned:
            if grant.status == 'pending':
                keystone.grant(grant)
                made.append(grant)
    except GrantError as failure:
        _, stuck = revoke_grants(keystone, made)
        if stuck:
            left = ', '.join(describe(g) for g in stuck)
            raise GrantError(
                f'{failure}; and could not take back {left}', stuck)
        raise
    return [dataclasses.replace(g, status='created')
            if g.status == 'pending' else g for g in planned]


def revoke_grants(keystone: Keystone,
                  grants: Iterable[Grant]) -> tuple[list[Grant], list[Grant]]:
    """Revoke the grants freeze-ctl made; never the ``existing`` ones.

    Returns ``(revoked, stuck)``: stuck grants could not be revoked (Keystone
    down, no permission) and must stay recorded for a later attempt.
    """
    revoked, stuck = [], []
    for grant in grants:
        if grant.status == 'existing':
            continue
        try:
            keystone.revoke(grant)
            revoked.append(grant)
        except GrantError:
            stuck.append(dataclasses.replace(grant, status='pending'))
    return revoked, stuck


def _without(grants: Iterable[Grant],
             removed: Iterable[Grant]) -> tuple[Grant, ...]:
    keys = {grant.key() for grant in removed}
    return tuple(g for g in grants if g.key() not in keys)


def add_grants(backend: Backend, keystone: Keystone, targets: Iterable[Target],
               role: str, who: str, now: datetime.datetime,
               change: Change | None = None,
               force: bool = False) -> tuple[FreezeState, FreezeState]:
    """Grant ``role`` to ``targets``, then apply ``change`` to the state.

    ``change(old) -> new or None`` is the freeze transition (``on``) made in
    the same final write, so a failed grant never leaves the API frozen by a
    half-done command.  Returns (old, new) like ``backend.update``.
    """
    current = backend.read()
    planned = plan_grants(keystone, targets, role, current.grants)
    pending = [g for g in planned if g.status == 'pending']
    if pending:
        backend.update(lambda old: old.successor(
            grants=old.grants + tuple(pending)), who, now, force=force)
    try:
        done = apply_grants(keystone, planned)
    except GrantError as failure:
        stuck = failure.stuck
        backend.update(lambda old: old.successor(
            grants=_without(old.grants, pending) + stuck), who, now)
        raise

    def finish(old: FreezeState) -> FreezeState | None:
        base = change(old) if change else None
        grants = _without(old.grants, done) + tuple(done)
        if base is None:
            return old.successor(grants=grants) if done else None
        return dataclasses.replace(base, grants=grants)
    return backend.update(finish, who, now, force=force)


def revoke_window_grants(backend: Backend, keystone: Keystone, who: str,
                         now: datetime.datetime,
                         only: Iterable[Grant] | None = None) -> list[Grant]:
    """Revoke what the window created (all, or ``only`` those) and forget it.

    ``existing`` grants are forgotten without being revoked.  Raises
    GrantsLeft, after recording what is left, when some could not be revoked.
    """
    grants = backend.read().grants
    chosen = grants if only is None else [
        g for g in grants if g.key() in {o.key() for o in only}]
    if not chosen:
        return []
    if keystone is None:
        to_revoke = [g for g in chosen if g.status != 'existing']
        if to_revoke:
            raise GrantsLeft(to_revoke, 'no Keystone credentials given')
        revoked, stuck = [], []
    else:
        revoked, stuck = revoke_grants(keystone, chosen)
    backend.update(lambda old: old.successor(grants=_without(
        old.grants, chosen) + tuple(stuck)), who, now)
    if stuck:
        raise GrantsLeft(stuck, 'Keystone refused or did not answer')
    return revoked
