"""The mapping rules, one by one, on hand-built nova-network rows."""

import pytest

from freeze.novanet import model
from freeze.translate import desired
from freeze.translate.desired import Ref
from freeze.translate.settings import Settings, SettingsError

P1, P2, ADMIN = 'p1' * 16, 'p2' * 16, 'ad' * 16
NET = '11111111-1111-1111-1111-111111111111'


def net(**kw):
    row = dict(id=1, uuid=NET, label='private', cidr='10.0.0.0/29',
               cidr_v6=None, gateway='10.0.0.1', gateway_v6=None,
               dns1='8.8.8.8', dns2=None, vlan=None, bridge='br100',
               bridge_interface='eth1',
               project_id=None, mtu=None, enable_dhcp=True, multi_host=True,
               dhcp_server='10.0.0.1', share_address=False)
    row.update(kw)
    return row


def fixed(id, address, reserved=False, **kw):
    return dict(dict(id=id, address=address, network_id=1,
                     virtual_interface_id=None, instance_uuid=None,
                     allocated=False, reserved=reserved, host=None), **kw)


def rows(**tables):
    base = {'networks': [net()], 'instances': [], 'virtual_interfaces': [],
            'security_groups': [], 'security_group_rules': [],
            'security_group_instance_association': [], 'floating_ips': [],
            'fixed_ips': [fixed(1, '10.0.0.0', True), fixed(2, '10.0.0.1', True),
                          fixed(3, '10.0.0.2'), fixed(4, '10.0.0.3'),
                          fixed(5, '10.0.0.4', True), fixed(6, '10.0.0.5'),
                          fixed(7, '10.0.0.6'), fixed(8, '10.0.0.7', True)]}
    base.update(tables)
    return base


def settings(**kw):
    return Settings.parse({
        'network_manager': 'FlatDHCP', 'admin_project_id': ADMIN,
        'physnets': {'eth1': 'physnet1', 'eth2': 'physnet2'},
        'floating_pools': {'nova': {'cidr': '172.24.4.0/24',
                                    'gateway': '172.24.4.1',
                                    'physnet': 'public'}}, **kw})


def translate(data, **kw):
    return desired.translate(model.build(data), settings(**kw))


def with_instance(data=None, host='compute-1', az=None, groups=()):
    data = data or rows()
    data['instances'].append(dict(uuid='i1', host=host, project_id=P1,
                                  availability_zone=az, display_name='vm'))
    data['virtual_interfaces'].append(dict(
        id=1, uuid='v1', address='FA:16:3E:00:00:01', network_id=1,
        instance_uuid='i1'))
    data['fixed_ips'][3].update(instance_uuid='i1', allocated=True,
                                virtual_interface_id=1)
    for n, g in enumerate(groups):
        data['security_group_instance_association'].append(dict(
            id=n, security_group_id=g, instance_uuid='i1'))
    return data


def test_flat_network_is_shared_on_its_physnet_with_mtu():
    out = translate(rows(networks=[net(mtu=1400)]))
    body = out.resources['network'][f'net:{NET}'].body
    assert body == {'name': 'private', 'project_id': ADMIN, 'shared': True,
                    'router:external': False,
                    'provider:network_type': 'flat',
                    'provider:physical_network': 'physnet1',
                    'provider:segmentation_id': None, 'mtu': 1400}


def test_vlan_network_belongs_to_its_project():
    out = translate(rows(networks=[net(vlan=102, project_id=P1,
                                       bridge_interface='eth2')]),
                    network_manager='nova.network.manager.VlanManager')
    body = out.resources['network'][f'net:{NET}'].body
    assert (body['provider:network_type'], body['provider:segmentation_id'],
            body['provider:physical_network'], body['project_id'],
            body['shared']) == ('vlan', 102, 'physnet2', P1, False)


def test_unassociated_vlan_network_is_reported_and_skipped_unless_asked():
    data = rows(networks=[net(vlan=9, bridge_interface='eth2')])
    out = translate(data, network_manager='Vlan')
    assert not out.resources['network']
    assert [p.kind for p in out.problems] == ['skipped']
    # not asked for: nothing to settle, whatever the settings say of it
    assert [p.kind for p in translate(data).problems] == ['skipped']
    out = translate(data, network_manager='Vlan',
                    include_unassociated_vlans=True)
    assert out.resources['network'][f'net:{NET}'].body['project_id'] == ADMIN


NET2 = '22222222-2222-2222-2222-222222222222'


def test_second_flat_network_on_a_physnet_is_a_conflict():
    second = net(id=2, uuid=NET2, cidr='10.1.0.0/24', bridge='br101')
    out = translate(rows(networks=[net(), second]))
    assert list(out.resources['network']) == [f'net:{NET}']
    assert [p.kind for p in out.problems] == ['conflict']
    assert 'already carries the flat network' in out.problems[0].message
    # nova gave each its own bridge on eth1: a physnet per bridge (as
    # linuxbridge's bridge_mappings) keeps both.
    out = translate(rows(networks=[net(), second]),
                    physnets={'br101': 'physnet3', 'eth1': 'physnet1'})
    assert not out.problems
    assert [r.body['provider:physical_network']
            for r in out.resources['network'].values()] == [
                'physnet1', 'physnet3']


def kinds(out):
    return {k: (r.body['provider:network_type'],
                r.body['provider:physical_network'],
                r.body['provider:segmentation_id'])
            for k, r in out.resources['network'].items()}


def test_network_kind_is_its_rows_and_a_mismatch_is_a_conflict():
    """As nova-network's bridge plugging: VLAN when the row has a vlan."""
    vlan = net(id=2, uuid=NET2, cidr='10.1.0.0/24', vlan=102, project_id=P1,
               bridge='br102', bridge_interface='eth2')
    data = rows(networks=[net(), vlan])
    expected = {f'net:{NET}': ('flat', 'physnet1', None),
                f'net:{NET2}': ('vlan', 'physnet2', 102)}
    for manager, odd in (('FlatDHCP', NET2), ('Vlan', NET)):
        out = translate(data, network_manager=manager)
        assert kinds(out) == expected
        assert [(p.kind, p.row) for p in out.problems] == [('conflict', odd)]
        assert 'confirm with networks:' in out.problems[0].message
        confirmed = translate(data, network_manager=manager,
                              networks={odd: {'type': expected[
                                  f'net:{odd}'][0]}})
        assert kinds(confirmed) == expected and not confirmed.problems


def test_nova_conf_interfaces_and_overrides_pick_the_physnet():
    vlan = net(vlan=7, project_id=P1, bridge='br7', bridge_interface='eth9')
    out = translate(rows(networks=[vlan]), network_manager='Vlan')
    assert [p.kind for p in out.problems] == ['conflict']   # eth9 unmapped
    assert 'no physnet' in out.problems[0].message
    out = translate(rows(networks=[vlan]), network_manager='Vlan',
                    vlan_interface='eth2')       # nova.conf's, over the row
    assert kinds(out) == {f'net:{NET}': ('vlan', 'physnet2', 7)}
    out = translate(rows(networks=[vlan]), network_manager='Vlan',
                    networks={NET: {'physnet': 'trunk'}})
    assert kinds(out) == {f'net:{NET}': ('vlan', 'trunk', 7)}
    out = translate(rows(), flat_interface='eth2')
    assert kinds(out) == {f'net:{NET}': ('flat', 'physnet2', None)}
    out = translate(rows(), flat_interface='eth2',     # the bridge first
                    physnets={'br100': 'physnet1', 'eth2': 'physnet2'})
    assert kinds(out) == {f'net:{NET}': ('flat', 'physnet1', None)}


def test_a_flat_row_cannot_be_made_vlan():
    out = translate(rows(networks=[net(project_id=P1)]),
                    networks={NET: {'type': 'vlan'}})
    assert not out.resources['network']
    assert [p.kind for p in out.problems] == ['bad-data']


def test_subnet_pools_are_runs_of_unreserved_addresses():
    body = translate(rows()).resources['subnet'][f'subnet4:net:{NET}'].body
    assert body['allocation_pools'] == (('10.0.0.2', '10.0.0.3'),
                                        ('10.0.0.5', '10.0.0.6'))
    assert (body['cidr'], body['gateway_ip'], body['dns_nameservers'],
            body['enable_dhcp']) == ('10.0.0.0/29', '10.0.0.1',
                                     ('8.8.8.8',), True)


def test_flat_manager_has_no_dhcp():
    out = translate(rows(), network_manager='Flat')
    assert not out.resources['subnet'][f'subnet4:net:{NET}'].body[
        'enable_dhcp']


def test_ipv6_cidr_becomes_a_slaac_subnet_and_eui64_port_address():
    data = with_instance(rows(networks=[net(cidr_v6='fd00:1::/64')]))
    out = translate(data)
    sub = out.resources['subnet'][f'subnet6:net:{NET}'].body
    assert (sub['ipv6_address_mode'], sub['ipv6_ra_mode']) == ('slaac',
                                                               'slaac')
    port = out.resources['port']['port:v1'].body
    assert (Ref(f'subnet6:net:{NET}'), 'fd00:1::f816:3eff:fe00:1') in (
        port['fixed_ips'])


def test_port_per_vif_keeps_mac_ips_device_host_and_az():
    port = translate(with_instance(az='az1')).resources['port']['port:v1']
    assert port.body['mac_address'] == 'fa:16:3e:00:00:01'
    assert port.body['fixed_ips'] == {(Ref(f'subnet4:net:{NET}'),
                                       '10.0.0.3')}
    assert (port.body['device_id'], port.body['device_owner'],
            port.body['binding:host_id'], port.body['project_id']) == (
        'i1', 'compute:az1', 'compute-1', P1)
    assert port.stable_id == 'v1'


def test_null_az_is_compute_nova_and_no_host_is_reported():
    out = translate(with_instance(host=None))
    body = out.resources['port']['port:v1'].body
    assert (body['device_owner'], body['binding:host_id']) == (
        'compute:nova', '')


def test_port_carries_the_instance_groups_and_same_net_group():
    data = with_instance(groups=[7])
    data['security_groups'] = [dict(id=7, name='web', description='w',
                                    project_id=P1)]
    out = translate(data)
    assert out.resources['port']['port:v1'].body['security_groups'] == {
        Ref('sg:7'), Ref(f'samenet:{NET}:{P1}')}
    rules = [r.body for r in out.resources['rule'].values()
             if r.body['security_group_id'] == Ref(f'samenet:{NET}:{P1}')
             and r.body['direction'] == 'ingress']
    assert [r['remote_ip_prefix'] for r in rules] == ['10.0.0.0/29']
    out = translate(data, allow_same_net_traffic=False)
    assert out.resources['port']['port:v1'].body['security_groups'] == {
        Ref('sg:7')}


def test_multi_host_addresses_are_reserved_with_ports():
    data = rows()
    data['fixed_ips'][2].update(host='compute-1', allocated=True)
    ports = translate(data).resources['port']
    assert ports[f'hostip:{NET}:10.0.0.2'].body['device_id'] == 'compute-1'


def test_rules_map_ports_icmp_groups_and_add_egress():
    data = rows(security_groups=[
        dict(id=1, name='default', description='d', project_id=P1),
        dict(id=2, name='db', description='d', project_id=P1)],
        security_group_rules=[
            dict(id=1, parent_group_id=2, protocol='tcp', from_port=5432,
                 to_port=5432, cidr=None, group_id=1),
            dict(id=2, parent_group_id=2, protocol='icmp', from_port=-1,
                 to_port=-1, cidr='0.0.0.0/0', group_id=None),
            dict(id=3, parent_group_id=2, protocol='icmp', from_port=8,
                 to_port=-1, cidr='::/0', group_id=None)])
    out = translate(data)
    rules = {(r.body['direction'], r.body['ethertype'], r.body['protocol'],
              r.body['port_range_min'], r.body['port_range_max'],
              r.body['remote_ip_prefix'], r.body['remote_group_id'])
             for r in out.resources['rule'].values()
             if r.body['security_group_id'] == Ref('sg:2')}
    assert rules == {
        ('ingress', 'IPv4', 'tcp', 5432, 5432, None, Ref('sg:1')),
        ('ingress', 'IPv6', 'tcp', 5432, 5432, None, Ref('sg:1')),
        ('ingress', 'IPv4', 'icmp', None, None, '0.0.0.0/0', None),
        ('ingress', 'IPv6', 'ipv6-icmp', 8, None, '::/0', None),
        ('egress', 'IPv4', None, None, None, None, None),
        ('egress', 'IPv6', None, None, None, None, None)}
    # nova's default group is adopted: no description of its own to set
    assert out.resources['security_group']['sg:1'].body == {
        'name': 'default', 'project_id': P1}


def test_invalid_rule_ports_are_reported():
    data = rows(security_groups=[dict(id=2, name='x', description='',
                                      project_id=P1)],
                security_group_rules=[dict(
                    id=1, parent_group_id=2, protocol='tcp', from_port=90,
                    to_port=80, cidr='0.0.0.0/0', group_id=None)])
    out = translate(data)
    assert 'not valid for tcp' in out.problems[0].message


def test_floating_ip_pool_router_and_association():
    data = with_instance()
    data['floating_ips'] = [
        dict(id=1, address='172.24.4.200', fixed_ip_id=4, project_id=P1,
             pool='nova', auto_assigned=False),
        dict(id=2, address='172.24.4.201', fixed_ip_id=None, project_id=None,
             pool='nova', auto_assigned=False)]
    out = translate(data)
    assert out.resources['floatingip'] == {'fip:172.24.4.200': desired.Resource(
        'floatingip', 'fip:172.24.4.200', {
            'floating_network_id': Ref('ext:nova'),
            'floating_ip_address': '172.24.4.200', 'project_id': P1,
            'port_id': Ref('port:v1'), 'fixed_ip_address': '10.0.0.3'})}
    ext = out.resources['network']['ext:nova'].body
    assert ext['router:external'] and ext['provider:physical_network'] == (
        'public')
    pools = out.resources['subnet']['subnet4:ext:nova'].body[
        'allocation_pools']
    assert pools == (('172.24.4.2', '172.24.4.199'),
                     ('172.24.4.202', '172.24.4.254'))
    assert out.resources['router'][f'router:net:{NET}'].body[
        'external_network'] == Ref('ext:nova')
    (rif,) = out.resources['router_interface'].values()
    assert rif.body['subnet'] == Ref(f'subnet4:net:{NET}')


def test_floating_ip_of_an_unknown_pool_is_reported():
    data = rows(floating_ips=[dict(id=1, address='192.0.2.9', fixed_ip_id=None,
                                   project_id=P1, pool='other',
                                   auto_assigned=False)])
    out = translate(data)
    assert not out.resources['floatingip']
    assert out.problems[0].table == 'floating_ips'


@pytest.mark.parametrize('addresses,expected', [
    ([], ()), ([5], (('0.0.0.5', '0.0.0.5'),)),
    ([1, 2, 3, 7, 9, 10], (('0.0.0.1', '0.0.0.3'), ('0.0.0.7', '0.0.0.7'),
                           ('0.0.0.9', '0.0.0.10')))])
def test_runs(addresses, expected):
    assert desired.runs(addresses) == expected


def test_config_rejects_unknown_manager_and_settings():
    with pytest.raises(SettingsError):
        Settings.parse({'network_manager': 'Bogus', 'admin_project_id': 'x'})
    with pytest.raises(SettingsError):
        Settings.parse({'network_manager': 'Flat', 'admin_project_id': 'x',
                      'typo': 1})
    for override in ({'type': 'vxlan'}, {'segment': 3}):
        with pytest.raises(SettingsError, match='networks: n1'):
            Settings.parse({'network_manager': 'Flat', 'admin_project_id': 'x',
                          'networks': {'n1': override}})


def dhcp_ports(out):
    return {key: (r.body['device_id'], r.body['fixed_ips'])
            for key, r in out.resources['port'].items()
            if key.startswith('hostip:')}


def test_shared_dhcp_address_is_reserved_once_with_a_port():
    data = rows(networks=[net(dhcp_server='10.0.0.6')])
    assert dhcp_ports(translate(data)) == {}
    assert dhcp_ports(translate(data, share_dhcp_address=True)) == {
        f'hostip:{NET}:10.0.0.6': ('', {(Ref(f'subnet4:net:{NET}'),
                                         '10.0.0.6')})}
    # the network's own share_address, as nova-network reads it too
    shared = rows(networks=[net(dhcp_server='10.0.0.6', share_address=True)])
    assert dhcp_ports(translate(shared)) == dhcp_ports(
        translate(data, share_dhcp_address=True))
    # already held by a host: not a second port for it
    data['fixed_ips'][6].update(host='compute-1', allocated=True)
    assert dhcp_ports(translate(data, share_dhcp_address=True)) == {
        f'hostip:{NET}:10.0.0.6': ('compute-1', {(Ref(f'subnet4:net:{NET}'),
                                                  '10.0.0.6')})}


def test_shared_dhcp_address_among_nova_reserved_rows_needs_no_port():
    """nova reserves the dhcp_server row it creates: no pool holds it."""
    for server in ('10.0.0.1', '10.0.0.4', None):
        out = translate(rows(networks=[net(dhcp_server=server)]),
                        share_dhcp_address=True)
        assert dhcp_ports(out) == {}
