"""The window's grants through freeze.keystone against the real Keystone:
plan, grant, roll back, revoke."""

from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3
import pytest

from freeze import keystone
from freeze import window


def session_for(cloud, user):
    env = cloud.os_env(user)
    return ks_session.Session(auth=v3.Password(
        auth_url=env['OS_AUTH_URL'], username=env['OS_USERNAME'],
        password=env['OS_PASSWORD'], project_name=env['OS_PROJECT_NAME'],
        user_domain_name=env['OS_USER_DOMAIN_NAME'],
        project_domain_name=env['OS_PROJECT_DOMAIN_NAME']))


@pytest.fixture(scope='module')
def admin(cloud):
    return keystone.Keystone(session_for(cloud, 'admin'))


def targets(*texts):
    return [window.Target.parse('user', text) for text in texts]


def test_target_parsing():
    target = window.Target.parse('user', 'ann@ldap:proj@corp')
    assert (target.name, target.domain, target.project,
            target.project_domain) == ('ann', 'ldap', 'proj', 'corp')
    plain = window.Target.parse('group', 'ops:demo')
    assert (plain.domain, plain.project_domain) == ('Default', 'Default')
    for bad in ('ops', ':demo', 'ops:', '@x:demo', 'ops:demo@'):
        with pytest.raises(ValueError):
            window.Target.parse('user', bad)


def test_grant_then_revoke_exactly_what_was_created(admin):
    planned = window.plan_grants(
        admin, targets('demo-member:demo', 'demo-migration:demo'),
        'migration', already=())
    statuses = {g.actor: g.status for g in planned}
    assert statuses == {'demo-member@Default': 'pending',
                        'demo-migration@Default': 'existing'}
    granted = window.apply_grants(admin, planned)
    assert all(admin.exists(g) for g in granted)
    revoked, stuck = window.revoke_grants(admin, granted)
    assert [g.actor for g in revoked] == ['demo-member@Default'] and not stuck
    member, migration = granted
    assert not admin.exists(member)
    assert admin.exists(migration)  # it existed before: never revoked


def test_replanning_skips_what_the_window_already_records(admin):
    planned = window.plan_grants(admin, targets('demo-member:demo'),
                                   'migration', already=())
    again = window.plan_grants(admin, targets('demo-member:demo'),
                                 'migration', already=planned)
    assert again == []


def test_unknown_user_changes_nothing(admin):
    with pytest.raises(window.GrantError, match='no such user'):
        window.plan_grants(
            admin, targets('demo-member:demo', 'nobody:demo'), 'migration',
            already=())
    member = window.plan_grants(admin, targets('demo-member:demo'),
                                  'migration', already=())
    assert member[0].status == 'pending'  # nothing was granted


def test_failed_grant_takes_back_the_ones_before_it(admin):
    planned = window.plan_grants(admin, targets('demo-member:demo'),
                                   'migration', already=())
    bogus = planned[0].__class__(**dict(planned[0].to_dict(),
                                        actor='ghost', actor_id='0' * 32))
    with pytest.raises(window.GrantError, match='ghost'):
        window.apply_grants(admin, planned + [bogus])
    assert not admin.exists(planned[0])


def test_missing_role_is_created_with_a_description(admin):
    role = admin.ensure_role('freeze-test-role')
    assert role.description == keystone.ROLE_DESCRIPTION
    assert admin.ensure_role('freeze-test-role').id == role.id


def test_caller_without_admin_gets_a_clear_error(cloud):
    member = keystone.Keystone(session_for(cloud, 'demo-member'))
    with pytest.raises(window.GrantError, match='admin role'):
        window.plan_grants(member, targets('demo-member:demo'),
                             'freeze-test-other-role', already=())
