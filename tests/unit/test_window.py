"""The window's grants kept in step with the state, over a fake Keystone.

Keystone itself is exercised for real in tests/e2e (test_keystone_grants,
test_grants_cli); here a fake one records assignments in a set, so that
every failure point (a name that does not resolve, a grant or a revocation
refused half-way) can be hit, and the invariant checked after each: no
assignment exists that the state does not record, and an ``existing`` one
is never taken away.
"""

import datetime

import pytest

from freeze import window
from freeze.state import document
from freeze.state import open_backend

NOW = datetime.datetime(2026, 12, 1, 8, tzinfo=datetime.timezone.utc)


class Role:
    def __init__(self, name):
        self.id, self.name = 'role-' + name, name


class FakeKeystone:
    """The adapter's five calls over a set of (kind, actor, project, role)
    assignments; ``refuse`` names actors whose grant or revocation fails."""

    def __init__(self, users=('ann', 'bob', 'cy'), projects=('demo',),
                 assigned=()):
        self.users, self.projects = set(users), set(projects)
        self.assigned = set(assigned)
        self.refuse_grant, self.refuse_revoke = set(), set()
        self.roles = {}

    def ensure_role(self, name):
        return self.roles.setdefault(name, Role(name))

    def resolve(self, target, role):
        if target.name not in self.users:
            raise window.GrantError(f'looking up {target}: no such user')
        if target.project not in self.projects:
            raise window.GrantError(f'looking up project {target.project}: no '
                                    'such project')
        return document.Grant(
            kind=target.kind, actor=f'{target.name}@{target.domain}',
            actor_id='id-' + target.name,
            project=f'{target.project}@{target.project_domain}',
            project_id='id-' + target.project, role=role.name,
            role_id=role.id, status='pending')

    def exists(self, grant):
        return grant.key() in self.assigned

    def grant(self, grant):
        if grant.actor_id in self.refuse_grant:
            raise window.GrantError(f'granting {window.describe(grant)}: '
                                    'forbidden')
        self.assigned.add(grant.key())

    def revoke(self, grant):
        if grant.actor_id in self.refuse_revoke:
            raise window.GrantError(f'revoking {window.describe(grant)}: '
                                    'Keystone is down')
        self.assigned.discard(grant.key())


def users(*names):
    return [window.Target.parse('user', f'{name}:demo') for name in names]


def key(name):
    return ('user', 'id-' + name, 'id-demo', 'role-migration')


@pytest.fixture
def backend(tmp_path):
    return open_backend(str(tmp_path / 'state.json'))


def freeze(old):
    return old.frozen_with('full', 'cut', None, False, 'ops@h', NOW)


def recorded(backend):
    return {g.actor: g.status for g in backend.read().grants}


def test_grants_and_the_freeze_are_written_together(backend):
    keystone = FakeKeystone(assigned={key('bob')})
    old, new = window.add_grants(backend, keystone, users('ann', 'bob'),
                                 'migration', 'ops@h', NOW, freeze)
    assert new.frozen and new.epoch == old.epoch + 1
    assert recorded(backend) == {'ann@Default': 'created',
                                 'bob@Default': 'existing'}
    assert keystone.assigned == {key('ann'), key('bob')}
    # intent (pending) first, then the result with the freeze
    history = backend.history()
    assert [len(h['new']['grants']) for h in history] == [1, 2]
    assert [h['new']['grants'][0]['status'] for h in history] == [
        'pending', 'created']
    assert [h['new']['frozen'] for h in history] == [False, True]


def test_a_name_that_does_not_resolve_changes_nothing(backend):
    keystone = FakeKeystone()
    with pytest.raises(window.GrantError, match='no such user'):
        window.add_grants(backend, keystone, users('ann', 'ghost'),
                          'migration', 'ops@h', NOW, freeze)
    assert keystone.assigned == set() and backend.history() == []
    assert not backend.read().frozen


def test_a_refused_grant_takes_back_what_the_command_made(backend):
    keystone = FakeKeystone()
    keystone.refuse_grant.add('id-bob')
    with pytest.raises(window.GrantError, match='forbidden'):
        window.add_grants(backend, keystone, users('ann', 'bob'),
                          'migration', 'ops@h', NOW, freeze)
    assert keystone.assigned == set()
    state = backend.read()
    assert not state.frozen and state.grants == ()


def test_what_a_rollback_cannot_take_back_stays_recorded(backend):
    keystone = FakeKeystone()
    keystone.refuse_grant.add('id-bob')
    keystone.refuse_revoke.add('id-ann')
    with pytest.raises(window.GrantError, match='could not take back') as err:
        window.add_grants(backend, keystone, users('ann', 'bob'),
                          'migration', 'ops@h', NOW, freeze)
    assert [g.actor for g in err.value.stuck] == ['ann@Default']
    assert keystone.assigned == {key('ann')}
    assert recorded(backend) == {'ann@Default': 'pending'}
    assert not backend.read().frozen


def test_running_the_same_grant_again_changes_nothing(backend):
    keystone = FakeKeystone()
    window.add_grants(backend, keystone, users('ann'), 'migration', 'ops@h',
                      NOW, freeze)
    before = backend.read()
    old, new = window.add_grants(backend, keystone, users('ann'), 'migration',
                                 'ops@h', NOW)
    assert old == new == before


def test_revoking_takes_back_only_what_the_window_created(backend):
    keystone = FakeKeystone(assigned={key('bob')})
    window.add_grants(backend, keystone, users('ann', 'bob'), 'migration',
                      'ops@h', NOW, freeze)
    revoked = window.revoke_window_grants(backend, keystone, 'ops@h', NOW)
    assert [g.actor for g in revoked] == ['ann@Default']
    assert keystone.assigned == {key('bob')}  # it existed before the window
    assert backend.read().grants == ()


def test_revoking_some_keeps_the_others(backend):
    keystone = FakeKeystone()
    window.add_grants(backend, keystone, users('ann', 'bob'), 'migration',
                      'ops@h', NOW, freeze)
    ann = [g for g in backend.read().grants if g.actor == 'ann@Default']
    window.revoke_window_grants(backend, keystone, 'ops@h', NOW, only=ann)
    assert recorded(backend) == {'bob@Default': 'created'}
    assert keystone.assigned == {key('bob')}


def test_what_cannot_be_revoked_stays_for_the_next_attempt(backend):
    keystone = FakeKeystone()
    window.add_grants(backend, keystone, users('ann', 'bob'), 'migration',
                      'ops@h', NOW, freeze)
    keystone.refuse_revoke.add('id-bob')
    with pytest.raises(window.GrantsLeft, match='1 grant.s. still to revoke'):
        window.revoke_window_grants(backend, keystone, 'ops@h', NOW)
    assert recorded(backend) == {'bob@Default': 'pending'}
    keystone.refuse_revoke.clear()
    window.revoke_window_grants(backend, keystone, 'ops@h', NOW)
    assert backend.read().grants == () and keystone.assigned == set()


def test_without_keystone_only_existing_grants_are_forgotten(backend):
    keystone = FakeKeystone(assigned={key('bob')})
    window.add_grants(backend, keystone, users('bob'), 'migration', 'ops@h',
                      NOW, freeze)
    assert window.revoke_window_grants(backend, None, 'ops@h', NOW) == []
    assert backend.read().grants == ()
    window.add_grants(backend, keystone, users('ann'), 'migration', 'ops@h',
                      NOW)
    with pytest.raises(window.GrantsLeft, match='no Keystone credentials'):
        window.revoke_window_grants(backend, None, 'ops@h', NOW)
    assert recorded(backend) == {'ann@Default': 'created'}


def test_every_write_raises_the_epoch_by_one(backend):
    keystone = FakeKeystone()
    window.add_grants(backend, keystone, users('ann', 'bob'), 'migration',
                      'ops@h', NOW, freeze)
    window.revoke_window_grants(backend, keystone, 'ops@h', NOW)
    epochs = [h['new']['epoch'] for h in backend.history()]
    assert epochs == list(range(1, len(epochs) + 1))


@pytest.mark.parametrize('text, names', [
    ('ann:demo', ('user', 'ann@Default', 'demo@Default', 'r')),
    ('ann@ldap:demo@corp', ('user', 'ann@ldap', 'demo@corp', 'r')),
])
def test_targets_name_grants_as_the_state_records_them(text, names):
    assert window.Target.parse('user', text).names('r') == names
