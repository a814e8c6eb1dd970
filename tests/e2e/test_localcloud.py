"""Smoke tests of the harness: the real services answer as nova would."""

import uuid

import pytest

from tools.localcloud import USERS, call


def _name():
    return f'e2e-{uuid.uuid4().hex[:8]}'


@pytest.mark.parametrize('user', sorted(USERS))
def test_every_user_gets_a_token(cloud, user):
    assert cloud.token(user)


def test_member_lists_flavors(cloud):
    reply = call('GET', f'{cloud.nova_url}/v2.1/flavors',
                 token=cloud.token('demo-member'))
    assert reply.status == 200
    assert 'flavors' in reply.body


def test_member_creates_a_keypair(cloud):
    reply = call('POST', f'{cloud.nova_url}/v2.1/os-keypairs',
                 {'keypair': {'name': _name()}},
                 token=cloud.token('demo-member'))
    assert reply.status in (200, 201)
    assert reply.body['keypair']['private_key']


def test_admin_creates_a_flavor(cloud):
    reply = call('POST', f'{cloud.nova_url}/v2.1/flavors',
                 {'flavor': {'name': _name(), 'ram': 64, 'vcpus': 1,
                             'disk': 1}},
                 token=cloud.token('admin'))
    assert reply.status == 200


def test_service_user_sends_external_events(cloud):
    """Past policy (service role) to nova's lookup: nova 34 answers 207
    Multi-Status with a 404 for the unknown server, not a plain 404."""
    reply = call('POST', f'{cloud.nova_url}/v2.1/os-server-external-events',
                 {'events': [{'name': 'network-changed',
                              'server_uuid': str(uuid.uuid4())}]},
                 token=cloud.token('neutron'))
    assert reply.status == 207
    assert [e['code'] for e in reply.body['events']] == [404]


def test_no_token_is_unauthorized(cloud):
    assert call('GET', f'{cloud.nova_url}/v2.1/servers').status == 401


def test_extra_nova_api_shares_keystone_and_databases(cloud, paste_ini,
                                                      nova_conf):
    token = cloud.token('demo-member')
    name = _name()
    created = call('POST', f'{cloud.nova_url}/v2.1/os-keypairs',
                   {'keypair': {'name': name}}, token=token)
    assert created.status == 200
    extra = cloud.start_nova(str(paste_ini), nova_conf, workers=2)
    try:
        reply = call('GET', f'{extra.url}/v2.1/os-keypairs/{name}',
                     token=token)
        assert reply.status == 200
    finally:
        extra.stop()
