"""The freeze as an oslo.policy overlay, in a real nova-api 34.

A second nova-api runs nova's stock api-paste.ini (no freeze filter) on the
cloud's Keystone and databases, its ``[oslo_policy]`` pointing at a policy
file and a policy dir of this module's.  The real freeze-ctl writes and
removes the overlay there, and nova must follow on the very next request.
The cloud's main nova-api has the filter: the same calls through it must be
allowed and denied alike (503 from the filter, 403 from nova's policy).

Every call is one nova answers without an image service or a compute host,
and whose policy nova checks before looking anything up, so that a status
tells who answered: 403/503 the freeze, anything else nova itself.
"""

import json
import pathlib
import subprocess
import sys
import uuid

import pytest

from tests.e2e.test_freeze_e2e import wait_for_epoch
from tools.localcloud import call

MISSING = str(uuid.UUID(int=0))
USERS = ('admin', 'demo-member', 'demo-migration', 'neutron')
STOCK_PASTE = pathlib.Path(sys.prefix) / 'etc' / 'nova' / 'api-paste.ini'
KEYPAIRS_CREATE = 'os_compute_api:os-keypairs:create'


def requests():
    """name -> (method, path, body); fresh names for what creates things."""
    unique = uuid.uuid4().hex[:12]
    return {
        'read': ('GET', '/v2.1/os-keypairs', None),
        'keypair': ('POST', '/v2.1/os-keypairs',
                    {'keypair': {'name': f'kp-{unique}'}}),
        'flavor': ('POST', '/v2.1/flavors',
                   {'flavor': {'name': f'fl-{unique}', 'ram': 64,
                               'vcpus': 1, 'disk': 1}}),
        'console': ('POST', f'/v2.1/servers/{MISSING}/action',
                    {'os-getVNCConsole': {'type': 'novnc'}}),
        'boot': ('POST', '/v2.1/servers',
                 {'server': {'name': f'vm-{unique}', 'imageRef': MISSING,
                             'flavorRef': 'no-such-flavor'}}),
        'events': ('POST', '/v2.1/os-server-external-events',
                   {'events': [{'name': 'network-vif-plugged',
                                'server_uuid': MISSING,
                                'status': 'completed', 'tag': 'p'}]}),
    }


WRITES = {'keypair', 'flavor', 'console', 'boot', 'events'}
# mode -> user -> the calls the freeze denies (the decision table); every
# other call gets nova's own answer, as when thawed.
DENIED = {
    'full': {'admin': WRITES, 'demo-member': WRITES | {'read'},
             'demo-migration': set(),
             'neutron': WRITES - {'events'} | {'read'}},
    'writes': {'admin': WRITES, 'demo-member': WRITES,
               'demo-migration': set(), 'neutron': WRITES - {'events'}},
    'network': {'admin': {'boot'}, 'demo-member': {'boot'},
                'demo-migration': set(), 'neutron': {'boot'}},
}


def freeze_ctl(*args):
    result = subprocess.run(
        [sys.executable, '-m', 'freeze.cli.freeze_ctl']
        + [str(a) for a in args] + ['-f', 'json'],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    """The policy nova's policy file (empty) and dir, and freeze-ctl's view."""
    root = tmp_path_factory.mktemp('policy-site')
    (root / 'policy.d').mkdir()
    (root / 'policy.yaml').write_text('{}\n')
    (root / 'nova.conf').write_text(
        f'[oslo_policy]\npolicy_file = {root / "policy.yaml"}\npolicy_dirs = '
        f'{root / "policy.d"}\n')
    return root


@pytest.fixture(scope='module')
def policy_nova(cloud, site):
    api = cloud.start_nova(str(STOCK_PASTE), nova_conf={'oslo_policy': {
        'policy_file': str(site / 'policy.yaml'),
        'policy_dirs': str(site / 'policy.d')}})
    yield api
    api.stop()


def overlay_ctl(site, *args):
    return freeze_ctl('--config-file', site / 'nova.conf',
                      '--state', (site / 'state.json').as_uri(), *args,
                      '--policy-dir', site / 'policy.d')


@pytest.fixture(scope='module')
def tokens(cloud):
    return {user: cloud.token(user) for user in USERS}


def answers(url, tokens):
    """(user, call) -> status, for every user and call."""
    seen = {}
    for user in USERS:
        for name, (method, path, body) in requests().items():
            seen[(user, name)] = call(method, url + path, body=body,
                                      token=tokens[user]).status
    return seen


def set_middleware(cloud, state_path, *args):
    """Switch the main nova's filter with freeze-ctl; wait until enforced."""
    epoch = freeze_ctl('--state', state_path.as_uri(), *args)['epoch']
    wait_for_epoch(cloud, epoch)


@pytest.fixture(scope='module')
def thawed(cloud, policy_nova, tokens, freeze_state_path):
    """Each nova's own answers, with no freeze of either kind."""
    set_middleware(cloud, freeze_state_path, 'off')
    own = {'overlay': answers(policy_nova.url, tokens),
           'middleware': answers(cloud.nova_url, tokens)}
    assert own['overlay'] == own['middleware']
    assert own['overlay'][('demo-member', 'keypair')] == 200
    assert own['overlay'][('demo-member', 'console')] == 404
    assert own['overlay'][('demo-member', 'boot')] == 400
    assert own['overlay'][('neutron', 'events')] == 207
    return own


def expected(mode, thawed_answers, blocked_status):
    return {(user, name): blocked_status if name in DENIED[mode][user]
            else status for (user, name), status in thawed_answers.items()}


@pytest.mark.parametrize('mode', ['full', 'writes', 'network'])
def test_overlay_and_middleware_agree(cloud, policy_nova, site, tokens,
                                      thawed, freeze_state_path, mode):
    overlay_ctl(site, 'on', '--mode', mode, '--reason', 'e2e')
    try:
        by_overlay = answers(policy_nova.url, tokens)
    finally:
        overlay_ctl(site, 'off')
    restored = answers(policy_nova.url, tokens)  # next request, no restart
    set_middleware(cloud, freeze_state_path, 'on', '--mode', mode,
                   '--reason', 'e2e')
    try:
        by_middleware = answers(cloud.nova_url, tokens)
    finally:
        set_middleware(cloud, freeze_state_path, 'off')

    assert by_overlay == expected(mode, thawed['overlay'], 403)
    assert by_middleware == expected(mode, thawed['middleware'], 503)
    assert {key: status in (403, 503) for key, status in by_overlay.items()} \
        == {key: status in (403, 503) for key, status in by_middleware.items()}
    assert restored == thawed['overlay']


def test_reads_nova_has_no_policy_for_are_beyond_the_overlay(
        cloud, policy_nova, site, tokens, freeze_state_path):
    """GET /flavors: nova checks no policy, so only the filter can hold it."""
    flavors = '/v2.1/flavors'
    overlay_ctl(site, 'on', '--mode', 'full', '--reason', 'e2e')
    try:
        assert call('GET', policy_nova.url + flavors,
                    token=tokens['demo-member']).status == 200
    finally:
        overlay_ctl(site, 'off')
    set_middleware(cloud, freeze_state_path, 'on', '--mode', 'full',
                   '--reason', 'e2e')
    try:
        assert call('GET', cloud.nova_url + flavors,
                    token=tokens['demo-member']).status == 503
    finally:
        set_middleware(cloud, freeze_state_path, 'off')


def test_a_custom_restriction_holds_during_and_after(policy_nova, site,
                                                     tokens):
    """keypairs:create for admins only: no freeze mode may loosen it."""
    policy_file = site / 'policy.yaml'

    def keypair(user):
        _, path, body = requests()['keypair']
        return call('POST', policy_nova.url + path, body=body,
                    token=tokens[user]).status

    policy_file.write_text(f'"{KEYPAIRS_CREATE}": "rule:context_is_admin"\n')
    try:
        assert (keypair('demo-member'), keypair('admin')) == (403, 200)
        for mode in ('writes', 'network'):
            overlay_ctl(site, 'on', '--mode', mode, '--reason', 'e2e')
            status = overlay_ctl(site, 'status')
            assert status['policy_overlay_matches'], status
            assert keypair('demo-migration') == 403, mode
            assert keypair('demo-member') == 403, mode
        assert keypair('admin') == 200  # network mode leaves keypairs alone
        overlay_ctl(site, 'on', '--mode', 'writes', '--reason', 'e2e')
        assert keypair('admin') == 403
        overlay_ctl(site, 'off')
        assert (keypair('demo-member'), keypair('admin')) == (403, 200)
    finally:
        overlay_ctl(site, 'off')
        policy_file.write_text('{}\n')
    assert keypair('demo-member') == 200
