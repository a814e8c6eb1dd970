"""A freeze window's Keystone grants, kept in step with the state document.

The invariant: no assignment exists in Keystone that the state does not
record.  So the intent is written first (``pending``), then Keystone is
changed, then the result is written; a crash in between leaves a ``pending``
record, which the next ``off`` revokes (revoking what is not there is
harmless).  A command that fails takes back what it did.
"""

import dataclasses

from freeze import keystone as ks


class GrantsLeft(Exception):
    """Some grants could not be revoked; they stay recorded for a retry."""

    def __init__(self, stuck, reason):
        self.stuck = stuck
        super().__init__('%d grant(s) still to revoke (%s): %s; run '
                         'freeze-ctl off again once Keystone answers'
                         % (len(stuck), reason,
                            ', '.join(ks.describe(g) for g in stuck)))


def _next(old, **changes):
    return dataclasses.replace(old, epoch=old.epoch + 1, **changes)


def _without(grants, removed):
    keys = {grant.key() for grant in removed}
    return tuple(g for g in grants if g.key() not in keys)


def add_grants(backend, keystone, targets, role, who, now, change=None,
               force=False):
    """Grant ``role`` to ``targets``, then apply ``change`` to the state.

    ``change(old) -> new or None`` is the freeze transition (``on``) made in
    the same final write, so a failed grant never leaves the API frozen by a
    half-done command.  Returns (old, new) like ``backend.update``.
    """
    current = backend.read()
    planned = ks.plan_grants(keystone, targets, role, current.grants)
    pending = [g for g in planned if g.status == 'pending']
    if pending:
        backend.update(lambda old: _next(old, grants=old.grants + tuple(
            pending)), who, now, force=force)
    try:
        done = ks.apply_grants(keystone, planned)
    except ks.GrantError as failure:
        stuck = failure.stuck
        backend.update(lambda old: _next(old, grants=_without(
            old.grants, pending) + stuck), who, now)
        raise

    def finish(old):
        base = change(old) if change else None
        base = base or old
        grants = _without(old.grants, done) + tuple(done)
        if base is old and not done:
            return None
        return dataclasses.replace(base, epoch=old.epoch + 1, grants=grants)
    return backend.update(finish, who, now, force=force)


def revoke_window_grants(backend, keystone, who, now, only=None):
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
        revoked, stuck = ks.revoke_grants(keystone, chosen)
    backend.update(lambda old: _next(old, grants=_without(
        old.grants, chosen) + tuple(stuck)), who, now)
    if stuck:
        raise GrantsLeft(stuck, 'Keystone refused or did not answer')
    return revoked
