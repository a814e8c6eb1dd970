"""Keystone, as the window's grants need it: the adapter over its client.

The decisions (what to grant, what to take back) are ``freeze.window``'s;
this module makes the few Keystone v3 calls and turns their failures into
``GrantError`` with a clear message.

python-keystoneclient, not openstacksdk's identity proxy: the proxy's role
assignment calls (``assign_project_role_to_user``,
``unassign_project_role_from_user``, ``validate_user_has_project_role`` and
their group twins) return a boolean, True on 204 and False on any other
answer, because its requests do not raise on HTTP errors; so a revocation
refused (403) or lost (503) would read as "already gone" and leave an
assignment the state no longer records.  keystoneclient raises, and says
which.
"""

from __future__ import annotations

from collections.abc import Callable
from keystoneauth1 import exceptions as ks_exceptions
from keystoneclient import exceptions as kc_exceptions
from keystoneclient.v3 import client as keystone_client
from typing import Any, TYPE_CHECKING

from freeze.state.document import Grant
from freeze.window import GrantError
from freeze.window import describe

if TYPE_CHECKING:
    from freeze.window import Target

ROLE_DESCRIPTION = ('Granted by freeze-ctl for a Nova migration window: may '
                    'change the compute API while it is frozen.')

# What a Keystone call can fail with: HTTP errors and connection failures.
KEYSTONE_ERRORS = (kc_exceptions.ClientException, ks_exceptions.ClientException)


class Keystone:
    """The few Keystone v3 calls the role's life needs, with clear errors."""

    def __init__(self, session: Any) -> None:
        self.client = keystone_client.Client(session=session)

    def _call(self, what: str, function: Callable[..., Any], *args: Any,
              **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except kc_exceptions.Forbidden:
            raise GrantError(f'{what}: Keystone says forbidden; freeze-ctl '
                             'needs credentials with the admin role')
        except KEYSTONE_ERRORS as exc:
            raise GrantError(f'{what}: {exc}')

    def ensure_role(self, name: str) -> Any:
        """The role, created (with a description) when it does not exist."""
        roles = self._call(f'looking up role {name}',
                           self.client.roles.list, name=name)
        if roles:
            return roles[0]
        return self._call(f'creating role {name}', self.client.roles.create,
                          name=name, description=ROLE_DESCRIPTION)

    def _find(self, manager: Any, kind: str, name: str, domain: str) -> Any:
        what = f'looking up {kind} {name}@{domain}'
        domains = self._call(what, self.client.domains.list, name=domain)
        domain_id = domains[0].id if domains else domain
        found = self._call(what, manager.list, name=name, domain=domain_id)
        if len(found) != 1:
            why = 'ambiguous' if found else f'no such {kind}'
            raise GrantError(f'{what}: {why}')
        return found[0]

    def resolve(self, target: Target, role: str) -> Grant:
        """A Grant for ``target``, its status still to be decided."""
        manager = (self.client.users if target.kind == 'user'
                   else self.client.groups)
        actor = self._find(manager, target.kind, target.name, target.domain)
        project = self._find(self.client.projects, 'project', target.project,
                             target.project_domain)
        return Grant(kind=target.kind,
                     actor=f'{target.name}@{target.domain}',
                     actor_id=actor.id,
                     project=f'{target.project}@{target.project_domain}',
                     project_id=project.id, role=role.name, role_id=role.id,
                     status='pending')

    def _where(self, grant: Grant) -> dict[str, str]:
        return {grant.kind: grant.actor_id, 'project': grant.project_id}

    def exists(self, grant: Grant) -> bool:
        try:
            self.client.roles.check(grant.role_id, **self._where(grant))
            return True
        except kc_exceptions.NotFound:
            return False
        except KEYSTONE_ERRORS as exc:
            raise GrantError(f'checking {describe(grant)}: {exc}')

    def grant(self, grant: Grant) -> None:
        self._call(f'granting {describe(grant)}', self.client.roles.grant,
                   grant.role_id, **self._where(grant))

    def revoke(self, grant: Grant) -> None:
        """Revoke; an assignment that is already gone counts as revoked."""
        try:
            self.client.roles.revoke(grant.role_id, **self._where(grant))
        except kc_exceptions.NotFound:
            pass
        except KEYSTONE_ERRORS as exc:
            raise GrantError(f'revoking {describe(grant)}: {exc}')
