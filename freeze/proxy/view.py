"""Pure: the translation's desired resources as Neutron v2.0 API objects.

Every object has the attributes Neutron 29 shows for its collection
(``FIELDS``; tests compare them with a real Neutron), so a client sees the
shapes it knows. Ids are the translation's stable ids (``Resource.stable_id``:
nova's uuid for networks and ports, uuid5 of the key otherwise) and every
reference is resolved to one. Neutron picks its own ids when the translation
creates the resources, so the proxy carries the mapping the way the
translation marks what it creates (keys.py: the tags ``nova-cutover`` and
``nova-cutover:key=<key>`` and the description ``nova-cutover key=<key>``).
``held.fetch`` therefore reads the proxy and a translated Neutron alike.

What nova-network's data cannot say is a constant: timestamps
(``TIMESTAMP``), revision 0, MTU 1500 unless nova set one, a router's
external fixed IPs (Neutron picks them). MACs of ports nova never had (router
interfaces, reserved host addresses) are derived from their key.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable
from typing import Any

from freeze.translate import keys, rules
from freeze.translate.desired import Desired, Ref, Resource, eui64

View = dict[str, list[dict]]      # collection -> objects, sorted by id

TIMESTAMP = '2000-01-01T00:00:00Z'
DEFAULT_MTU = 1500
ROUTER_INTERFACE = 'network:router_interface'

_STANDARD = ('created_at', 'description', 'id', 'project_id',
             'revision_number', 'tenant_id', 'updated_at')
#: collection -> the attributes Neutron 29 (ML2 + router) shows
FIELDS: dict[str, frozenset[str]] = {name: frozenset(_STANDARD + extra)
                                     for name, extra in {
    'networks': (
        'admin_state_up', 'availability_zone_hints', 'availability_zones',
        'ipv4_address_scope', 'ipv6_address_scope', 'mtu', 'name',
        'port_security_enabled', 'provider:network_type',
        'provider:physical_network', 'provider:segmentation_id', 'qinq',
        'router:external', 'shared', 'status', 'subnets', 'tags',
        'vlan_transparent'),
    'subnets': (
        'allocation_pools', 'cidr', 'dns_nameservers', 'enable_dhcp',
        'gateway_ip', 'host_routes', 'ip_version', 'ipv6_address_mode',
        'ipv6_ra_mode', 'name', 'network_id', 'router:external',
        'service_types', 'subnetpool_id', 'tags'),
    'ports': (
        'admin_state_up', 'allowed_address_pairs', 'binding:host_id',
        'binding:profile', 'binding:vif_details', 'binding:vif_type',
        'binding:vnic_type', 'device_id', 'device_owner', 'extra_dhcp_opts',
        'fixed_ips', 'mac_address', 'name', 'network_id',
        'port_security_enabled', 'security_groups', 'status', 'tags'),
    'floatingips': (
        'fixed_ip_address', 'floating_ip_address', 'floating_network_id',
        'port_details', 'port_id', 'router_id', 'status', 'tags'),
    'security-groups': (
        'name', 'security_group_rules', 'shared', 'stateful', 'tags'),
    'security-group-rules': (
        'belongs_to_default_sg', 'direction', 'ethertype', 'normalized_cidr',
        'port_range_max', 'port_range_min', 'protocol',
        'remote_address_group_id', 'remote_group_id', 'remote_ip_prefix',
        'security_group_id'),
    'routers': (
        'admin_state_up', 'availability_zone_hints', 'availability_zones',
        'distributed', 'external_gateway_info', 'flavor_id', 'ha', 'name',
        'routes', 'status', 'tags'),
}.items()}
#: external networks also show is_default (auto-allocated topology)
EXTERNAL_ONLY = frozenset({'is_default'})
#: attribute types a query string value is converted to before comparing
BOOLEAN = frozenset({
    'admin_state_up', 'belongs_to_default_sg', 'distributed', 'enable_dhcp',
    'ha', 'is_default', 'port_security_enabled', 'qinq', 'router:external',
    'shared', 'stateful', 'vlan_transparent'})
INTEGER = frozenset({'ip_version', 'mtu', 'port_range_max', 'port_range_min',
                     'provider:segmentation_id', 'revision_number'})


def build(desired: Desired) -> View:
    return _Builder(desired).run()


class _Builder:
    def __init__(self, desired: Desired) -> None:
        self.res = desired.resources
        self.ids = {key: r.stable_id for kind in self.res.values()
                    for key, r in kind.items()}
        self.out: View = {name: [] for name in FIELDS}

    def id(self, ref: Ref | None) -> str | None:
        return None if ref is None else self.ids.get(ref.key)

    def run(self) -> View:
        rules: dict[str, list[dict]] = {}
        for r in self.res['rule'].values():
            rule = self._rule(r)
            self.out['security-group-rules'].append(rule)
            rules.setdefault(rule['security_group_id'], []).append(rule)
        for r in self.res['security_group'].values():
            self.out['security-groups'].append(
                self._group(r, rules.get(r.stable_id, [])))
        subnets: dict[str, list[str]] = {}
        for r in self.res['subnet'].values():
            subnets.setdefault(r.body['network_id'].key, []).append(
                r.stable_id)
        for r in self.res['network'].values():
            self.out['networks'].append(
                self._network(r, sorted(subnets.get(r.key, []))))
        for r in self.res['subnet'].values():
            self.out['subnets'].append(self._subnet(r))
        for r in self.res['port'].values():
            self.out['ports'].append(self._port(r))
        for r in self.res['router_interface'].values():
            self.out['ports'].append(self._interface(r))
        for r in self.res['router'].values():
            self.out['routers'].append(self._router(r))
        ports = {p['id']: p for p in self.out['ports']}
        for r in self.res['floatingip'].values():
            self.out['floatingips'].append(self._floatingip(r, ports))
        for objs in self.out.values():
            objs.sort(key=lambda o: o['id'])
        return self.out

    # -- common --------------------------------------------------------

    def _standard(self, r: Resource, project: str,
                  description: str | None = None, tags: bool = True
                  ) -> dict[str, Any]:
        obj = {'id': r.stable_id, 'project_id': project, 'tenant_id': project,
               'description': (keys.description(r.key) if description is None
                               else description),
               'created_at': TIMESTAMP, 'updated_at': TIMESTAMP,
               'revision_number': 0}
        if tags:
            obj['tags'] = keys.tags(r.key)
        return obj

    # -- security groups -----------------------------------------------

    def _group(self, r: Resource, rules: list[dict]) -> dict:
        b = r.body
        default = b['name'] == 'default'
        for rule in rules:
            rule['belongs_to_default_sg'] = default
        return {**self._standard(r, b['project_id'], 'Default security group'
                                 if default else b.get('description', '')),
                'name': b['name'], 'shared': False, 'stateful': True,
                'security_group_rules': sorted(rules,
                                               key=lambda o: o['id'])}

    def _rule(self, r: Resource) -> dict:
        b = r.body
        group = self.res['security_group'][b['security_group_id'].key]
        prefix = b['remote_ip_prefix']
        return {**self._standard(r, group.body['project_id'], keys.MARK,
                                 tags=False),
                **{f: b[f] for f in ('direction', 'ethertype', 'protocol',
                                     'port_range_min', 'port_range_max',
                                     'remote_ip_prefix')},
                'security_group_id': self.id(b['security_group_id']),
                'remote_group_id': self.id(b['remote_group_id']),
                'remote_address_group_id': None,
                'normalized_cidr': rules.normalized_cidr(prefix),
                'belongs_to_default_sg': False}   # set by its group

    # -- networks --------------------------------------------------------

    def _network(self, r: Resource, subnets: list[str]) -> dict:
        b = r.body
        obj = {**self._standard(r, b['project_id']),
               **{f: b[f] for f in ('name', 'shared', 'router:external',
                                    'provider:network_type',
                                    'provider:physical_network',
                                    'provider:segmentation_id')},
               'mtu': b.get('mtu', DEFAULT_MTU), 'subnets': subnets,
               'status': 'ACTIVE', 'admin_state_up': True,
               'availability_zone_hints': [], 'availability_zones': [],
               'ipv4_address_scope': None, 'ipv6_address_scope': None,
               'port_security_enabled': True, 'qinq': False,
               'vlan_transparent': False}
        if b['router:external']:
            obj['is_default'] = False
        return obj

    def _subnet(self, r: Resource) -> dict:
        b = r.body
        cidr = ipaddress.ip_network(b['cidr'], strict=False)
        # Neutron's default: the first address, or for IPv6 the
        # subnet-router anycast address (the network's own).
        gateway = b.get('gateway_ip', str(cidr.network_address
                                          + (cidr.version == 4)))
        pools = b.get('allocation_pools') or _pools(cidr, gateway)
        network = self.res['network'][b['network_id'].key]
        return {**self._standard(r, b['project_id']),
                'name': b['name'], 'network_id': self.id(b['network_id']),
                'ip_version': b['ip_version'], 'cidr': b['cidr'],
                'gateway_ip': gateway, 'enable_dhcp': b['enable_dhcp'],
                'allocation_pools': [{'start': s, 'end': e}
                                     for s, e in pools],
                'dns_nameservers': list(b.get('dns_nameservers', ())),
                'ipv6_address_mode': b.get('ipv6_address_mode'),
                'ipv6_ra_mode': b.get('ipv6_ra_mode'),
                'router:external': network.body['router:external'],
                'host_routes': [], 'service_types': [],
                'subnetpool_id': None}

    # -- ports -----------------------------------------------------------

    def _port(self, r: Resource) -> dict:
        b = r.body
        host = b.get('binding:host_id', '')
        mac = b.get('mac_address') or _mac(r.key)
        fixed = set(b['fixed_ips'])
        slaac = self.res['subnet'].get(keys.subnet6(b['network_id'].key))
        if slaac and not any(s.key == slaac.key for s, _ in fixed):
            # Neutron gives every port on a SLAAC subnet its address there.
            fixed.add((Ref(slaac.key), eui64(slaac.body['cidr'], mac)))
        fixed = sorted(fixed,
                       key=lambda p: (keys.is_slaac(p[0].key), p[1]))
        return self._port_object(
            r, b['project_id'], b['network_id'], fixed, mac=mac,
            device_id=b['device_id'], device_owner=b['device_owner'],
            host=host, groups=sorted(map(self.id, b['security_groups'])),
            status='ACTIVE' if host else 'DOWN')

    def _interface(self, r: Resource) -> dict:
        """A router interface is a port on the subnet's gateway address."""
        router = self.res['router'][r.body['router'].key]
        subnet = self.res['subnet'][r.body['subnet'].key]
        return self._port_object(
            r, router.body['project_id'], subnet.body['network_id'],
            [(r.body['subnet'], subnet.body['gateway_ip'])], mac=_mac(r.key),
            device_id=router.stable_id, device_owner=ROUTER_INTERFACE,
            host='', groups=[], status='ACTIVE', description='', tags=False,
            port_security=False)

    def _port_object(self, r: Resource, project: str, network: Ref,
                     fixed: Iterable[tuple[Ref, str]], *, mac: str,
                     device_id: str, device_owner: str, host: str,
                     groups: list[str], status: str,
                     description: str | None = None, tags: bool = True,
                     port_security: bool = True) -> dict:
        obj = {**self._standard(r, project, description),
               'name': '', 'network_id': self.id(network),
               'mac_address': mac, 'device_id': device_id,
               'device_owner': device_owner,
               'fixed_ips': [{'ip_address': ip, 'subnet_id': self.id(s)}
                             for s, ip in fixed],
               'security_groups': groups, 'status': status,
               'admin_state_up': True, 'allowed_address_pairs': [],
               'extra_dhcp_opts': [], 'port_security_enabled': port_security,
               'binding:host_id': host, 'binding:profile': {},
               'binding:vnic_type': 'normal',
               'binding:vif_type': 'bridge' if host else 'unbound',
               'binding:vif_details': {'connectivity': 'l2',
                                       'port_filter': True} if host else {}}
        if not tags:
            obj['tags'] = []
        return obj

    # -- routers and floating IPs ------------------------------------------

    def _router(self, r: Resource) -> dict:
        b = r.body
        return {**self._standard(r, b['project_id']), 'name': b['name'],
                'external_gateway_info': {
                    'network_id': self.id(b['external_network']),
                    'enable_snat': True, 'external_fixed_ips': []},
                'status': 'ACTIVE', 'admin_state_up': True,
                'availability_zone_hints': [], 'availability_zones': [],
                'distributed': False, 'ha': False, 'flavor_id': None,
                'routes': []}

    def _floatingip(self, r: Resource, ports: dict[str, dict]) -> dict:
        b = r.body
        port = router = None
        if b['port_id'] is not None:
            port = ports[self.id(b['port_id'])]
            network = self.res['port'][b['port_id'].key].body['network_id']
            router = self.ids.get(keys.router(network.key))
        return {**self._standard(r, b['project_id']),
                'floating_ip_address': b['floating_ip_address'],
                'floating_network_id': self.id(b['floating_network_id']),
                'fixed_ip_address': b['fixed_ip_address'],
                'port_id': port and port['id'], 'router_id': router,
                'status': 'ACTIVE' if port else 'DOWN',
                'port_details': port and {f: port[f] for f in (
                    'admin_state_up', 'device_id', 'device_owner',
                    'mac_address', 'name', 'network_id', 'status')}}


def _pools(cidr: ipaddress.IPv4Network | ipaddress.IPv6Network,
           gateway: str) -> tuple[tuple[str, str], ...]:
    """Neutron's default allocation pools: the subnet without its network
    address, IPv4 broadcast and gateway."""
    first = int(cidr.network_address) + 1
    last = int(cidr.broadcast_address) - (cidr.version == 4)
    gw = int(ipaddress.ip_address(gateway))
    make = type(cidr.network_address)
    runs = [(first, gw - 1), (gw + 1, last)] if first <= gw <= last else [
        (first, last)]
    return tuple((str(make(a)), str(make(b))) for a, b in runs if a <= b)


def _mac(key: str) -> str:
    """A stable MAC in Neutron's fa:16:3e prefix for ports nova never had."""
    digest = hashlib.sha256(key.encode()).digest()
    return 'fa:16:3e:' + ':'.join(f'{b:02x}' for b in digest[:3])
