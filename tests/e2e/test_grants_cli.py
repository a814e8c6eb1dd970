"""freeze-ctl's role grants end to end: real Keystone, real nova-api.

After ``on --grant``, a fresh token of the grantee carries the migration role
and writes through a full freeze; ``off`` takes back exactly what ``on``
created.
"""

import json
import os
import subprocess
import sys

import pytest

from tests.e2e.test_freeze_e2e import wait_for_epoch
from tools.localcloud import call


def freeze_ctl(cloud, state_path, *args, user='admin'):
    env = dict(os.environ, **cloud.os_env(user))
    return subprocess.run(
        [sys.executable, '-m', 'freeze.cli.freeze_ctl', '--state',
         state_path.as_uri()] + list(args) + ['-f', 'json'],
        capture_output=True, text=True, env=env)


def token_roles(cloud, user):
    token = cloud.token(user)
    reply = call('GET', cloud.keystone_url + '/auth/tokens', token=token,
                 headers={'X-Subject-Token': token})
    return {role['name'] for role in reply.body['token']['roles']}


@pytest.fixture
def thawed_after(cloud, freeze_state_path):
    yield
    result = freeze_ctl(cloud, freeze_state_path, 'off')
    assert result.returncode == 0, result.stderr
    wait_for_epoch(cloud, json.loads(result.stdout)['epoch'])


def test_grant_for_the_window_and_revoke_after(cloud, freeze_state_path,
                                               thawed_after):
    assert 'migration' not in token_roles(cloud, 'demo-member')
    on = freeze_ctl(cloud, freeze_state_path, 'on', '--mode', 'full',
                    '--reason', 'grants e2e', '--grant', 'demo-member:demo',
                    '--grant', 'demo-migration@Default:demo@Default')
    assert on.returncode == 0, on.stderr
    state = json.loads(on.stdout)
    wait_for_epoch(cloud, state['epoch'])
    statuses = {g['actor']: g['status'] for g in state['grants']}
    assert statuses == {'demo-member@Default': 'created',
                        'demo-migration@Default': 'existing'}
    assert 'migration' in token_roles(cloud, 'demo-member')
    reply = call('POST', cloud.nova_url + '/v2.1/os-keypairs',
                 body={'keypair': {'name': 'granted-during-freeze'}},
                 token=cloud.token('demo-member'))
    assert reply.status == 200

    listed = freeze_ctl(cloud, freeze_state_path, 'grants')
    assert {g['actor'] for g in json.loads(listed.stdout)} == set(statuses)

    off = freeze_ctl(cloud, freeze_state_path, 'off')
    assert off.returncode == 0, off.stderr
    result = json.loads(off.stdout)
    assert result['revoked'] == [
        'role migration to user demo-member@Default on project demo@Default']
    assert result['grants'] == []
    roles = token_roles(cloud, 'demo-member')
    assert 'migration' not in roles and 'member' in roles
    assert 'migration' in token_roles(cloud, 'demo-migration')


def test_grant_and_revoke_inside_a_window(cloud, freeze_state_path,
                                          thawed_after):
    refused = freeze_ctl(cloud, freeze_state_path, 'grant', '--grant',
                         'demo-member:demo')
    assert refused.returncode == 1 and 'not frozen' in refused.stderr
    assert freeze_ctl(cloud, freeze_state_path, 'on', '--mode', 'writes',
                      '--reason', 'r').returncode == 0
    granted = freeze_ctl(cloud, freeze_state_path, 'grant', '--grant',
                         'demo-member:demo')
    assert granted.returncode == 0, granted.stderr
    again = freeze_ctl(cloud, freeze_state_path, 'grant', '--grant',
                       'demo-member:demo')
    assert len(json.loads(again.stdout)) == 1  # re-running is safe
    assert 'migration' in token_roles(cloud, 'demo-member')
    revoked = freeze_ctl(cloud, freeze_state_path, 'revoke', '--grant',
                         'demo-member:demo')
    assert revoked.returncode == 0, revoked.stderr
    assert json.loads(revoked.stdout) == []
    assert 'migration' not in token_roles(cloud, 'demo-member')
    unknown = freeze_ctl(cloud, freeze_state_path, 'revoke', '--grant',
                         'demo-member:demo')
    assert unknown.returncode == 1 and 'not granted' in unknown.stderr


def test_unknown_user_in_the_list_changes_nothing(cloud, freeze_state_path,
                                                  thawed_after):
    before = freeze_state_path.read_text() if freeze_state_path.exists() \
        else None
    result = freeze_ctl(cloud, freeze_state_path, 'on', '--mode', 'full',
                        '--reason', 'r', '--grant', 'demo-member:demo',
                        '--grant', 'nobody:demo', '--grant', 'neutron:service')
    assert result.returncode == 1
    assert 'no such user' in result.stderr and 'nobody' in result.stderr
    assert 'migration' not in token_roles(cloud, 'demo-member')
    status = json.loads(freeze_ctl(cloud, freeze_state_path,
                                   'status').stdout)
    assert not status['frozen'] and status['grants'] == []
    if before is not None:
        assert json.loads(before)['frozen'] == status['frozen']


def test_caller_without_admin_role_gets_a_clear_error(cloud,
                                                      freeze_state_path,
                                                      thawed_after):
    result = freeze_ctl(cloud, freeze_state_path, 'on', '--mode', 'full',
                        '--reason', 'r', '--grant', 'demo-member:demo',
                        user='demo-member')
    assert result.returncode == 1
    assert 'admin role' in result.stderr
    assert 'migration' not in token_roles(cloud, 'demo-member')


def test_no_credentials_freeze_works_grants_refused(cloud, freeze_state_path,
                                                    thawed_after):
    env = {k: v for k, v in os.environ.items() if not k.startswith('OS_')}
    command = [sys.executable, '-m', 'freeze.cli.freeze_ctl', '--state',
               freeze_state_path.as_uri()]
    plain = subprocess.run(command + ['on', '--mode', 'network', '--reason',
                                      'r'], capture_output=True, text=True,
                           env=env)
    assert plain.returncode == 0, plain.stderr
    grants = subprocess.run(command + ['grant', '--grant', 'demo-member:demo'],
                            capture_output=True, text=True, env=env)
    assert grants.returncode == 1
    assert 'Keystone credentials are needed' in grants.stderr


def test_keystone_down_during_off_keeps_what_is_left(cloud,
                                                     freeze_state_path,
                                                     thawed_after):
    on = freeze_ctl(cloud, freeze_state_path, 'on', '--mode', 'full',
                    '--reason', 'r', '--grant', 'demo-member:demo')
    assert on.returncode == 0, on.stderr
    cloud.keystone.stop()
    try:
        off = freeze_ctl(cloud, freeze_state_path, 'off')
        assert off.returncode == 1
        assert 'still to revoke' in off.stderr
        status = json.loads(freeze_ctl(cloud, freeze_state_path,
                                       'status').stdout)
        assert not status['frozen']  # thawed all the same
        assert [g['actor'] for g in status['grants']] == [
            'demo-member@Default']
    finally:
        cloud.keystone.start()
    again = freeze_ctl(cloud, freeze_state_path, 'off')
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)['grants'] == []
    assert 'migration' not in token_roles(cloud, 'demo-member')
