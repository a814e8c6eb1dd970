"""The proxy's view: Neutron's shapes, stable ids, references resolved, the
translation's keys carried, and fetch() reading it back as desired."""

import ipaddress

import pytest

from tools.novanet import generate
from freeze.proxy import view
from freeze.translate import fromnova, keys
from freeze.translate.settings import Settings

ADMIN = 'ad' * 16


@pytest.fixture(scope='module', params=['Vlan', 'FlatDHCP'])
def translated(request, tmp_path_factory):
    path = tmp_path_factory.mktemp('nova') / 'nova.sqlite'
    gen = generate.generate(f'sqlite:///{path}', ports=12,
                            manager=request.param)
    settings = Settings.parse(generate.settings(gen, ADMIN))
    wanted = fromnova.desired(gen.url, settings)
    return wanted, view.build(wanted)


def test_every_object_has_neutrons_attributes(translated):
    _, objects = translated
    for collection, objs in objects.items():
        assert objs, collection
        for obj in objs:
            extra = view.EXTERNAL_ONLY if (
                collection == 'networks' and obj['router:external']) else set()
            assert set(obj) == view.FIELDS[collection] | extra, collection
            assert obj['tenant_id'] == obj['project_id']
        assert [o['id'] for o in objs] == sorted(o['id'] for o in objs)


def test_ids_are_stable_and_references_resolve(translated):
    wanted, objects = translated
    assert view.build(wanted) == objects
    ids = {o['id'] for objs in objects.values() for o in objs}
    nova_ports = {r.stable_id for r in wanted.resources['port'].values()}
    assert nova_ports <= ids
    for port in objects['ports']:
        assert port['network_id'] in ids
        assert {ip['subnet_id'] for ip in port['fixed_ips']} <= ids
        assert set(port['security_groups']) <= ids
    for fip in objects['floatingips']:
        assert fip['floating_network_id'] in ids
        assert (fip['port_id'] is None) == (fip['port_details'] is None)
        assert (fip['port_id'] is None) == (fip['router_id'] is None)
    for group in objects['security-groups']:
        for rule in group['security_group_rules']:
            assert rule['security_group_id'] == group['id']
            assert rule['belongs_to_default_sg'] == (group['name'] ==
                                                     'default')


def test_keys_travel_in_tags_and_description(translated):
    wanted, objects = translated
    port = next(iter(wanted.resources['port'].values()))
    obj = next(o for o in objects['ports'] if o['id'] == port.stable_id)
    assert obj['tags'] == [keys.MARK, keys.KEY_TAG + port.key]
    assert obj['description'] == f'{keys.MARK} key={port.key}'


def test_router_interfaces_are_ports_on_the_gateway(translated):
    wanted, objects = translated
    interfaces = [p for p in objects['ports']
                  if p['device_owner'] == view.ROUTER_INTERFACE]
    assert len(interfaces) == len(wanted.resources['router_interface']) > 0
    routers = {r['id'] for r in objects['routers']}
    gateways = {s['id']: s['gateway_ip'] for s in objects['subnets']}
    for port in interfaces:
        assert port['device_id'] in routers and not port['tags']
        ip = port['fixed_ips'][0]
        assert gateways[ip['subnet_id']] == ip['ip_address']


def test_subnet_pools_default_like_neutron():
    assert view._pools(ipaddress.ip_network('10.0.0.0/29'), '10.0.0.1') == (
        ('10.0.0.2', '10.0.0.6'),)
    assert view._pools(ipaddress.ip_network('fd00::/125'), 'fd00::4') == (
        ('fd00::1', 'fd00::3'), ('fd00::5', 'fd00::7'))
