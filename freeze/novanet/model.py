"""nova-network's state as plain objects, with what does not fit reported.

Built from the live rows (source.py) by a pure function, so the translation,
``verify`` and the read-only proxy all see one interpretation of the data.
Rows that reference something missing (queens has no foreign keys for most
relations) or contradict each other become Problems and are left out; the
rest is kept, so one bad row never stops a run.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from freeze.novanet.gcpause import gc_paused
from freeze.novanet.source import Rows


@dataclass(frozen=True, slots=True)
class Problem:
    kind: str      # 'dangling', 'bad-data' or 'skipped'
    table: str
    row: Any       # the row's id (or uuid) in that table
    message: str

    def __str__(self) -> str:
        return f'{self.kind}: {self.table} {self.row}: {self.message}'


@dataclass(slots=True)
class Network:
    id: int
    uuid: str
    label: str
    cidr: str | None
    cidr_v6: str | None
    gateway: str | None
    gateway_v6: str | None
    dns: tuple[str, ...]
    vlan: int | None
    bridge: str | None
    bridge_interface: str | None
    project_id: str | None
    mtu: int | None
    enable_dhcp: bool
    multi_host: bool
    dhcp_server: str | None
    share_address: bool
    #: addresses (as ints) of fixed_ips rows with reserved = 0, sorted
    unreserved: list[int] = field(default_factory=list)
    #: (host, address): per-host DHCP/gateway addresses of multi_host networks
    host_addresses: list[tuple[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class Instance:
    uuid: str
    host: str | None
    availability_zone: str | None
    project_id: str
    name: str | None
    group_ids: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Port:
    """One virtual interface with its fixed IPs."""
    vif_uuid: str
    mac: str
    network: Network
    instance: Instance
    addresses: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Rule:
    id: int
    protocol: str | None
    from_port: int | None
    to_port: int | None
    cidr: str | None
    group_id: int | None


@dataclass(slots=True)
class SecurityGroup:
    id: int
    name: str
    description: str | None
    project_id: str
    rules: list[Rule] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class FloatingIp:
    address: str
    project_id: str | None
    pool: str | None
    auto_assigned: bool
    port: Port | None          # the associated port, if any
    fixed_address: str | None


@dataclass(slots=True)
class Model:
    networks: dict[int, Network]
    instances: dict[str, Instance]
    ports: dict[str, Port]                 # by VIF uuid
    groups: dict[int, SecurityGroup]
    floating_ips: list[FloatingIp]
    problems: list[Problem]


@gc_paused()
def build(rows: Rows) -> Model:
    problems: list[Problem] = []
    networks = {r['id']: _network(r) for r in rows['networks']}
    instances = {r['uuid']: Instance(r['uuid'], r['host'],
                                     r['availability_zone'], r['project_id'],
                                     r['display_name'])
                 for r in rows['instances']}
    for inst in instances.values():
        if not inst.host:
            problems.append(Problem('bad-data', 'instances', inst.uuid,
                                    'instance has no host: its ports stay '
                                    'unbound'))
    groups = _groups(rows, problems)
    for r in rows['security_group_instance_association']:
        inst = instances.get(r['instance_uuid'])
        if inst is None or r['security_group_id'] not in groups:
            problems.append(Problem(
                'dangling', 'security_group_instance_association', r['id'],
                f'instance {r["instance_uuid"]} or security group '
                f'{r["security_group_id"]} is gone'))
        else:
            inst.group_ids.append(r['security_group_id'])
    vifs = _vifs(rows['virtual_interfaces'], networks, instances, problems)
    ports, fixed_ports = _fixed_ips(rows['fixed_ips'], networks, instances,
                                    vifs, problems)
    floating = _floating(rows['floating_ips'], fixed_ports, problems)
    return Model(networks, instances, ports, groups, floating, problems)


def _network(r: Mapping[str, Any]) -> Network:
    return Network(
        id=r['id'], uuid=r['uuid'], label=r['label'] or '', cidr=r['cidr'],
        cidr_v6=r['cidr_v6'], gateway=r['gateway'],
        gateway_v6=r['gateway_v6'],
        dns=tuple(d for d in (r['dns1'], r['dns2']) if d), vlan=r['vlan'],
        bridge=r['bridge'], bridge_interface=r['bridge_interface'],
        project_id=r['project_id'],
        mtu=r['mtu'], enable_dhcp=bool(r['enable_dhcp']),
        multi_host=bool(r['multi_host']), dhcp_server=r['dhcp_server'],
        share_address=bool(r['share_address']))


def _groups(rows: Rows, problems: list[Problem]) -> dict[int, SecurityGroup]:
    groups = {r['id']: SecurityGroup(r['id'], r['name'], r['description'],
                                     r['project_id'])
              for r in rows['security_groups']}
    for r in rows['security_group_rules']:
        parent = groups.get(r['parent_group_id'])
        if parent is None or (r['group_id'] is not None
                              and r['group_id'] not in groups):
            problems.append(Problem(
                'dangling', 'security_group_rules', r['id'],
                f'group {r["parent_group_id"]} or {r["group_id"]} is gone'))
            continue
        parent.rules.append(Rule(r['id'], r['protocol'], r['from_port'],
                                 r['to_port'], r['cidr'], r['group_id']))
    return groups


def _vifs(rows: Iterable[Mapping[str, Any]], networks: dict[int, Network],
          instances: dict[str, Instance], problems: list[Problem]
          ) -> dict[int, Port]:
    vifs: dict[int, Port] = {}
    macs: dict[str, str] = {}
    for r in rows:
        network = networks.get(r['network_id'])
        instance = instances.get(r['instance_uuid'])
        if network is None or instance is None:
            problems.append(Problem(
                'dangling', 'virtual_interfaces', r['uuid'],
                f'network {r["network_id"]} or instance '
                f'{r["instance_uuid"]} is gone'))
            continue
        mac = (r['address'] or '').lower()
        if mac in macs:
            problems.append(Problem(
                'bad-data', 'virtual_interfaces', r['uuid'],
                f'MAC {mac} already used by VIF {macs[mac]}'))
            continue
        macs[mac] = r['uuid']
        vifs[r['id']] = Port(r['uuid'], mac, network, instance)
    return vifs


def _fixed_ips(rows: Iterable[Mapping[str, Any]],
               networks: dict[int, Network], instances: dict[str, Instance],
               vifs: dict[int, Port], problems: list[Problem]
               ) -> tuple[dict[str, Port], dict[int, tuple[Port, str]]]:
    """Ports with their addresses, and fixed_ips id -> (port, address) for
    floating IP associations; fills each network's address bookkeeping."""
    cidrs: dict[int, tuple[int, int]] = {}   # network id -> first, last
    for network in networks.values():
        try:
            cidr = ipaddress.ip_network(network.cidr)
            cidrs[network.id] = (int(cidr.network_address),
                                 int(cidr.broadcast_address))
        except (TypeError, ValueError):
            problems.append(Problem('bad-data', 'networks', network.uuid,
                                    f'CIDR {network.cidr!r} is not valid'))
    fixed_ports: dict[int, tuple[Port, str]] = {}
    for r in rows:
        network = networks.get(r['network_id'])
        if network is None:
            problems.append(Problem('dangling', 'fixed_ips', r['id'],
                                    f'network {r["network_id"]} is gone'))
            continue
        address = ipv4_int(r['address'])
        first, last = cidrs.get(network.id, (0, -1))
        if address is None or not first <= address <= last:
            problems.append(Problem(
                'bad-data', 'fixed_ips', r['id'],
                f'{r["address"]} is outside {network.cidr} ({network.uuid})'))
            continue
        if not r['reserved']:
            network.unreserved.append(address)
        if r['instance_uuid'] is None:
            if r['host'] and not r['reserved']:
                network.host_addresses.append((r['host'], r['address']))
            continue
        if not r['allocated']:
            continue
        if r['instance_uuid'] not in instances:
            problems.append(Problem(
                'dangling', 'fixed_ips', r['id'],
                f'instance {r["instance_uuid"]} is gone'))
            continue
        port = vifs.get(r['virtual_interface_id'])
        if port is None or port.network is not network:
            problems.append(Problem(
                'dangling', 'fixed_ips', r['id'],
                f'VIF {r["virtual_interface_id"]} is gone or on another '
                'network'))
            continue
        port.addresses.append(r['address'])
        fixed_ports[r['id']] = (port, r['address'])
    for network in networks.values():
        network.unreserved.sort()
        network.host_addresses.sort()
    ports = {}
    for port in vifs.values():
        if port.addresses:
            if len(port.addresses) > 1:
                port.addresses.sort(key=ipv4_int)
            ports[port.vif_uuid] = port
        else:
            problems.append(Problem('bad-data', 'virtual_interfaces',
                                    port.vif_uuid, 'VIF has no fixed IP'))
    return ports, fixed_ports


def ipv4_int(text: str | None) -> int | None:
    """A dotted quad as an int, None if it is not one; several times faster
    than ipaddress, which matters at 100k rows. inet_pton reads the strict
    quads (nearly all) in C; what it refuses, such as leading zeros, is
    read as before, so the result does not depend on which path took it."""
    try:
        return int.from_bytes(socket.inet_pton(socket.AF_INET, text), 'big')
    except (OSError, TypeError, ValueError):
        pass
    try:
        a, b, c, d = map(int, text.split('.'))
    except (AttributeError, ValueError):
        return None
    if not 0 <= a <= 255 or not 0 <= b <= 255 or not 0 <= c <= 255 or (
            not 0 <= d <= 255):
        return None
    return a << 24 | b << 16 | c << 8 | d


def _floating(rows: Iterable[Mapping[str, Any]],
              fixed_ports: dict[int, tuple[Port, str]],
              problems: list[Problem]) -> list[FloatingIp]:
    floating = []
    for r in rows:
        port, fixed = None, None
        if r['fixed_ip_id'] is not None:
            if r['fixed_ip_id'] in fixed_ports:
                port, fixed = fixed_ports[r['fixed_ip_id']]
            else:
                problems.append(Problem(
                    'dangling', 'floating_ips', r['id'],
                    f'fixed IP {r["fixed_ip_id"]} is not a live port '
                    'address: kept unassociated'))
        floating.append(FloatingIp(r['address'], r['project_id'], r['pool'],
                                   bool(r['auto_assigned']), port, fixed))
    return floating
