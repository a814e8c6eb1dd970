"""The freeze filter inside a real nova-api, behind real Keystone tokens.

Each mode is switched on with the real freeze-ctl; a status tells who answered:
503 the freeze, 403 nova's policy, 404 nova itself (actions on a missing
server), 2xx done.
"""

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

import pytest

from tests.helpers import wait_until
from tools.localcloud import call

MISSING = str(uuid.UUID(int=0))
USERS = ('admin', 'demo-member', 'demo-migration', 'neutron')


def requests(tag):
    return {
        'read': ('GET', '/v2.1/flavors', None),
        'keypair': ('POST', '/v2.1/os-keypairs',
                    {'keypair': {'name': f'kp-{tag}-{uuid.uuid4().hex}'}}),
        'reboot': ('POST', f'/v2.1/servers/{MISSING}/action',
                   {'reboot': {'type': 'SOFT'}}),
        'migrate': ('POST', f'/v2.1/servers/{MISSING}/action',
                    {'migrate': None}),
        'events': ('POST', '/v2.1/os-server-external-events',
                   {'events': [{'name': 'network-vif-plugged',
                                'server_uuid': MISSING,
                                'status': 'completed', 'tag': 'p'}]}),
    }


# mode -> user -> request -> status.  Thawed shows nova's own answers.
N = None  # nova's own answer (as when thawed)
EXPECTED = {
    'full': {
        'admin': dict(read=N, keypair=503, reboot=503, migrate=503, events=503),
        'demo-member': dict(read=503, keypair=503, reboot=503, migrate=503,
                            events=503),
        'demo-migration': dict(read=N, keypair=N, reboot=N, migrate=N,
                               events=N),
        'neutron': dict(read=503, keypair=503, reboot=503, migrate=503,
                        events=N),
    },
    'writes': {
        'admin': dict(read=N, keypair=503, reboot=503, migrate=503, events=503),
        'demo-member': dict(read=N, keypair=503, reboot=503, migrate=503,
                            events=503),
        'demo-migration': dict(read=N, keypair=N, reboot=N, migrate=N,
                               events=N),
        'neutron': dict(read=N, keypair=503, reboot=503, migrate=503,
                        events=N),
    },
    'network': {
        user: dict(read=N, keypair=N, reboot=N, migrate=503, events=N)
        for user in ('admin', 'demo-member', 'neutron')
    } | {'demo-migration': dict(read=N, keypair=N, reboot=N, migrate=N,
                                events=N)},
}


def freeze_ctl(state_path, *args):
    result = subprocess.run(
        [sys.executable, '-m', 'freeze.cli.freeze_ctl', '--state',
         state_path.as_uri()] + list(args) + ['-f', 'json'],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def wait_for_epoch(cloud, epoch, timeout=5.0):
    """Seconds until nova-api enforces ``epoch`` (seen via GET /os-freeze)."""
    token = cloud.token('admin')

    def enforced():
        reply = call('GET', cloud.nova_url + '/v2.1/os-freeze', token=token)
        return reply.status == 200 and reply.body['freeze']['epoch'] == epoch
    start = time.monotonic()
    wait_until(enforced, timeout, 0.02,
               what=f'nova-api enforcing epoch {epoch}')
    return time.monotonic() - start


@pytest.fixture(scope='module')
def tokens(cloud):
    return {user: cloud.token(user) for user in USERS}


@pytest.fixture(scope='module')
def thawed_answers(cloud, tokens, freeze_state_path):
    """What nova itself answers each user, with no freeze."""
    epoch = freeze_ctl(freeze_state_path, 'off')['epoch']
    wait_for_epoch(cloud, epoch)
    answers = {}
    for user in USERS:
        for name, (method, path, body) in requests('thawed').items():
            answers[(user, name)] = call(method, cloud.nova_url + path,
                                         body=body, token=tokens[user]).status
    assert answers[('demo-member', 'keypair')] == 200
    assert answers[('demo-member', 'reboot')] == 404
    assert answers[('neutron', 'events')] == 207
    return answers


@pytest.fixture
def frozen(cloud, freeze_state_path):
    """Freeze in a mode, wait until nova enforces it; thaw afterwards."""
    def freeze(mode, *extra):
        epoch = freeze_ctl(freeze_state_path, 'on', '--mode', mode,
                           '--reason', 'e2e cutover', *extra)['epoch']
        return wait_for_epoch(cloud, epoch)
    yield freeze
    wait_for_epoch(cloud, freeze_ctl(freeze_state_path, 'off')['epoch'])


@pytest.mark.parametrize('mode', ['full', 'writes', 'network'])
def test_mode_table(cloud, tokens, thawed_answers, frozen, mode):
    frozen(mode)
    seen, expected = {}, {}
    for user in USERS:
        for name, (method, path, body) in requests(mode).items():
            reply = call(method, cloud.nova_url + path, body=body,
                         token=tokens[user])
            seen[(user, name)] = reply.status
            want = EXPECTED[mode][user][name]
            expected[(user, name)] = (thawed_answers[(user, name)]
                                      if want is None else want)
    assert seen == expected


def test_blocked_answer_is_a_nova_fault(cloud, tokens, frozen):
    frozen('full', '--for', '2h')
    reply = call('POST', cloud.nova_url + '/v2.1/os-keypairs',
                 body={'keypair': {'name': 'x'}}, token=tokens['demo-member'])
    assert reply.status == 503
    assert 7000 < int(reply.headers['Retry-After']) <= 7200
    fault = reply.body['serviceUnavailable']
    assert fault['code'] == 503
    assert 'full' in fault['message'] and 'e2e cutover' in fault['message']
    assert reply.headers['x-compute-request-id'].startswith('req-')


def test_change_reaches_nova_within_a_second(cloud, frozen):
    assert frozen('writes') < 1.0


def test_legacy_and_odd_paths_are_classified_alike(cloud, tokens, frozen):
    frozen('network')
    project = call('GET', cloud.keystone_url + '/auth/tokens', token=tokens[
        'demo-member'], headers={'X-Subject-Token': tokens['demo-member']}
    ).body['token']['project']['id']
    body = {'migrate': None}
    for path in (f'/v2/{project}/servers/{MISSING}/action',
                 f'/v2.1/{project}/servers/{MISSING}/action',
                 f'/v2.1//servers/{MISSING}/action/',
                 f'/v2.1/%73ervers/{MISSING}/action'):
        reply = call('POST', cloud.nova_url + path, body=body,
                     token=tokens['demo-member'])
        assert reply.status == 503, path


def test_spoofed_identity_headers_do_not_pass(cloud, tokens, frozen):
    frozen('full')
    reply = call('POST', cloud.nova_url + '/v2.1/os-keypairs',
                 body={'keypair': {'name': 'spoof'}},
                 token=tokens['demo-member'],
                 headers={'X-Roles': 'migration', 'X-Identity-Status':
                          'Confirmed', 'X-HTTP-Method-Override': 'GET'})
    assert reply.status == 503


def test_monitoring_endpoint(cloud, tokens, frozen):
    frozen('writes')
    admin = call('GET', cloud.nova_url + '/v2.1/os-freeze',
                 token=tokens['admin'])
    assert admin.status == 200
    assert admin.body['freeze']['mode'] == 'writes'
    assert call('GET', cloud.nova_url + '/v2.1/os-freeze',
                token=tokens['demo-member']).status == 403
    assert call('GET', cloud.nova_url + '/v2.1/os-freeze').status == 401


def test_corrupt_state_fails_closed_without_500(cloud, tokens,
                                                freeze_state_path):
    freeze_ctl(freeze_state_path, 'off')
    good = freeze_state_path.read_text()
    try:
        freeze_state_path.write_text('{"frozen": tr')
        time.sleep(1.0)
        reply = call('POST', cloud.nova_url + '/v2.1/os-keypairs',
                     body={'keypair': {'name': 'corrupt'}},
                     token=tokens['demo-member'])
        assert reply.status == 503
        assert 'cannot be read' in reply.body['serviceUnavailable']['message']
        migration = call('POST', cloud.nova_url + '/v2.1/os-keypairs',
                         body={'keypair': {
                             'name': f'corrupt-{uuid.uuid4().hex}'}},
                         token=tokens['demo-migration'])
        assert migration.status == 200
    finally:
        freeze_state_path.write_text(good)
        time.sleep(1.0)
    assert call('GET', cloud.nova_url + '/v2.1/flavors',
                token=tokens['demo-member']).status == 200


def raw_call(method, url, token, body=b'', content_type=None):
    """A request spelled as given (any method, raw body): the status."""
    request = urllib.request.Request(url, method=method, data=body or None)
    request.add_header('X-Auth-Token', token)
    if content_type:
        request.add_header('Content-Type', content_type)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        error.close()
        return error.code


def test_method_overrides_cannot_bypass_the_freeze(cloud, tokens, frozen,
                                                   freeze_state_path):
    """Harmless methods overridden into writes, against nova's real router:
    nova acts on ``_method`` (shown thawed at the end), so the freeze must
    too."""
    nova = cloud.nova_url + '/v2.1'
    member, admin = tokens['demo-member'], tokens['admin']
    keypair = f'kp-override-{uuid.uuid4().hex[:8]}'
    assert call('POST', nova + '/os-keypairs', {'keypair': {'name': keypair}},
                member).status == 200
    flavor = call('POST', nova + '/flavors', {'flavor': {
        'name': f'f-override-{uuid.uuid4().hex[:8]}', 'ram': 64,
        'vcpus': 1, 'disk': 0}}, admin).body['flavor']['id']
    form = 'application/x-www-form-urlencoded'

    frozen('writes')
    for method, query, body, content_type in [
            ('GET', '?_method=DELETE', b'', None),
            ('GET', '?_method=delete&a=1', b'', None),
            ('GET', '?_method=GET&_method=DELETE', b'', None),
            ('POST', '', b'_method=DELETE', form),
            # routes cannot parse this form: the method is unknown, a write
            ('POST', '', b'_method=GET', form + '; charset=latin-1')]:
        assert raw_call(method, nova + '/os-keypairs/' + keypair + query,
                        member, body, content_type) == 503, (method, query)
    # oslo.middleware's CORS answers every OPTIONS 200 whatever happened
    # inside: what counts is that the keypair survives this one.
    raw_call('OPTIONS', nova + f'/os-keypairs/{keypair}?_method=DELETE',
             member)
    # An override to a read is a read, as nova routes it: this DELETE shows
    # the keypair.
    assert raw_call('DELETE', nova + f'/os-keypairs/{keypair}?_method=GET',
                    member) == 200

    frozen('full')
    assert raw_call('HEAD', nova + f'/flavors/{flavor}?_method=DELETE',
                    admin) == 503
    assert call('GET', nova + '/flavors/' + flavor, token=admin).status == 200

    frozen('network')
    server = nova + '/servers/' + MISSING
    assert raw_call('PUT', nova + '/servers?_method=POST', member,
                    b'{"server": {}}', 'application/json') == 503
    assert raw_call('GET', server + '?_method=DELETE', member) == 503
    assert raw_call('PUT', server + '/action?_method=POST', member,
                    b'{"addFixedIp": {"networkId": "n1"}}',
                    'application/json') == 503
    # Not a network change: nova's own answer (no such server).
    assert raw_call('PUT', server + '/action?_method=POST', member,
                    b'{"reboot": {"type": "SOFT"}}',
                    'application/json') == 404

    # Thawed, nova itself acts on the overrides: the keypair and flavor that
    # survived the freeze are deleted by these very requests.
    wait_for_epoch(cloud, freeze_ctl(freeze_state_path, 'off')['epoch'])
    assert call('GET', nova + '/os-keypairs/' + keypair,
                token=member).status == 200
    assert raw_call('GET', nova + f'/os-keypairs/{keypair}?_method=DELETE',
                    member) == 202
    assert call('GET', nova + '/os-keypairs/' + keypair,
                token=member).status == 404
    assert raw_call('HEAD', nova + f'/flavors/{flavor}?_method=DELETE',
                    admin) == 202
    assert call('GET', nova + '/flavors/' + flavor, token=admin).status == 404
