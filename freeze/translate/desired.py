"""Pure mapping: nova-network's model + the settings -> Neutron resources.

Each Resource has a *key* (keys.py: stable across runs, made of nova's
own identifiers), which ties the Neutron resource to its origin. A body
holds only what is compared, with references to other resources as Ref(key),
so the same Resources serve the diff, ``verify``, restore and the read-only
proxy.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from freeze.novanet.gcpause import gc_paused
from freeze.novanet.model import (Model, Network, Port, Problem,
                                  SecurityGroup)
from freeze.translate import keys, rules
from freeze.translate.settings import FloatingPool, Settings

#: creation order; deletion runs in reverse.
KINDS = ('security_group', 'network', 'subnet', 'rule', 'router',
         'router_interface', 'port', 'floatingip')

SLAAC = 'slaac'
ANY_V4, ANY_V6 = '0.0.0.0/0', '::/0'


@dataclass(frozen=True, slots=True)
class Ref:
    """A reference to another desired resource, resolved to a Neutron id
    only when a request is sent."""
    key: str

    def __str__(self) -> str:
        return self.key


@dataclass(frozen=True, slots=True)
class Resource:
    kind: str
    key: str
    body: dict[str, Any]

    @property
    def stable_id(self) -> str:
        """nova's uuid where there is one (networks, ports), else derived."""
        return keys.stable_id(self.key)


@dataclass(frozen=True)
class Origin:
    """What a translation was made from, for the operator's summary."""
    ports: int
    networks: int
    groups: int
    problems: tuple[Problem, ...]   # the model's own (rows it could not use)


@dataclass
class Desired:
    resources: dict[str, dict[str, Resource]]   # kind -> key -> resource
    problems: list[Problem]
    origin: Origin | None = None

    def __len__(self) -> int:
        return sum(map(len, self.resources.values()))

    @classmethod
    def empty(cls) -> Desired:
        """Nothing wanted: converging to it is the rollback."""
        return cls({k: {} for k in KINDS}, [])


def eui64(cidr_v6: str, mac: str) -> str:
    """The SLAAC address Neutron (and nova-network before it) derives."""
    mac_int = int(mac.replace(':', ''), 16)
    iid = (((mac_int >> 24) ^ 0x020000) << 40 | 0xfffe << 24
           | mac_int & 0xffffff)
    return _ipv6_text(_prefix(cidr_v6) | iid)


@functools.lru_cache(maxsize=1024)
def _prefix(cidr_v6: str) -> int:
    return int(ipaddress.IPv6Network(cidr_v6, strict=False).network_address)


def _ipv6_text(value: int) -> str:
    """RFC 5952 text (what Neutron returns), without ipaddress's cost: the C
    library's inet_ntop writes it, except where it would end in a dotted
    IPv4 address (a leading zero group), which is left to the loop below."""
    if value >> 112:
        return socket.inet_ntop(socket.AF_INET6, value.to_bytes(16, 'big'))
    groups = [value >> shift & 0xffff for shift in range(112, -1, -16)]
    best, best_len, run = -1, 1, 0
    for i, g in enumerate(groups):
        run = run + 1 if g == 0 else 0
        if run > best_len:
            best, best_len = i - run + 1, run
    text = [f'{g:x}' for g in groups]
    if best < 0:
        return ':'.join(text)
    return (':'.join(text[:best]) + '::'
            + ':'.join(text[best + best_len:]))


def runs(addresses: Iterable[int], version: int = 4
         ) -> tuple[tuple[str, str], ...]:
    """Sorted addresses -> (first, last) of each run of consecutive ones."""
    make = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    out, start, prev = [], None, None
    for a in addresses:
        if prev is not None and a == prev + 1:
            prev = a
            continue
        if start is not None:
            out.append((str(make(start)), str(make(prev))))
        start = prev = a
    if start is not None:
        out.append((str(make(start)), str(make(prev))))
    return tuple(out)


@gc_paused()
def translate(model: Model, settings: Settings) -> Desired:
    return _Mapper(model, settings).run()


class _Mapper:
    """One translation; the state it accumulates is only the output."""

    def __init__(self, model: Model, settings: Settings) -> None:
        self.model = model
        self.s = settings
        self.out: dict[str, dict[str, Resource]] = {k: {} for k in KINDS}
        self.problems: list[Problem] = []
        self.flat_physnets: dict[str, str] = {}
        self.group_keys: dict[int, str] = {}
        self.refs: dict[str, Ref] = {}
        self.net_refs: dict[int, tuple[Ref, Ref, Ref | None]] = {}
        self.port_groups: dict[tuple, frozenset[Ref]] = {}
        #: networks the model already reported (invalid CIDR)
        self.bad_networks = {p.row for p in model.problems
                             if p.table == 'networks'}

    def run(self) -> Desired:
        for group in sorted(self.model.groups.values(), key=lambda g: g.id):
            self._group(group)
        for group in self.model.groups.values():
            self._rules(group)
        nets = {}
        for network in sorted(self.model.networks.values(),
                              key=lambda n: n.id):
            if self._network(network):
                nets[network.id] = network
        port_sgs = self._same_net_groups(nets)
        for port in self.model.ports.values():
            net = port.network
            if net.id not in nets:
                self._problem('skipped', 'virtual_interfaces', port.vif_uuid,
                              f'its network {net.uuid} is not translated')
                continue
            self._port(port, port_sgs.get((net.id, port.instance.project_id)))
        for net in nets.values():
            self._reserved_ports(net)
        self._floating(nets)
        m = self.model
        return Desired(self.out, self.problems, Origin(
            len(m.ports), len(m.networks), len(m.groups), tuple(m.problems)))

    # -- helpers ------------------------------------------------------

    def _add(self, kind: str, key: str, body: dict[str, Any]) -> None:
        self.out[kind][key] = Resource(kind, key, body)

    def _problem(self, kind: str, table: str, row: Any, message: str
                 ) -> None:
        self.problems.append(Problem(kind, table, row, message))

    def _owner(self, project_id: str | None) -> str:
        return project_id or self.s.admin_project_id

    # -- security groups ----------------------------------------------

    def _group(self, group: SecurityGroup) -> None:
        key = keys.group(group.id)
        if group.name == 'default':
            # Neutron refuses a second 'default': adopt the project's own.
            first = next((k for k, r in self.out['security_group'].items()
                          if r.body['name'] == 'default'
                          and r.body['project_id'] == group.project_id), None)
            if first:
                self._problem('bad-data', 'security_groups', group.id,
                              f'a second default group of project '
                              f'{group.project_id}: merged into {first}')
                self.group_keys[group.id] = first
                return
            body = {'name': 'default', 'project_id': group.project_id}
        else:
            body = {'name': group.name,
                    'description': group.description or '',
                    'project_id': group.project_id}
        self.group_keys[group.id] = key
        self._add('security_group', key, body)

    def _rules(self, group: SecurityGroup) -> None:
        parent = Ref(self.group_keys[group.id])
        for rule in group.rules:
            if rule.cidr:
                try:
                    version = ipaddress.ip_network(rule.cidr,
                                                   strict=False).version
                except ValueError:
                    self._problem('bad-data', 'security_group_rules', rule.id,
                                  f'CIDR {rule.cidr!r} is not valid')
                    continue
                remotes = [(f'IPv{version}', rule.cidr, None)]
            elif rule.group_id is not None:
                remote = Ref(self.group_keys[rule.group_id])
                remotes = [('IPv4', None, remote), ('IPv6', None, remote)]
            else:
                self._problem('bad-data', 'security_group_rules', rule.id,
                              'neither a CIDR nor a source group')
                continue
            for ethertype, prefix, remote in remotes:
                body = rules.from_nova(rule.protocol, rule.from_port,
                                       rule.to_port, ethertype)
                if body is None:
                    self._problem('bad-data', 'security_group_rules', rule.id,
                                  f'ports {rule.from_port}..{rule.to_port} '
                                  f'are not valid for {rule.protocol}')
                    break
                self._rule(parent, body, remote_ip_prefix=prefix,
                           remote_group_id=remote)
        self._egress_any(parent)

    def _rule(self, parent: Ref, body: dict[str, Any], **extra: Any) -> None:
        body = rules.stored({'security_group_id': parent,
                             'remote_ip_prefix': None,
                             'remote_group_id': None, **body, **extra})
        self._add('rule', keys.rule(body), body)

    def _egress_any(self, parent: Ref) -> None:
        """nova-network never filtered egress."""
        for ethertype in ('IPv4', 'IPv6'):
            self._rule(parent, {'direction': 'egress', 'ethertype': ethertype,
                                'protocol': None, 'port_range_min': None,
                                'port_range_max': None})

    def _same_net_groups(self, nets: dict[int, Network]
                         ) -> dict[tuple[int, str], Ref]:
        """allow_same_net_traffic: ingress from the network's CIDRs, as a
        group per (network, project) that every such port carries."""
        if not self.s.allow_same_net_traffic:
            return {}
        refs = {}
        for port in self.model.ports.values():
            net, project = port.network, port.instance.project_id
            if net.id not in nets or (net.id, project) in refs:
                continue
            key = keys.same_net(net.uuid, project)
            self._add('security_group', key, {
                'name': f'nova-network same-net {net.label}',
                'description': f'allow_same_net_traffic on {net.cidr}',
                'project_id': project})
            ref = refs[net.id, project] = Ref(key)
            for ethertype, cidr in (('IPv4', net.cidr), ('IPv6', net.cidr_v6)):
                if cidr:
                    self._rule(ref, {'direction': 'ingress',
                                     'ethertype': ethertype, 'protocol': None,
                                     'port_range_min': None,
                                     'port_range_max': None},
                               remote_ip_prefix=cidr)
            self._egress_any(ref)
        return refs

    # -- networks -------------------------------------------------------

    def _network(self, net: Network) -> bool:
        """The network and its subnets; False when it is not translated."""
        kind = self._kind(net)
        if kind is None:
            return False
        vlan, physnet = kind
        if net.uuid in self.bad_networks:
            return False
        key = keys.network(net.uuid)
        if vlan:
            provider = {'provider:network_type': 'vlan',
                        'provider:physical_network': physnet,
                        'provider:segmentation_id': net.vlan}
        else:
            if not self._claim_flat(physnet, key, 'networks', net.uuid):
                return False
            provider = {'provider:network_type': 'flat',
                        'provider:physical_network': physnet,
                        'provider:segmentation_id': None}
        owner = self._owner(net.project_id)
        body = {'name': net.label, 'project_id': owner,
                'shared': net.project_id is None and not vlan,
                'router:external': False, **provider}
        if net.mtu:
            body['mtu'] = net.mtu
        self._add('network', key, body)
        common = {'network_id': Ref(key), 'name': net.label,
                  'project_id': owner}
        self._add('subnet', keys.subnet4(key), {
            **common, 'ip_version': 4, 'cidr': net.cidr,
            'gateway_ip': net.gateway, 'dns_nameservers': net.dns,
            'enable_dhcp': self.s.network_manager != 'Flat'
            and net.enable_dhcp,
            'allocation_pools': runs(net.unreserved)})
        if net.cidr_v6:
            body6 = {**common, 'ip_version': 6, 'cidr': net.cidr_v6,
                     'enable_dhcp': True, 'ipv6_address_mode': SLAAC,
                     'ipv6_ra_mode': SLAAC}
            if net.gateway_v6:
                body6['gateway_ip'] = net.gateway_v6
            self._add('subnet', keys.subnet6(key), body6)
        return True

    def _kind(self, net: Network) -> tuple[bool, str] | None:
        """(VLAN?, physnet) of a network, from its row as nova-network's
        bridge plugging reads it (linux_net: VLAN when the row has a
        ``vlan``, on vlan_interface or the row's bridge_interface; else
        flat on flat_interface or the bridge_interface), the operator's
        ``networks`` override over it. Where network_manager expects the
        other kind, or no physnet fits, the settings and the data disagree:
        a conflict, which ``apply`` refuses to go past."""
        override = self.s.networks.get(net.uuid)
        row_vlan = net.vlan is not None
        vlan = (override.type == 'vlan') if override and override.type else (
            row_vlan)
        if vlan and net.project_id is None and not (
                self.s.include_unassociated_vlans):
            self._problem('skipped', 'networks', net.uuid,
                          'VLAN network not associated with a project')
            return None   # nova's pool of VLANs: no conflict to settle
        if (override is None or override.type is None) and row_vlan != (
                self.s.network_manager == 'Vlan'):
            self._problem(
                'conflict', 'networks', net.uuid,
                f'network_manager is {self.s.network_manager} but the row '
                f'says {"VLAN " + str(net.vlan) if row_vlan else "flat"}: '
                f'translated as its row says; confirm with networks: '
                f'{{{net.uuid}: {{type: {"vlan" if row_vlan else "flat"}}}}}')
        if vlan and not row_vlan:
            self._problem('bad-data', 'networks', net.uuid,
                          'type vlan, but the row has no VLAN id')
            return None
        if vlan:
            bridge, interface = None, self.s.vlan_interface or (
                net.bridge_interface)
        else:
            bridge, interface = net.bridge, self.s.flat_interface or (
                net.bridge_interface)
        physnet = (override and override.physnet) or self.s.physnet(
            bridge, interface)
        if physnet is None:
            self._problem('conflict', 'networks', net.uuid,
                          f'no physnet for bridge {bridge!r} or interface '
                          f'{interface!r} (physnets, or networks: '
                          f'{{{net.uuid}: {{physnet: ...}}}})')
            return None
        return vlan, physnet

    def _claim_flat(self, physnet: str, key: str, table: str, row: Any
                    ) -> bool:
        """ML2 allows one flat network per physnet: two that the settings
        put on one physnet are a conflict (map their bridges apart)."""
        holder = self.flat_physnets.setdefault(physnet, key)
        if holder != key:
            self._problem('conflict', table, row,
                          f'physnet {physnet} already carries the flat '
                          f'network {holder}')
            return False
        return True

    # -- ports ----------------------------------------------------------

    def _port(self, port: Port, same_net: Ref | None) -> None:
        inst, net = port.instance, port.network
        net_ref, sub4, sub6 = self._refs(net)
        fixed = [(sub4, a) for a in port.addresses]
        if sub6:
            fixed.append((sub6, eui64(net.cidr_v6, port.mac)))
        key = keys.port(port.vif_uuid)
        self.out['port'][key] = Resource('port', key, {
            'network_id': net_ref, 'project_id': inst.project_id,
            'mac_address': port.mac, 'fixed_ips': frozenset(fixed),
            'device_id': inst.uuid,
            'device_owner': 'compute:' + (inst.availability_zone or 'nova'),
            'binding:host_id': inst.host or '',
            'security_groups': self._port_groups(inst.group_ids, same_net)})

    def _refs(self, net: Network) -> tuple[Ref, Ref, Ref | None]:
        """The network's and subnets' refs, made once per network: 100k
        ports share them (and building a frozen dataclass is not free)."""
        refs = self.net_refs.get(net.id)
        if refs is None:
            key = keys.network(net.uuid)
            refs = self.net_refs[net.id] = (
                self._ref(key), self._ref(keys.subnet4(key)),
                self._ref(keys.subnet6(key)) if net.cidr_v6 else None)
        return refs

    def _port_groups(self, group_ids: list[int], same_net: Ref | None
                     ) -> frozenset[Ref]:
        """A port's groups, one frozenset per combination: instances share
        a handful of them, and 100k sets cost time and memory."""
        combo = (*group_ids, same_net)
        groups = self.port_groups.get(combo)
        if groups is None:
            groups = self.port_groups[combo] = frozenset(
                {self._ref(self.group_keys[g]) for g in group_ids}
                | ({same_net} if same_net else set()))
        return groups

    def _ref(self, key: str) -> Ref:
        ref = self.refs.get(key)
        if ref is None:
            ref = self.refs[key] = Ref(key)
        return ref

    def _reserved_ports(self, net: Network) -> None:
        """Addresses nova handed to hosts (multi_host DHCP/gateway, or the
        shared DHCP address: the network's share_address or the setting,
        as linux_net reads them) stay taken, so Neutron's IPAM never
        reuses them for an instance."""
        held = list(net.host_addresses)
        if ((self.s.share_dhcp_address or net.share_address)
                and net.dhcp_server
                and int(ipaddress.ip_address(net.dhcp_server))
                in set(net.unreserved)
                and all(a != net.dhcp_server for _, a in held)):
            held.append(('', net.dhcp_server))
        net_key = keys.network(net.uuid)
        for host, address in held:
            self._add('port', keys.reserved(net.uuid, address), {
                'network_id': Ref(net_key),
                'project_id': self._owner(net.project_id),
                'fixed_ips': frozenset({(Ref(keys.subnet4(net_key)),
                                         address)}),
                'device_id': host, 'device_owner': 'nova-network:dhcp',
                'security_groups': frozenset()})

    # -- floating IPs ---------------------------------------------------

    def _floating(self, nets: dict[int, Network]) -> None:
        by_pool: dict[str, list[int]] = {}
        for fip in self.model.floating_ips:
            by_pool.setdefault(fip.pool or '', []).append(
                int(ipaddress.ip_address(fip.address)))
        routers: dict[int, str] = {}
        for fip in sorted(self.model.floating_ips, key=lambda f: f.address):
            if fip.project_id is None:
                continue  # pool space, not allocated to anyone
            pool = self.s.floating_pools.get(fip.pool or '')
            if pool is None or ipaddress.ip_address(fip.address) not in (
                    ipaddress.ip_network(pool.cidr)):
                self._problem('skipped', 'floating_ips', fip.address,
                              f'pool {fip.pool!r} is not in the settings or '
                              'does not contain the address')
                continue
            ext = self._external(fip.pool, pool, by_pool[fip.pool or ''])
            if ext is None:
                continue
            port_ref, fixed = None, None
            if fip.port is not None:
                port_key = keys.port(fip.port.vif_uuid)
                if port_key in self.out['port']:
                    port_ref, fixed = Ref(port_key), fip.fixed_address
                    self._router(fip.port.network, ext, routers)
                else:
                    self._problem('skipped', 'floating_ips', fip.address,
                                  'its port is not translated: kept '
                                  'unassociated')
            self._add('floatingip', keys.floatingip(fip.address), {
                'floating_network_id': Ref(ext),
                'floating_ip_address': fip.address,
                'project_id': fip.project_id, 'port_id': port_ref,
                'fixed_ip_address': fixed})

    def _external(self, name: str, pool: FloatingPool,
                  nova_addresses: list[int]) -> str | None:
        """External network + subnet of a floating pool. Automatic
        allocation (router gateways) avoids every address nova's pool
        holds: those are created explicitly, now or in a later delta."""
        key = keys.external(name)
        if key in self.out['network']:
            return key
        if not self._claim_flat(pool.physnet, key, 'floating_ips', name):
            return None
        self._add('network', key, {
            'name': name, 'project_id': self.s.admin_project_id,
            'shared': False, 'router:external': True,
            'provider:network_type': 'flat',
            'provider:physical_network': pool.physnet,
            'provider:segmentation_id': None})
        cidr = ipaddress.ip_network(pool.cidr)
        taken = sorted({*nova_addresses,
                        int(ipaddress.ip_address(pool.gateway))})
        free = _gaps(int(cidr.network_address) + 1,
                     int(cidr.broadcast_address) - 1, taken)
        self._add('subnet', keys.subnet4(key), {
            'network_id': Ref(key), 'name': name,
            'project_id': self.s.admin_project_id, 'ip_version': 4,
            'cidr': pool.cidr, 'gateway_ip': pool.gateway,
            'enable_dhcp': False, 'allocation_pools': free})
        return key

    def _router(self, net: Network, ext: str, routers: dict[int, str]
                ) -> None:
        """Floating IPs need a router between the internal subnet and the
        external network; its interface takes nova's gateway address."""
        if net.id in routers:
            if routers[net.id] != ext:
                self._problem('bad-data', 'networks', net.uuid,
                              f'floating IPs from several pools; the router '
                              f'uses {routers[net.id]}')
            return
        routers[net.id] = ext
        key = keys.router(keys.network(net.uuid))
        self._add('router', key, {
            'name': f'nova-network {net.label}',
            'project_id': self._owner(net.project_id),
            'external_network': Ref(ext)})
        subnet = keys.subnet4(keys.network(net.uuid))
        self._add('router_interface', keys.router_interface(key, subnet),
                  {'router': Ref(key), 'subnet': Ref(subnet)})


def _gaps(first: int, last: int, taken: list[int]
          ) -> tuple[tuple[str, str], ...]:
    """Runs of first..last (IPv4, as ints) around the sorted taken ones."""
    out, start = [], first
    for a in taken + [last + 1]:
        if first <= a <= last + 1 and a > start:
            out.append((str(ipaddress.IPv4Address(start)),
                        str(ipaddress.IPv4Address(a - 1))))
        start = max(start, a + 1)
    return tuple(out)

