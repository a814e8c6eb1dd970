"""The read-only Neutron API for real: ``nova-cutover proxy serve`` under
gunicorn on a generated nova-network database, read by openstacksdk,
python-openstackclient and python-neutronclient, compared with the real
Neutron the translation fills from the same database."""

import json
import os
import subprocess
import sys
import time

import pytest
import requests

from tools.novanet import generate
from freeze.proxy import view
from freeze.translate import fromnova, verify
from freeze.translate.apply import apply
from freeze.translate.changes import diff
from freeze.translate.desired import Desired
from freeze.translate.held import fetch
from freeze.translate.neutron import Neutron
from freeze.translate.settings import Settings
from tools.localproxy import ProxyServer

ADMIN = 'ac' * 16


@pytest.fixture(scope='module')
def nova(tmp_path_factory):
    """A VlanManager database of projects of its own (seed), its VLANs on
    physnet1 and a flat external network on a physnet of its own: nothing
    the translation tests hold in the shared Neutron."""
    path = tmp_path_factory.mktemp('nova') / 'nova.sqlite'
    gen = generate.generate(f'sqlite:///{path}', ports=6, manager='Vlan',
                            projects=1, seed=8)
    settings = generate.settings(gen, ADMIN)
    settings['physnets']['eth2'] = 'physnet1'
    settings['floating_pools']['nova']['physnet'] = 'proxy-public'
    return gen, settings


@pytest.fixture(scope='module')
def proxy(nova, tmp_path_factory):
    _, settings = nova
    with ProxyServer(str(tmp_path_factory.mktemp('proxy')), settings,
                     workers=2, poll_interval=0.3) as server:
        yield server


@pytest.fixture(scope='module')
def conn(proxy):
    import openstack
    return openstack.connect(auth_type='none',
                             auth={'endpoint': proxy.url},
                             network_endpoint_override=proxy.url)


def test_openstacksdk(conn, nova):
    gen, _ = nova
    networks = list(conn.network.networks())
    assert {n.name for n in networks} == {'net-1', 'nova'}
    ports = [p for p in conn.network.ports() if p.device_owner.startswith(
        'compute:')]
    port = ports[0]
    mine = list(conn.network.ports(device_id=port.device_id))
    assert [p.id for p in mine] == [port.id]
    assert conn.network.get_port(port.id).mac_address == port.mac_address
    assert list(conn.network.ips())
    groups = list(conn.network.security_groups(project_id=gen.projects[0]))
    assert {g.name for g in groups} >= {'default', 'web', 'db'}
    paged = list(conn.network.ports(limit=4))
    assert len(paged) == len(list(conn.network.ports()))


def test_openstack_cli_and_neutronclient(proxy):
    out = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), 'openstack'),
         '--os-auth-type', 'none', '--os-endpoint', proxy.url,
         'network', 'list', '-f', 'json'],
        check=True, capture_output=True, text=True).stdout
    names = {n['Name'] for n in json.loads(out)}
    assert {'net-1', 'nova'} <= names
    from neutronclient.v2_0 import client
    neutron = client.Client(endpoint_url=proxy.url, auth_strategy='noauth')
    ports = neutron.list_ports()['ports']
    device = ports[-1]['device_id']
    assert neutron.list_ports(device_id=device)['ports'] == [ports[-1]]
    assert neutron.show_network(ports[0]['network_id'])['network']['id'] == (
        ports[0]['network_id'])


@pytest.fixture(params=['Vlan', 'FlatDHCP', 'mixed'])
def case(request, nova, proxy, tmp_path):
    """The module's VlanManager database and proxy, or a FlatDHCP one with
    multi_host addresses and IPv6 (SLAAC) on a flat physnet of its own
    (mixed: a second flat network and a VLAN per project too)."""
    if request.param == 'Vlan':
        yield nova, proxy
        return
    url = f'sqlite:///{tmp_path}/flat.sqlite'
    mixed = request.param == 'mixed'
    gen = generate.generate(url, ports=6, projects=1 + mixed, hosts=2,
                            seed=9, mixed=mixed)
    settings = generate.settings(gen, ADMIN)
    settings['physnets']['eth1'] = 'proxy-flat'
    settings['physnets'][generate.MIXED_BRIDGE] = 'proxy-flat2'
    settings['floating_pools']['nova']['physnet'] = 'proxy-public'
    with ProxyServer(str(tmp_path / 'proxy'), settings, workers=1) as flat:
        yield (gen, settings), flat


def test_same_view_as_the_translated_neutron(case, neutron):
    """After ``translate apply`` of the same database, the proxy and the real
    Neutron agree resource by resource (verify's diff), and their objects
    have the same attributes."""
    (gen, settings), proxy = case
    wanted = fromnova.desired(gen.url, Settings.parse(settings))
    actual = fetch(neutron)
    try:
        result = apply(diff(wanted, actual), neutron, actual)
        assert not result.failures, result.failures
        served = fetch(Neutron.noauth(proxy.url))
        real = fetch(neutron)
        assert len(served) == len(real) == len(wanted)
        assert verify.compare(served, real) == []
        assert verify.compare(real, served) == []
        # Rules are compared in their own list below: fetch() reads them
        # inside their groups, where Neutron adds its internal
        # standard_attr_id, which the proxy does not copy.
        for kind, items in real.items.items():
            if kind in ('rule', 'router_interface'):
                continue
            for key in items:
                mine, theirs = set(served.raw[key]), set(real.raw[key])
                assert mine == theirs, (key, mine ^ theirs)
        # Rules shown as Neutron stored them (nova's 1-65535 as no range,
        # ICMP -1 as none, ipv6-icmp), not only equal as Neutron keys them.
        shown = ('direction', 'ethertype', 'protocol', 'port_range_min',
                 'port_range_max', 'remote_ip_prefix', 'normalized_cidr')
        for key in real.items['rule']:
            assert ({f: served.raw[key][f] for f in shown}
                    == {f: real.raw[key][f] for f in shown}), key
        rules = neutron.list('security-group-rules')
        assert {frozenset(r) for r in rules} == {view.FIELDS[
            'security-group-rules']}
    finally:
        rest = fetch(neutron)
        apply(diff(Desired.empty(), rest), neutron, rest)


def error_of(reply):
    body = reply.json()['NeutronError']
    return reply.status_code, body['type'], body['message']


@pytest.mark.parametrize('path', [
    '/v2.0/ports?bogus=1', '/v2.0/networks?shared=nope',
    '/v2.0/ports?fixed_ips=nonsense', '/v2.0/ports?limit=many',
    '/v2.0/ports?sort_key=id', '/v2.0/subnets?ip_version=four',
    '/v2.0/ports/not-a-port', '/v2.0/networks/1234',
    '/v2.0/security-groups/x', '/v2.0/nothing', '/v2.0/networks/%ff%fe',
    '/v2.0/%ff', '/v2.0/ports?limit=2&marker=nonsense',
    '/v2.0/networks?limit=1&page_reverse=True'
    '&marker=0f0f0f0f-0000-4000-8000-000000000000',
    '/v2.0/routers/x/add_router_interface'])
def test_bad_requests_answered_as_neutron_does(proxy, neutron_server, path):
    mine = requests.get(proxy.url + path)
    assert error_of(mine) == error_of(requests.get(neutron_server.url + path))


@pytest.mark.parametrize('query', ['name=%ff%fe', '%ff=1', 'fields=%ff',
                                   'fixed_ips=ip_address%3D%ff'])
def test_query_bytes_that_are_not_utf8_are_neutrons_400(proxy, neutron_server,
                                                        query):
    theirs = requests.get(f'{neutron_server.url}/v2.0/ports?{query}')
    mine = requests.get(f'{proxy.url}/v2.0/ports?{query}')
    # Neutron's body is webob's HTML page here; the proxy's the same text
    # in Neutron's JSON error shape, which clients parse.
    assert mine.status_code == theirs.status_code == 400
    assert error_of(mine)[2] in theirs.text


@pytest.mark.parametrize('method, path', [
    ('POST', '/v2.0/networks'), ('PUT', '/v2.0/ports/x'),
    ('DELETE', '/v2.0/security-groups/x'), ('PATCH', '/v2.0/routers/x'),
    ('PUT', '/v2.0/routers/x/add_router_interface'),
    ('PUT', '/v2.0/networks/x/tags'), ('DELETE', '/v2.0/ports/x/tags/a')])
def test_writes_refused_and_nothing_changes(proxy, method, path):
    before = requests.get(proxy.url + '/v2.0/ports').json()
    reply = requests.request(method, proxy.url + path,
                             json={'network': {'name': 'x'}})
    assert reply.status_code == 503
    assert int(reply.headers['Retry-After']) > 0
    _, type, message = error_of(reply)
    assert type == 'ServiceUnavailable' and 'frozen' in message
    assert requests.get(proxy.url + '/v2.0/ports').json() == before


def test_view_follows_the_nova_database(conn, nova):
    """Last: it changes the database. A boot shows up in every worker."""
    gen, _ = nova
    instance, vif = generate.add_instance(
        gen.url, gen.projects[0], gen.network_ids[0], 'compute-2',
        [gen.group_ids[gen.projects[0]]['default']])
    deadline = time.monotonic() + 20
    while True:
        # both workers, most likely; a listing and a show each time, as a
        # worker that has not yet reloaded answers 404 to the show
        found = [(list(conn.network.ports(device_id=instance)),
                  conn.network.find_port(vif)) for _ in range(4)]
        if all(ports and ports[0].id == vif and shown is not None
               for ports, shown in found):
            break
        assert time.monotonic() < deadline, found
        time.sleep(0.2)
    assert {shown.binding_host_id for _, shown in found} == {'compute-2'}


def test_keystone_pipeline_scopes_by_project(cloud, nova, tmp_path):
    """Behind auth_token (the paste file's keystone pipeline) a token is
    required; an admin sees every project, a member only its own (here: no
    port) and the external network."""
    from freeze.window import DEFAULT_DOMAIN
    from tools.localcloud import USERS
    _, settings = nova
    password, project, _ = USERS['neutron']
    conf = {'proxy': {'auth_strategy': 'keystone'}, 'keystone_authtoken': {
        'www_authenticate_uri': cloud.keystone_url,
        'auth_url': cloud.keystone_url, 'auth_type': 'password',
        'username': 'neutron', 'password': password,
        'project_name': project, 'user_domain_name': DEFAULT_DOMAIN,
        'project_domain_name': DEFAULT_DOMAIN}}
    with ProxyServer(str(tmp_path), settings, workers=1,
                     conf=conf) as server:
        assert requests.get(server.url + '/').status_code == 200
        assert requests.get(server.url + '/v2.0/ports').status_code == 401

        def get(user, path):
            reply = requests.get(server.url + path,
                                 headers={'X-Auth-Token': cloud.token(user)})
            assert reply.status_code == 200, reply.text
            return reply.json()
        assert get('admin', '/v2.0/ports')['ports']
        assert get('demo-member', '/v2.0/ports')['ports'] == []
        networks = get('demo-member', '/v2.0/networks')['networks']
        assert [n['name'] for n in networks] == ['nova']
