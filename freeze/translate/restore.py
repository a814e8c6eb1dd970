"""restore: the translation's changes as rows of Neutron's own tables.

The second writer of the same desired resources (desired.py): where
``apply`` sends the changes (changes.py) to Neutron's API, ``restore`` turns
the same changes into the rows Neutron itself would have written, table by
table, with the columns of the installed Neutron's models (neutrondb.py
reads and writes them). Pure: everything it needs to know about the database
comes in a ``Context``; what it produces is a ``Writes``.

The rows follow what Neutron 29 writes through its API (networks with their
segment, port-security binding and RBAC entries; subnets with pools, DNS
servers and the IPAM driver's subnet, pools and allocations; ports with IP
allocations, ML2 binding, port security and group bindings; default groups
with their ``default_security_group`` row; routers with their gateway port,
extra attributes and provider association; floating IPs with their port).
Ids are stable (nova's uuids, else derived from the key), so a run killed
before its commit and run again writes the same rows. What Neutron decides
when it binds a port (the binding levels, the VIF type) is left to it: ports
are written unbound on their host, the state Neutron retries binding from.
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import netaddr
from neutron_lib import constants

from freeze.translate import keys
from freeze.translate.changes import Change
from freeze.translate.desired import KINDS, Ref, Resource, eui64

#: Neutron's MTU for a flat or VLAN network without path_mtu/physnet_mtus
DEFAULT_MTU = 1500
DEFAULT_GROUP_DESCRIPTION = 'Default security group'
#: the L3 service provider Neutron gives a router that is neither HA nor DVR
L3_PROVIDER = 'single_node'
ROUTER_GW, ROUTER_IF, FIP_OWNER = (
    'network:router_gateway', 'network:router_interface',
    'network:floatingip')
#: kind -> the field naming what a change of it is a new revision of (the
#: ``revises_on_change`` of Neutron's SecurityGroupRule, Subnet and
#: RouterPort models)
REVISES = {'rule': 'security_group_id', 'subnet': 'network_id',
           'router_interface': 'router'}


def new_id(res: Resource) -> str:
    if res.kind == 'router_interface':
        return keys.sub_id(res.key, 'port')
    return res.stable_id


@dataclass
class Context:
    """What the rows depend on beyond the change itself."""
    now: datetime.datetime
    next_sid: int                            # the next standardattributes id
    ids: dict[str, str]                      # key -> Neutron id (existing)
    bodies: dict[str, dict]                  # key -> body (desired or held)
    ipam_ids: dict[str, str]                 # subnet id -> IPAM subnet id
    taken_ips: dict[str, set[str]]           # subnet id -> addresses in use
    taken_macs: dict[str, set[str]]          # network id -> MACs in use
    revisions: dict[str, int] = field(default_factory=dict)  # key -> rev
    sids: dict[str, int] = field(default_factory=dict)       # key -> sa id
    gw_ports: dict[str, str] = field(default_factory=dict)   # router -> port
    fip_ports: dict[str, str] = field(default_factory=dict)  # fip -> port
    #: key -> what Neutron holds of it beyond its body (a group's name and
    #: tags, a rule's description): whose default group, whose rule
    raw: dict[str, dict] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)

    def id(self, ref: Ref | str | None) -> str | None:
        if ref is None:
            return None
        key = ref.key if isinstance(ref, Ref) else ref
        return keys.foreign_id(key) or self.ids[key]


@dataclass
class Writes:
    """Rows to insert (table -> rows, in the order Neutron's foreign keys
    need), rows to update, resources to delete, and which key each inserted
    row belongs to (for naming the culprit of a failure)."""
    inserts: dict[str, list[dict]] = field(default_factory=dict)
    owners: dict[str, list[str]] = field(default_factory=dict)
    #: (table, primary key values, new values, owning key)
    updates: list[tuple[str, dict, dict, str]] = field(default_factory=list)
    #: (table, where, new values): references cleared before the deletes,
    #: as Neutron clears them (a floating IP of a port that goes)
    detaches: list[tuple[str, dict, dict]] = field(default_factory=list)
    #: (phase, table, column(s), value(s)): rows to delete, in phases of
    #: one kind each; the database's ON DELETE CASCADE takes their
    #: dependents (neutrondb.py also takes their standard attributes)
    deletes: list[tuple[int, str, Any, Any]] = field(default_factory=list)
    #: (physnet, vlan, allocated)
    vlans: list[tuple[str, int, bool]] = field(default_factory=list)
    #: (subnet id, address, port id): allocations the run creates
    addresses: list[tuple[str, str, str]] = field(default_factory=list)
    #: (network id, MAC, port id)
    macs: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, table: str, owner: str, **row: Any) -> None:
        self.inserts.setdefault(table, []).append(row)
        self.owners.setdefault(table, []).append(owner)

    def __len__(self) -> int:
        return (sum(map(len, self.inserts.values())) + len(self.updates)
                + len(self.deletes) + len(self.vlans))


#: insertion order: every table after the ones its foreign keys name
TABLES = (
    'standardattributes', 'tags', 'securitygroups', 'default_security_group',
    'networks', 'networksegments', 'networksecuritybindings', 'networkrbacs',
    'externalnetworks', 'ml2_flat_allocations', 'subnets',
    'ipallocationpools', 'dnsnameservers', 'ipamsubnets',
    'ipamallocationpools', 'securitygrouprules', 'ports', 'ipallocations',
    'ipamallocations', 'ml2_port_bindings', 'portsecuritybindings',
    'securitygroupportbindings', 'routers', 'router_extra_attributes',
    'providerresourceassociations', 'routerports', 'floatingips')


def build(changes: list[Change], ctx: Context) -> Writes:
    return _Builder(ctx).run(changes)


class _Builder:
    def __init__(self, ctx: Context) -> None:
        self.c = ctx
        self.w = Writes()
        self.phase = 0
        self.routers: dict[str, list[Ref]] | None = None

    def _gone(self, table: str, column: Any, value: Any) -> None:
        self.w.deletes.append((self.phase, table, column, value))

    def run(self, changes: list[Change]) -> Writes:
        order = KINDS
        for change in sorted((c for c in changes if c.op in (
                'delete', 'replace')), key=lambda c: -order.index(c.kind)):
            self.phase = len(order) - order.index(change.kind)
            self._delete(change)
        for change in changes:
            if change.want is not None:
                self.c.bodies[change.key] = change.want
        for kind in order:
            for change in changes:
                if change.kind != kind:
                    continue
                if change.op in ('create', 'replace'):
                    self.c.ids[change.key] = new_id(
                        Resource(kind, change.key, change.want))
                    getattr(self, '_create_' + kind)(change.key, change.want)
                elif change.op == 'update':
                    self.phase = 2 * len(order) + order.index(kind)
                    self._update(change)
                elif change.op == 'tag':
                    self._tag(change)
        self._revise_parents(changes)
        return self.w

    def _revise_parents(self, changes: list[Change]) -> None:
        """A rule, subnet or router port added or removed is a new revision
        of its group, network or router (``REVISES``), once per run as
        Neutron bumps once per flush, unless that resource is itself made,
        changed or removed in this run."""
        own = {c.key for c in changes}
        parents = {(c.want or c.have)[REVISES[c.kind]].key
                   for c in changes if c.kind in REVISES}
        for key in sorted(parents - own):
            if key in self.c.sids:
                self.w.updates.append((
                    'standardattributes', {'id': self.c.sids[key]},
                    {'revision_number': self.c.revisions[key] + 1,
                     'updated_at': self.c.now}, key))

    # -- common ------------------------------------------------------------

    def _std(self, key: str, resource_type: str, description: str | None = '',
             tags: tuple[str, ...] = ()) -> int:
        sid = self.c.next_sid
        self.c.next_sid += 1
        self.w.add('standardattributes', key, id=sid,
                   resource_type=resource_type, description=description,
                   revision_number=0, created_at=self.c.now,
                   updated_at=self.c.now)
        for tag in tags:
            self.w.add('tags', key, standard_attr_id=sid, tag=tag)
        return sid

    def _mac(self, network_id: str) -> str:
        """Neutron's own choice: random under the fa:16:3e base, unique
        on the network."""
        taken = self.c.taken_macs.setdefault(network_id, set())
        while True:
            mac = 'fa:16:3e:' + ':'.join(
                f'{self.c.rng.randrange(256):02x}' for _ in range(3))
            if mac not in taken:
                return mac

    def _free_address(self, subnet_key: str) -> str:
        """The first address of the subnet's pools nobody holds (Neutron's
        IPAM picks any free one)."""
        subnet_id = self.c.id(subnet_key)
        taken = self.c.taken_ips.setdefault(subnet_id, set())
        for first, last in self.c.bodies[subnet_key]['allocation_pools']:
            for ip in netaddr.iter_iprange(first, last):
                if str(ip) not in taken:
                    return str(ip)
        raise ValueError(f'{subnet_key} has no free address')

    def _port_rows(self, key: str, port_id: str, network_id: str,
                   project_id: str, mac: str, device_id: str,
                   device_owner: str, fixed: list[tuple[str, str]],
                   host: str = '', groups: tuple[str, ...] = (),
                   tags: tuple[str, ...] = (), security: bool = True,
                   internal: bool = False) -> None:
        """A port as ML2 writes it; ``internal``: a router's or floating
        IP's own port (no project, IPs allocated 'immediate')."""
        sid = self._std(key, 'ports', '', tags)
        self.c.sids.setdefault(key, sid)
        self.w.add('ports', key, id=port_id, project_id=project_id, name='',
                   network_id=network_id, mac_address=mac,
                   admin_state_up=True,
                   status='N/A' if device_owner == FIP_OWNER else 'DOWN',
                   device_id=device_id, device_owner=device_owner,
                   ip_allocation='immediate' if internal else None,
                   standard_attr_id=sid)
        self.c.taken_macs.setdefault(network_id, set()).add(mac)
        self.w.macs.append((network_id, mac, port_id))
        self._allocations(key, port_id, network_id, fixed)
        self.w.add('ml2_port_bindings', key, port_id=port_id, host=host,
                   vnic_type='normal', profile='', vif_type='unbound',
                   vif_details='', status='ACTIVE')
        self.w.add('portsecuritybindings', key, port_id=port_id,
                   port_security_enabled=security)
        for group in groups:
            self.w.add('securitygroupportbindings', key, port_id=port_id,
                       security_group_id=group)

    def _allocations(self, key: str, port_id: str, network_id: str,
                     fixed: list[tuple[str, str]]) -> None:
        for subnet_id, ip in fixed:
            self.w.add('ipallocations', key, port_id=port_id, ip_address=ip,
                       subnet_id=subnet_id, network_id=network_id)
            self.w.add('ipamallocations', key, ip_address=ip,
                       status='ALLOCATED',
                       ipam_subnet_id=self.c.ipam_ids[subnet_id])
            self.c.taken_ips.setdefault(subnet_id, set()).add(ip)
            self.w.addresses.append((subnet_id, ip, port_id))

    def _bump(self, change: Change, table: str, values: dict,
              description: str | None = None) -> None:
        """A changed resource: its row, and a new revision as Neutron's
        revision plugin gives it."""
        key = change.key
        if values:
            self.w.updates.append((table, {'id': self.c.ids[key]}, values,
                                   key))
        extra = {} if description is None else {'description': description}
        self.w.updates.append(('standardattributes',
                               {'id': self.c.sids[key]},
                               {'revision_number': self.c.revisions[key] + 1,
                                'updated_at': self.c.now, **extra}, key))

    # -- security groups ---------------------------------------------------

    def _create_security_group(self, key: str, body: dict) -> None:
        gid = self.c.ids[key]
        default = body['name'] == 'default'
        sid = self._std(key, 'securitygroups',
                        DEFAULT_GROUP_DESCRIPTION if default
                        else body.get('description', ''),
                        keys.tags(key, *((keys.CREATED_DEFAULT,) if default
                                         else ())))
        self.w.add('securitygroups', key, id=gid,
                   project_id=body['project_id'], name=body['name'],
                   stateful=True, standard_attr_id=sid)
        if default:
            self.w.add('default_security_group', key,
                       project_id=body['project_id'], security_group_id=gid)

    def _create_rule(self, key: str, body: dict) -> None:
        group = body['security_group_id']
        sid = self._std(key, 'securitygrouprules', keys.MARK)
        self.w.add('securitygrouprules', key, id=self.c.ids[key],
                   project_id=self.c.bodies[group.key]['project_id'],
                   security_group_id=self.c.id(group),
                   remote_group_id=self.c.id(body['remote_group_id']),
                   remote_address_group_id=None,
                   direction=body['direction'], ethertype=body['ethertype'],
                   protocol=body['protocol'],
                   port_range_min=body['port_range_min'],
                   port_range_max=body['port_range_max'],
                   remote_ip_prefix=body['remote_ip_prefix'],
                   standard_attr_id=sid)

    # -- networks and subnets ----------------------------------------------

    def _create_network(self, key: str, body: dict) -> None:
        nid = self.c.ids[key]
        sid = self._std(key, 'networks', '', keys.tags(key))
        self.w.add('networks', key, id=nid, project_id=body['project_id'],
                   name=body['name'], status='ACTIVE', admin_state_up=True,
                   vlan_transparent=False, qinq=False,
                   availability_zone_hints=None,
                   mtu=body.get('mtu') or DEFAULT_MTU, standard_attr_id=sid)
        physnet = body['provider:physical_network']
        vlan = body['provider:segmentation_id']
        self.w.add('networksegments', key, id=keys.sub_id(key, 'segment'),
                   network_id=nid, network_type=body['provider:network_type'],
                   physical_network=physnet, segmentation_id=vlan,
                   is_dynamic=False, segment_index=0, name=None,
                   standard_attr_id=self._std(key, 'networksegments'))
        if body['provider:network_type'] == 'vlan':
            self.w.vlans.append((physnet, vlan, True))
        else:
            self.w.add('ml2_flat_allocations', key, physical_network=physnet)
        self.w.add('networksecuritybindings', key, network_id=nid,
                   port_security_enabled=True)
        self._rbac(key, body)

    def _rbac(self, key: str, body: dict, old: dict | None = None) -> None:
        """Shared and external networks are RBAC entries for everyone (and
        external ones an externalnetworks row)."""
        nid = self.c.ids[key]
        for flag, action in (('shared', 'access_as_shared'),
                             ('router:external', 'access_as_external')):
            if old is not None and bool(old.get(flag)) == bool(body[flag]):
                continue
            rbac = keys.sub_id(key, 'rbac-' + action)
            if body[flag]:
                self.w.add('networkrbacs', key, id=rbac, object_id=nid,
                           project_id=body['project_id'], target_project='*',
                           action=action)
            elif old is not None:
                self._gone('networkrbacs', 'id', rbac)
        if old is None or bool(old['router:external']) != bool(
                body['router:external']):
            if body['router:external']:
                self.w.add('externalnetworks', key, network_id=nid,
                           is_default=False)
            elif old is not None:
                self._gone('externalnetworks', 'network_id', nid)

    def _create_subnet(self, key: str, body: dict) -> None:
        from neutron.db import ipam_backend_mixin
        from neutron.ipam import utils as ipam_utils
        subnet_id = self.c.ids[key]
        cidr = netaddr.IPNetwork(body['cidr'])
        gateway = body.get('gateway_ip', ipam_backend_mixin.IpamBackendMixin
                           ._gateway_ip_str({**body, 'gateway_ip':
                                             constants.ATTR_NOT_SPECIFIED},
                                            body['cidr']))
        pools = body.get('allocation_pools') or tuple(
            (str(netaddr.IPAddress(r.first)), str(netaddr.IPAddress(r.last)))
            for r in ipam_utils.generate_pools(str(cidr.cidr), gateway))
        self.c.bodies[key] = dict(body, gateway_ip=gateway,
                                  allocation_pools=pools)
        sid = self._std(key, 'subnets', '', keys.tags(key))
        self.w.add('subnets', key, id=subnet_id, project_id=body['project_id'],
                   name=body['name'], network_id=self.c.id(body['network_id']),
                   segment_id=None, subnetpool_id=None,
                   ip_version=body['ip_version'], cidr=str(cidr.cidr),
                   gateway_ip=gateway, enable_dhcp=body['enable_dhcp'],
                   ipv6_ra_mode=body.get('ipv6_ra_mode'),
                   ipv6_address_mode=body.get('ipv6_address_mode'),
                   standard_attr_id=sid)
        ipam = self.c.ipam_ids[subnet_id] = keys.sub_id(key, 'ipam')
        self.w.add('ipamsubnets', key, id=ipam, neutron_subnet_id=subnet_id)
        self._pools(key, pools)
        self._dns(key, body.get('dns_nameservers') or ())

    def _pools(self, key: str, pools: Iterable[dict[str, str]]) -> None:
        subnet_id = self.c.id(key)
        for i, (first, last) in enumerate(pools):
            self.w.add('ipallocationpools', key,
                       id=keys.sub_id(key, f'pool{i}'), subnet_id=subnet_id,
                       first_ip=first, last_ip=last)
            self.w.add('ipamallocationpools', key,
                       id=keys.sub_id(key, f'ipam-pool{i}'),
                       ipam_subnet_id=self.c.ipam_ids[subnet_id],
                       first_ip=first, last_ip=last)

    def _dns(self, key: str, servers: Iterable[str]) -> None:
        for order, address in enumerate(servers):
            self.w.add('dnsnameservers', key, address=address,
                       subnet_id=self.c.id(key), order=order)

    # -- ports ---------------------------------------------------------------

    def _create_port(self, key: str, body: dict) -> None:
        port_id = self.c.ids[key]
        network_id = self.c.id(body['network_id'])
        mac = body.get('mac_address') or self._mac(network_id)
        self._port_rows(
            key, port_id, network_id, body['project_id'], mac,
            body['device_id'], body['device_owner'],
            self._fixed(body, mac), body.get('binding:host_id') or '',
            tuple(sorted(self.c.id(g) for g in body['security_groups'])),
            keys.tags(key))

    def _fixed(self, body: dict, mac: str) -> list[tuple[str, str]]:
        """The port's addresses; on a network with a SLAAC subnet Neutron
        gives every port its EUI-64 address (nova's ports list theirs)."""
        fixed = sorted((self.c.id(s), ip) for s, ip in body['fixed_ips'])
        v6 = keys.subnet6(body['network_id'].key)
        if v6 in self.c.bodies and not any(
                s.key == v6 for s, _ in body['fixed_ips']):
            fixed.append((self.c.id(v6),
                          eui64(self.c.bodies[v6]['cidr'], mac)))
        return fixed

    # -- routers and floating IPs --------------------------------------------

    def _create_router(self, key: str, body: dict) -> None:
        rid = self.c.ids[key]
        gw = keys.sub_id(key, 'gateway')
        ext = body['external_network']
        self._gateway(key, rid, gw, ext)
        sid = self._std(key, 'routers', '', keys.tags(key))
        self.w.add('routers', key, id=rid, project_id=body['project_id'],
                   name=body['name'], status='ACTIVE', admin_state_up=True,
                   gw_port_id=gw, flavor_id=None, enable_snat=True,
                   standard_attr_id=sid)
        self.w.add('router_extra_attributes', key, router_id=rid,
                   distributed=False, service_router=False, ha=False,
                   ha_vr_id=0, availability_zone_hints='[]',
                   enable_default_route_ecmp=False,
                   enable_default_route_bfd=False)
        self.w.add('providerresourceassociations', key,
                   provider_name=L3_PROVIDER, resource_id=rid)
        self.w.add('routerports', key, router_id=rid, port_id=gw,
                   port_type=ROUTER_GW)

    def _gateway(self, key: str, rid: str, gw: str, ext: Ref) -> None:
        subnet = keys.subnet4(ext.key)
        network_id = self.c.id(ext)
        self._port_rows(key, gw, network_id, '', self._mac(network_id), rid,
                        ROUTER_GW, [(self.c.id(subnet),
                                     self._free_address(subnet))],
                        security=False, internal=True)

    def _create_router_interface(self, key: str, body: dict) -> None:
        router, subnet = body['router'], body['subnet']
        sub = self.c.bodies[subnet.key]
        network_id = self.c.id(sub['network_id'])
        port_id = self.c.ids[key]
        self._port_rows(key, port_id, network_id,
                        self.c.bodies[router.key]['project_id'],
                        self._mac(network_id), self.c.id(router), ROUTER_IF,
                        [(self.c.id(subnet), sub['gateway_ip'])],
                        security=False, internal=True)
        self.w.add('routerports', key, router_id=self.c.id(router),
                   port_id=port_id, port_type=ROUTER_IF)

    def _create_floatingip(self, key: str, body: dict) -> None:
        fid = self.c.ids[key]
        ext = body['floating_network_id']
        port = keys.sub_id(key, 'port')
        network_id = self.c.id(ext)
        self._port_rows(key, port, network_id, '', self._mac(network_id), fid,
                        FIP_OWNER, [(self.c.id(keys.subnet4(ext.key)),
                                     body['floating_ip_address'])],
                        security=False, internal=True)
        sid = self._std(key, 'floatingips', '', keys.tags(key))
        self.w.add('floatingips', key, id=fid,
                   floating_ip_address=body['floating_ip_address'],
                   floating_network_id=network_id, floating_port_id=port,
                   **self._association(body), last_known_router_id=None,
                   status='DOWN', project_id=body['project_id'],
                   standard_attr_id=sid)

    def _association(self, body: dict) -> dict:
        """The fixed port and the router that connects its subnet to the
        floating IP's network."""
        port = body['port_id']
        router = None
        if port is not None:
            ext = body['floating_network_id']
            router = next((
                self.c.id(r) for s, _ in sorted(
                    self.c.bodies[port.key]['fixed_ips'], key=str)
                for r in self._routers().get(s.key, ())
                if self.c.bodies[r.key]['external_network'] == ext), None)
        return {'fixed_port_id': self.c.id(port),
                'fixed_ip_address': body['fixed_ip_address'],
                'router_id': router}

    def _routers(self) -> dict[str, list[Ref]]:
        """subnet key -> the routers with an interface on it (once the
        run's bodies are all known)."""
        if self.routers is None:
            self.routers = {}
            for key, body in self.c.bodies.items():
                if keys.is_router_interface(key):
                    self.routers.setdefault(body['subnet'].key, []).append(
                        body['router'])
        return self.routers

    # -- updates and deletes ---------------------------------------------------

    def _update(self, change: Change) -> None:
        want, have, key = change.want, change.have, change.key
        fields = set(change.fields)
        values: dict[str, Any] = {}
        for f in fields & {'name', 'mtu', 'gateway_ip', 'enable_dhcp',
                           'device_id', 'device_owner'}:
            values[f] = want[f]
        description = None
        if change.kind == 'network':
            self._rbac(key, want, have)
            self._bump(change, 'networks', values)
        elif change.kind == 'subnet':
            subnet_id = self.c.id(key)
            if 'allocation_pools' in fields:
                self._gone('ipallocationpools', 'subnet_id',
                                       subnet_id)
                self._gone('ipamallocationpools', 'ipam_subnet_id',
                                       self.c.ipam_ids[subnet_id])
                self._pools(key, want['allocation_pools'])
            if 'dns_nameservers' in fields:
                self._gone('dnsnameservers', 'subnet_id',
                                       subnet_id)
                self._dns(key, want['dns_nameservers'])
            self._bump(change, 'subnets', values)
        elif change.kind == 'port':
            self._update_port(change, fields)
            self._bump(change, 'ports', values)
        elif change.kind == 'security_group':
            if 'description' in fields and want['name'] != 'default':
                description = want['description']
            self._bump(change, 'securitygroups', values, description)
        elif change.kind == 'router':
            if 'external_network' in fields:
                rid = self.c.id(key)
                self.w.detaches.append(('routers', {'id': rid},
                                        {'gw_port_id': None}))
                self._gone('ports', 'id', self.c.gw_ports[key])
                gw = keys.sub_id(key, 'gateway')
                self._gateway(key, rid, gw, want['external_network'])
                self.w.add('routerports', key, router_id=rid, port_id=gw,
                           port_type=ROUTER_GW)
                values['gw_port_id'] = gw
            self._bump(change, 'routers', values)
        elif change.kind == 'floatingip':
            self._bump(change, 'floatingips', self._association(want))

    def _update_port(self, change: Change, fields: set[str]) -> None:
        want, key = change.want, change.key
        port_id = self.c.id(key)
        if 'fixed_ips' in fields:
            for subnet, ip in change.have['fixed_ips']:
                subnet_id = self.c.id(subnet)
                self._gone('ipamallocations', (
                    'ipam_subnet_id', 'ip_address'),
                    (self.c.ipam_ids[subnet_id], ip))
                self.c.taken_ips.get(subnet_id, set()).discard(ip)
            self._gone('ipallocations', 'port_id', port_id)
            mac = change.have['mac_address']
            self._allocations(key, port_id, self.c.id(want['network_id']),
                              self._fixed(want, mac))
        if 'security_groups' in fields:
            self._gone('securitygroupportbindings', 'port_id',
                                   port_id)
            for group in sorted(self.c.id(g) for g in want['security_groups']):
                self.w.add('securitygroupportbindings', key, port_id=port_id,
                           security_group_id=group)
        if 'binding:host_id' in fields:
            # A new host: unbound there, as Neutron leaves a port it has
            # not bound yet.
            self._gone('ml2_port_binding_levels', 'port_id',
                                   port_id)
            self.w.updates.append(('ml2_port_bindings', {'port_id': port_id},
                                   {'host': want['binding:host_id'] or '',
                                    'vif_type': 'unbound',
                                    'vif_details': ''}, key))

    def _delete(self, change: Change) -> None:
        kind, key = change.kind, change.key
        have = change.have
        if kind == 'router_interface' or kind == 'port':
            self._release(key, have)
        if kind == 'port':   # Neutron disassociates its floating IPs
            self.w.detaches.append((
                'floatingips', {'fixed_port_id': self.c.id(key)},
                {'fixed_port_id': None, 'fixed_ip_address': None,
                 'router_id': None}))
        elif kind == 'router':
            self.w.detaches.append(('floatingips',
                                    {'router_id': self.c.id(key)},
                                    {'router_id': None}))
        if kind == 'router_interface':
            self._gone('ports', 'id', self.c.id(key))
        elif kind == 'router':
            gw = self.c.gw_ports.get(key)
            self._gone('providerresourceassociations', 'resource_id',
                       self.c.id(key))   # no foreign key: by hand
            self._gone('routers', 'id', self.c.id(key))
            if gw:
                self._gone('ports', 'id', gw)
        elif kind == 'floatingip':
            self._gone('floatingips', 'id', self.c.id(key))
            self._gone('ports', 'id', self.c.fip_ports[key])
        elif kind == 'network':
            if have['provider:network_type'] == 'vlan':
                self.w.vlans.append((have['provider:physical_network'],
                                     have['provider:segmentation_id'], False))
            else:
                self._gone('ml2_flat_allocations',
                                       'physical_network',
                                       have['provider:physical_network'])
            self._gone('networks', 'id', self.c.id(key))
        elif kind == 'subnet':
            subnet_id = self.c.id(key)
            self._gone('ipamsubnets', 'neutron_subnet_id',
                                   subnet_id)
            self._gone('subnets', 'id', subnet_id)
        elif kind == 'port':
            self._gone('ports', 'id', self.c.id(key))
        elif kind == 'security_group':
            if self._adopted(key):
                self._release_default(change)
            else:
                self._gone('securitygroups', 'id', self.c.id(key))
        elif kind == 'rule':
            self._record_removed(change)
            self._gone('securitygrouprules', 'id', self.c.id(key))

    # -- adopted default groups ----------------------------------------------

    def _adopted(self, group: str) -> bool:
        """A project's default group Neutron made, which the translation
        adopted (not one it made: ``CREATED_DEFAULT``)."""
        raw = self.c.raw.get(group, {})
        return (raw.get('name') == 'default'
                and keys.CREATED_DEFAULT not in raw.get('tags', ()))

    def _tag(self, change: Change) -> None:
        """Adopting a default group: its tags, which are a new revision of
        it (Neutron's Tag model revises its resource)."""
        for tag in keys.tags(change.key):
            self.w.add('tags', change.key,
                       standard_attr_id=self.c.sids[change.key], tag=tag)
        self._bump(change, 'securitygroups', {})

    def _record_removed(self, change: Change) -> None:
        """A stock rule leaving an adopted default group is first recorded
        in a tag of the group, for rollback (as ``apply`` does)."""
        group = change.have['security_group_id'].key
        if (not self._adopted(group) or self.c.raw.get(
                change.key, {}).get('description') == keys.MARK):
            return
        tag = keys.removed_tag(change.have, group)
        if tag not in self.c.raw[group].get('tags', ()):
            self.w.add('tags', change.key, standard_attr_id=self.c.sids[group],
                       tag=tag)

    def _release_default(self, change: Change) -> None:
        """An adopted default group leaving the translation stays, without
        the translation's tags, with the stock rules it lost back: a new
        revision of it."""
        key = change.key
        group_id, sid = self.c.id(key), self.c.sids[key]
        tags = self.c.raw[key].get('tags', ())
        for tag in tags:
            if tag.startswith(keys.MARK):
                self._gone('tags', ('standard_attr_id', 'tag'), (sid, tag))
        for rule in keys.removed_rules(tags, group_id):
            rule_key = keys.rule(rule)
            self.w.add('securitygrouprules', key,
                       id=keys.sub_id(key, rule_key),
                       project_id=change.have['project_id'],
                       remote_address_group_id=None,
                       standard_attr_id=self._std(
                           key, 'securitygrouprules'), **rule)
        self.w.updates.append((
            'standardattributes', {'id': sid},
            {'revision_number': self.c.revisions[key] + 1,
             'updated_at': self.c.now}, key))

    def _release(self, key: str, have: dict) -> None:
        """A port's IPAM allocations, which no foreign key ties to it."""
        fixed = have.get('fixed_ips') or ((have['subnet'], None),)
        for subnet, ip in fixed:
            subnet_id = self.c.id(subnet)
            if ip is None:   # a router interface: the subnet's gateway
                ip = self.c.bodies[subnet.key]['gateway_ip']
            self._gone('ipamallocations', (
                'ipam_subnet_id', 'ip_address'),
                (self.c.ipam_ids[subnet_id], ip))
            self.c.taken_ips.get(subnet_id, set()).discard(ip)
