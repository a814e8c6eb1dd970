"""The migration role's life in Keystone: create it, grant it, take it back.

The rule this module keeps: freeze-ctl removes exactly the assignments it
created, never one that existed before the window, and a command that fails
half-way takes back what it did.  Names are resolved before anything changes,
so a typo in the fifth grant of a list changes nothing at all.
"""

import dataclasses

from keystoneauth1 import exceptions as ks_exceptions
from keystoneclient import exceptions as kc_exceptions
from keystoneclient.v3 import client as keystone_client

from freeze.state.document import Grant

DEFAULT_DOMAIN = 'Default'
ROLE_DESCRIPTION = ('Granted by freeze-ctl for a Nova migration window: may '
                    'change the compute API while it is frozen.')

# What a Keystone call can fail with: HTTP errors and connection failures.
KEYSTONE_ERRORS = (kc_exceptions.ClientException, ks_exceptions.ClientException)


class GrantError(Exception):
    """A grant or revocation could not be done; the message says which.

    ``stuck`` lists grants a rollback could not take back: they may exist.
    """

    def __init__(self, message, stuck=()):
        super().__init__(message)
        self.stuck = tuple(stuck)


@dataclasses.dataclass(frozen=True)
class Target:
    """``NAME[@DOMAIN]:PROJECT[@DOMAIN]`` as the operator wrote it."""

    kind: str
    name: str
    domain: str
    project: str
    project_domain: str

    @classmethod
    def parse(cls, kind, text):
        actor, sep, project = text.rpartition(':')
        if not sep or not actor or not project:
            raise ValueError('%s grant must be NAME[@DOMAIN]:PROJECT[@DOMAIN], '
                             'not %r' % (kind, text))
        name, domain = _split_domain(actor)
        project, project_domain = _split_domain(project)
        return cls(kind, name, domain, project, project_domain)

    def __str__(self):
        return '%s %s@%s on %s@%s' % (self.kind, self.name, self.domain,
                                      self.project, self.project_domain)


def _split_domain(text):
    name, sep, domain = text.rpartition('@')
    if not sep:
        return text, DEFAULT_DOMAIN
    if not name or not domain:
        raise ValueError('bad name %r: expected NAME or NAME@DOMAIN' % text)
    return name, domain


class Keystone:
    """The few Keystone v3 calls the role's life needs, with clear errors."""

    def __init__(self, session):
        self.client = keystone_client.Client(session=session)

    def _call(self, what, function, *args, **kwargs):
        try:
            return function(*args, **kwargs)
        except kc_exceptions.Forbidden:
            raise GrantError('%s: Keystone says forbidden; freeze-ctl needs '
                             'credentials with the admin role' % what)
        except KEYSTONE_ERRORS as exc:
            raise GrantError('%s: %s' % (what, exc))

    def ensure_role(self, name):
        """The role, created (with a description) when it does not exist."""
        roles = self._call('looking up role %s' % name,
                           self.client.roles.list, name=name)
        if roles:
            return roles[0]
        return self._call('creating role %s' % name, self.client.roles.create,
                          name=name, description=ROLE_DESCRIPTION)

    def _find(self, manager, kind, name, domain):
        what = 'looking up %s %s@%s' % (kind, name, domain)
        domains = self._call(what, self.client.domains.list, name=domain)
        domain_id = domains[0].id if domains else domain
        found = self._call(what, manager.list, name=name, domain=domain_id)
        if len(found) != 1:
            raise GrantError('%s: %s' % (
                what, 'no such %s' % kind if not found else 'ambiguous'))
        return found[0]

    def resolve(self, target, role):
        """A Grant for ``target``, its status still to be decided."""
        manager = (self.client.users if target.kind == 'user'
                   else self.client.groups)
        actor = self._find(manager, target.kind, target.name, target.domain)
        project = self._find(self.client.projects, 'project', target.project,
                             target.project_domain)
        return Grant(kind=target.kind,
                     actor='%s@%s' % (target.name, target.domain),
                     actor_id=actor.id,
                     project='%s@%s' % (target.project, target.project_domain),
                     project_id=project.id, role=role.name, role_id=role.id,
                     status='pending')

    def _where(self, grant):
        return {grant.kind: grant.actor_id, 'project': grant.project_id}

    def exists(self, grant):
        try:
            self.client.roles.check(grant.role_id, **self._where(grant))
            return True
        except kc_exceptions.NotFound:
            return False
        except KEYSTONE_ERRORS as exc:
            raise GrantError('checking %s: %s' % (describe(grant), exc))

    def grant(self, grant):
        self._call('granting %s' % describe(grant), self.client.roles.grant,
                   grant.role_id, **self._where(grant))

    def revoke(self, grant):
        """Revoke; an assignment that is already gone counts as revoked."""
        try:
            self.client.roles.revoke(grant.role_id, **self._where(grant))
        except kc_exceptions.NotFound:
            pass
        except KEYSTONE_ERRORS as exc:
            raise GrantError('revoking %s: %s' % (describe(grant), exc))

    def whoami(self, session):
        """``user@project`` of the caller, for the audit trail."""
        access = session.auth.get_access(session)
        return '%s@%s' % (access.user_name, access.project_name
                          or access.domain_name or 'system')


def describe(grant):
    return 'role %s to %s %s on project %s' % (grant.role, grant.kind,
                                               grant.actor, grant.project)


def plan_grants(keystone, targets, role_name, already):
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


def apply_grants(keystone, planned):
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
            raise GrantError('%s; and could not take back %s' % (
                failure, ', '.join(describe(g) for g in stuck)), stuck)
        raise
    return [dataclasses.replace(g, status='created')
            if g.status == 'pending' else g for g in planned]


def revoke_grants(keystone, grants):
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
