"""Who the caller is, as authentication confirmed it in this very request.

One decision for the freeze filter (in nova's pipeline) and the Neutron
proxy: nova's own RequestContext (set by keystonecontext) comes first;
failing that, the ``X-*`` identity headers count only when auth_token
validated the token in this request (``X-Identity-Status: Confirmed`` and
its token data in the environ, which a client cannot forge with headers:
auth_token strips the incoming identity headers before it sets its own).
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Caller:
    """The caller's roles (lower-cased), user and project."""

    roles: frozenset
    user_id: str | None = None
    project_id: str | None = None


#: Identity was asserted but not confirmed: no roles, no project.
UNCONFIRMED = Caller(frozenset())


def caller(environ: dict) -> Caller | None:
    """The confirmed caller; UNCONFIRMED when authentication confirmed
    nothing; None when no authentication ran at all (no RequestContext and
    no ``X-Identity-Status``: a noauth pipeline)."""
    context = environ.get('nova.context')
    if context is not None:
        return Caller(frozenset(r.lower() for r in (context.roles or ())),
                      context.user_id, context.project_id)
    status = environ.get('HTTP_X_IDENTITY_STATUS')
    if status is None:
        return None
    if status != 'Confirmed' or 'keystone.token_info' not in environ:
        return UNCONFIRMED
    roles = environ.get('HTTP_X_ROLES', '')
    return Caller(frozenset(r.strip().lower() for r in roles.split(',')
                            if r.strip()),
                  environ.get('HTTP_X_USER_ID'),
                  environ.get('HTTP_X_PROJECT_ID'))
