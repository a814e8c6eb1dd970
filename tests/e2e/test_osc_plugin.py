"""``openstack compute freeze`` through the real openstack client, against
the real Keystone and nova-api.

The plugin is found as every openstackclient plugin is, by its entry points;
they are read from this checkout's pyproject.toml into a distribution on the
client's path (unless the installed nova-freeze already declares them), so
the test checks what the package ships.
"""

import importlib.metadata
import json
import os
import subprocess
import sys
import tomllib

import pytest
from tools.localcloud import call

from tests.e2e.test_freeze_e2e import wait_for_epoch
from tests.e2e.test_grants_cli import token_roles

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
OPENSTACK = os.path.join(os.path.dirname(sys.executable), 'openstack')
GROUPS = ('openstack.cli.extension', 'openstack.nova_freeze.v1')


@pytest.fixture(scope='module')
def plugin_path(tmp_path_factory):
    """A path on which the openstack client finds the plugin."""
    if importlib.metadata.entry_points(group=GROUPS[0], name='nova_freeze'):
        return REPO
    with open(os.path.join(REPO, 'pyproject.toml'), 'rb') as f:
        declared = tomllib.load(f)['project']['entry-points']
    root = tmp_path_factory.mktemp('osc-plugin')
    info = root / 'nova_freeze_osc-0.dist-info'
    info.mkdir()
    (info / 'METADATA').write_text(
        'Metadata-Version: 2.1\nName: nova-freeze-osc\nVersion: 0\n')
    (info / 'entry_points.txt').write_text(''.join(
        '[%s]\n%s\n' % (group, ''.join('%s = %s\n' % item
                                       for item in declared[group].items()))
        for group in GROUPS))
    return os.pathsep.join([REPO, str(root)])


@pytest.fixture
def openstack(cloud, freeze_state_path, plugin_path):
    def run(*args, user='admin'):
        env = dict({k: v for k, v in os.environ.items()
                    if not k.startswith('OS_')},
                   PYTHONPATH=plugin_path,
                   NOVA_FREEZE_STATE=freeze_state_path.as_uri(),
                   **cloud.os_env(user))
        return subprocess.run([OPENSTACK] + list(args), capture_output=True,
                              text=True, env=env, timeout=120)
    yield run
    result = run('compute', 'freeze', 'unset', '-f', 'json')
    assert result.returncode == 0, result.stderr
    wait_for_epoch(cloud, json.loads(result.stdout)['epoch'])


def test_set_show_grant_unset(cloud, openstack):
    on = openstack('compute', 'freeze', 'set', '--mode', 'writes',
                   '--reason', 'osc e2e', '--for', '1h', '--grant',
                   'demo-member:demo', '-f', 'json')
    assert on.returncode == 0, on.stderr
    state = json.loads(on.stdout)
    assert (state['frozen'], state['mode'], state['in_force']) == (
        True, 'writes', True)
    assert state['grants'] == [
        'role migration to user demo-member@Default on project demo@Default']
    wait_for_epoch(cloud, state['epoch'])
    mode = openstack('compute', 'freeze', 'show', '-f', 'value', '-c', 'mode')
    assert (mode.returncode, mode.stdout) == (0, 'writes\n')

    # nova-api enforces it: the grantee writes, the admin does not
    reply = call('POST', cloud.nova_url + '/v2.1/os-keypairs',
                 body={'keypair': {'name': 'osc-granted'}},
                 token=cloud.token('demo-member'))
    assert reply.status == 200
    blocked = call('POST', cloud.nova_url + '/v2.1/os-keypairs',
                   body={'keypair': {'name': 'osc-admin'}},
                   token=cloud.token('admin'))
    assert blocked.status == 503 and 'osc e2e' in json.dumps(blocked.body)

    more = openstack('compute', 'freeze', 'grant', 'create',
                     'neutron:service', '-f', 'json')
    assert more.returncode == 0, more.stderr
    assert {g['actor'] for g in json.loads(more.stdout)} == {
        'demo-member@Default', 'neutron@Default'}
    assert 'migration' in token_roles(cloud, 'neutron')
    less = openstack('compute', 'freeze', 'grant', 'delete',
                     'neutron:service', '-f', 'value', '-c', 'actor')
    assert (less.returncode, less.stdout) == (0, 'demo-member@Default\n')
    assert 'migration' not in token_roles(cloud, 'neutron')

    off = openstack('compute', 'freeze', 'unset', '-f', 'json')
    assert off.returncode == 0, off.stderr
    thawed = json.loads(off.stdout)
    assert (thawed['frozen'], thawed['grants']) == (False, [])
    assert 'migration' not in token_roles(cloud, 'demo-member')


def test_refusals_are_one_line_and_change_nothing(cloud, openstack):
    before = json.loads(openstack('compute', 'freeze', 'show',
                                  '-f', 'json').stdout)
    empty = openstack('compute', 'freeze', 'set', '--mode', 'full',
                      '--reason', ' ')
    assert empty.returncode == 1
    assert empty.stderr.strip() == ('--reason must say why (every blocked '
                                    'caller sees it)')
    outside = openstack('compute', 'freeze', 'grant', 'create',
                        'demo-member:demo')
    assert outside.returncode == 1 and 'not frozen' in outside.stderr
    after = json.loads(openstack('compute', 'freeze', 'show',
                                 '-f', 'json').stdout)
    assert after == before
