"""routes: path normalisation and the network-changing route table."""

import re

import pytest

from freeze import routes


@pytest.mark.parametrize('raw, expected', [
    ('/servers', '/servers'),
    ('/servers/', '/servers'),
    ('//servers///abc//action/', '/servers/abc/action'),
    ('/v2.1/servers/abc', '/servers/abc'),
    ('/v2/0123456789abcdef0123456789abcdef/servers', '/servers'),
    ('/0123456789abcdef0123456789abcdef/os-keypairs', '/os-keypairs'),
    ('/%73ervers/abc/%61ction', '/%73ervers/abc/%61ction'),
    ('/servers/x%2Faction', '/servers/x%2Faction'),
    ('/servers-x/os-keypairs', '/servers-x/os-keypairs'),
    ('/abc-123/os-keypairs', '/os-keypairs'),
    ('', '/'),
    ('/', '/'),
    ('/v2.1', '/'),
    ('/servers/../flavors', '/servers/../flavors'),
    ('/os-freeze/', '/os-freeze'),
])
def test_normalise(raw, expected):
    assert routes.normalise(raw) == expected


def test_project_id_segment_is_novas():
    """The optional project segment is recognised as nova's mapper does."""
    nova_api = pytest.importorskip('nova.api.openstack')
    token = nova_api.ProjectMapper()._get_project_id_token()
    assert token == f'{{project_id:{routes._PROJECT_ID.pattern}}}'


def test_every_network_route_exists_in_nova():
    nova_routes = pytest.importorskip('nova.api.openstack.compute.routes')
    nova_paths = [(re.sub(r'\{[^}]*\}', 'X', path), methods)
                  for path, methods in nova_routes.ROUTE_LIST]
    for route in routes.NETWORK_CHANGES:
        sample = re.sub(r'\{[^}]*\}', 'X', route.template)
        nova_methods = {m for path, methods in nova_paths if path == sample
                        for m in methods}
        assert route.methods & nova_methods, route


@pytest.mark.parametrize('method, path, action, expected', [
    ('POST', '/servers', None, True),
    ('GET', '/servers', None, False),
    ('DELETE', '/servers/abc', None, True),
    ('PUT', '/servers/abc', None, False),
    ('POST', '/servers/abc/os-interface', None, True),
    ('DELETE', '/servers/abc/os-interface/port1', None, True),
    ('GET', '/servers/abc/os-interface', None, False),
    ('POST', '/servers/abc/action', 'addFloatingIp', True),
    ('POST', '/servers/abc/action', 'os-migrateLive', True),
    ('POST', '/servers/abc/action', 'reboot', False),
    ('POST', '/servers/abc/action', 'createImage', False),
    ('POST', '/servers/abc/action', None, True),
    ('POST', '/servers/abc/migrations/1/action', 'force_complete', True),
    ('DELETE', '/servers/abc/migrations/1', None, True),
    ('GET', '/servers/abc/migrations/1', None, False),
    ('POST', '/os-security-groups', None, True),
    ('PUT', '/os-security-groups/1', None, True),
    ('GET', '/os-security-groups', None, False),
    ('DELETE', '/os-security-group-rules/7', None, True),
    ('POST', '/os-floating-ips', None, True),
    ('POST', '/os-networks/add', None, True),
    ('POST', '/os-networks/1/action', None, True),
    ('POST', '/os-tenant-networks', None, True),
    ('POST', '/os-volumes_boot', None, True),
    ('POST', '/os-keypairs', None, False),
    ('POST', '/flavors', None, False),
])
def test_changes_network(method, path, action, expected):
    assert routes.changes_network(method, path, action) is expected


def test_needs_action_only_for_action_routes():
    assert routes.needs_action('POST', '/servers/abc/action')
    assert routes.needs_action('POST', '/servers/a/migrations/1/action')
    assert not routes.needs_action('POST', '/servers')
    assert not routes.needs_action('GET', '/servers/abc/action')


@pytest.mark.parametrize('method, path, expected', [
    ('GET', '/servers', True),
    ('HEAD', '/servers', True),
    ('POST', '/servers', False),
    ('GET', '/os-hosts/compute-1', True),
    ('GET', '/os-hosts/compute-1/reboot', False),
    ('GET', '/os-hosts/compute-1/shutdown', False),
    ('GET', '/os-hosts/compute-1/startup', False),
])
def test_is_read_excludes_legacy_gets_that_act(method, path, expected):
    assert routes.is_read(method, path) is expected
