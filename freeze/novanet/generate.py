"""Realistic nova-network databases for tests, demos and benchmarks.

FlatDHCP with multi_host (one shared network, per-host DHCP addresses, an
IPv6 prefix) or VlanManager (a /24 and a VLAN per project, VPN addresses
reserved, one pool network nobody was given), with the soft-deleted rows
years of use leave and live rows reuse; ``mixed``: FlatDHCP plus a
second flat network on its own bridge and a VLAN network per project, as
nova-network plugs whatever each row says (several physnets, MTU set on
some networks only). Floating IPs associated and
not, security groups with CIDR and group rules, soft-deleted rows, and (when
asked) the dangling and contradictory rows real databases collect. Also the
few writes nova itself would make, for tests that change the source.

``python -m freeze.novanet.generate sqlite:///nova.sqlite --ports 10000``
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import uuid
from dataclasses import dataclass, field

import sqlalchemy

from freeze.novanet import schema

FLOATING_POOL = 'nova'
FLOATING_CIDR = '172.24.4.0/24'      # nova's pool is .128 - .254
FLOATING_GATEWAY = '172.24.4.1'
MIXED_BRIDGE = 'br101'               # the second flat network's bridge
MIXED_VLAN = 200                     # + project index: the mixed VLANs


@dataclass
class Generated:
    """What a test needs to know about the database it got."""
    url: str
    manager: str
    projects: list[str]
    hosts: list[str]
    network_ids: list[int] = field(default_factory=list)
    group_ids: dict[str, dict[str, int]] = field(default_factory=dict)
    #: uuids of networks whose row says VLAN in a Flat* database (mixed)
    vlan_uuids: list[str] = field(default_factory=list)


def settings(generated: Generated, admin_project_id: str) -> dict:
    """The translation settings that fit a generated database."""
    return {
        'source': generated.url, 'network_manager': generated.manager,
        'admin_project_id': admin_project_id,
        'physnets': {'eth1': 'physnet1', 'eth2': 'physnet2',
                     MIXED_BRIDGE: 'physnet3'},
        # The operator's word on what the manager setting does not say.
        'networks': {uuid: {'type': 'vlan'}
                     for uuid in generated.vlan_uuids},
        'floating_pools': {FLOATING_POOL: {
            'cidr': FLOATING_CIDR, 'gateway': FLOATING_GATEWAY,
            'physnet': 'public'}},
    }


def generate(url: str, ports: int = 30, manager: str = 'FlatDHCP',
             projects: int = 3, hosts: int = 4, dangling: bool = True,
             seed: int = 1, mixed: bool = False) -> Generated:
    eng = sqlalchemy.create_engine(url)
    schema.metadata.create_all(eng)
    g = _Builder(random.Random(seed), manager)
    out = Generated(url, manager, [g.hex() for _ in range(projects)],
                    [f'compute-{i}' for i in range(hosts)])
    for project in out.projects:
        out.group_ids[project] = g.groups(project)
    if manager == 'Vlan':
        nets = [g.network(f'10.1.{i}.0/24', project=p, vlan=100 + i,
                          interface='eth2', hosts=[])
                for i, p in enumerate(out.projects)]
        g.network(f'10.1.{projects}.0/24', project=None, vlan=100 + projects,
                  interface='eth2', hosts=[])
    else:
        prefix = min(24, 32 - int(ports * 1.2 + hosts + 16).bit_length())
        nets = [g.network(f'10.0.0.0/{prefix}', project=None,
                          interface='eth1', hosts=out.hosts,
                          cidr_v6='fd00:0:0:1::/64')] * projects
        if mixed:
            # Instances of every project share both flat networks; each
            # project also has its VLAN (rows nova plugs as VLANs whatever
            # network_manager says).
            second = g.network('10.2.0.0/24', project=None, interface='eth1',
                               hosts=[], bridge=MIXED_BRIDGE, mtu=1400)
            vlans = [g.network(f'10.3.{i}.0/24', project=p,
                               vlan=MIXED_VLAN + i, interface='eth2',
                               hosts=[])
                     for i, p in enumerate(out.projects)]
            out.vlan_uuids = [n['uuid'] for n in vlans]
            nets = [(nets[0], second, vlans[i % projects])[i // projects % 3]
                    for i in range(projects * 3)]
    for i in range(ports):
        project = out.projects[i % projects]
        g.instance(project, nets[i % len(nets)], out.hosts[i % hosts],
                   out.group_ids[project], i)
    g.floating(out.projects)
    g.history(nets[0], out.projects[0])
    if dangling:
        g.dangling(nets[0], out.projects[0])
    with eng.begin() as conn:
        for table in schema.TABLES:
            if g.rows[table.name]:
                names = table.columns.keys()  # executemany: same keys
                conn.execute(table.insert(), [
                    {n: row.get(n) for n in names}
                    for row in g.rows[table.name]])
    out.network_ids = [n['id'] for n in g.rows['networks']]
    eng.dispose()
    return out


class _Builder:
    """Rows accumulated per table, with ids and addresses handed out."""

    def __init__(self, rng: random.Random, manager: str):
        self.rng = rng
        self.manager = manager
        self.rows: dict[str, list[dict]] = {t.name: [] for t in schema.TABLES}
        self.free: dict[int, list[dict]] = {}   # network id -> free fixed_ips
        self.mac = 0

    def hex(self) -> str:
        return uuid.UUID(int=self.rng.getrandbits(128)).hex

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def add(self, table: str, **row) -> dict:
        rows = self.rows[table]
        row.setdefault('id', len(rows) + 1)
        row.setdefault('deleted', 0)
        rows.append(row)
        return row

    def groups(self, project: str) -> dict[str, int]:
        ids = {name: self.add('security_groups', name=name, project_id=project,
                              description=f'{name} group', user_id='u')['id']
               for name in ('default', 'web', 'db')}
        # As nova's API stores them: a group rule without ports opens
        # tcp/udp 1-65535 and ICMP -1/-1; the protocol as the client sent it.
        for parent, proto, low, high, cidr, group in (
                ('default', 'icmp', -1, -1, '0.0.0.0/0', None),
                ('default', 'tcp', 22, 22, '10.0.0.0/8', None),
                ('default', 'tcp', 1, 65535, None, 'default'),
                ('default', 'udp', 1, 65535, None, 'default'),
                ('default', 'icmp', -1, -1, None, 'default'),
                ('web', 'tcp', 80, 80, '0.0.0.0/0', None),
                ('web', 'TCP', 443, 443, '::/0', None),
                ('web', 'udp', 1, 65535, '192.168.0.0/16', None),
                ('db', 'tcp', 5432, 5432, None, 'web'),
                ('db', 'icmp', 8, -1, None, 'db')):
            self.add('security_group_rules', parent_group_id=ids[parent],
                     protocol=proto, from_port=low, to_port=high, cidr=cidr,
                     group_id=ids[group] if group else None)
        return ids

    def network(self, cidr: str, project: str | None, interface: str,
                hosts: list[str], vlan: int | None = None,
                cidr_v6: str | None = None, bridge: str | None = None,
                mtu: int | None = None) -> dict:
        net = ipaddress.ip_network(cidr)
        addresses = list(net)
        gateway = str(addresses[1])
        row = self.add(
            'networks', label=f'net-{len(self.rows["networks"]) + 1}',
            cidr=cidr, cidr_v6=cidr_v6, multi_host=bool(hosts),
            gateway=gateway, netmask=str(net.netmask),
            broadcast=str(net.broadcast_address), dns1='8.8.8.8',
            dns2='8.8.4.4', vlan=vlan, bridge=bridge or f'br{vlan or 100}',
            bridge_interface=interface, project_id=project, uuid=self.uuid(),
            dhcp_server=gateway, enable_dhcp=True, share_address=False,
            injected=False, mtu=mtu or (1450 if vlan else None),
            dhcp_start=str(addresses[3] if vlan else addresses[2]),
            vpn_private_address=str(addresses[2]) if vlan else None)
        reserved = {0, 1, len(addresses) - 1} | ({2} if vlan else set())
        free = self.free[row['id']] = []
        for i, address in enumerate(addresses):
            fixed = self.add('fixed_ips', address=str(address),
                             network_id=row['id'], allocated=False,
                             leased=False, reserved=i in reserved)
            if i not in reserved:
                free.append(fixed)
        free.reverse()  # pop() hands out the lowest first
        for host in hosts:
            free.pop().update(host=host, allocated=True)
        return row

    def instance(self, project: str, network: dict, host: str,
                 groups: dict[str, int], i: int,
                 az: str | None = 'nova') -> dict:
        inst = self.add('instances', uuid=self.uuid(), host=host,
                        availability_zone=None if i % 7 == 3 else az,
                        project_id=project, vm_state='active',
                        display_name=f'vm-{i}')
        self.mac += 1
        vif = self.add('virtual_interfaces', uuid=self.uuid(),
                       address='fa:16:3e:%02x:%02x:%02x' % (
                           self.mac >> 16 & 255, self.mac >> 8 & 255,
                           self.mac & 255),
                       network_id=network['id'], instance_uuid=inst['uuid'])
        free = self.free[network['id']]
        if i % 11 == 5 and len(free) > 1:
            free.pop()  # a released address: a hole in the allocation
        free.pop().update(instance_uuid=inst['uuid'], allocated=True,
                          leased=True, virtual_interface_id=vif['id'])
        names = ['default'] + ['web'] * (i % 2 == 0) + ['db'] * (i % 3 == 0)
        for name in names:
            self.add('security_group_instance_association',
                     security_group_id=groups[name],
                     instance_uuid=inst['uuid'])
        return inst

    def floating(self, projects: list[str]) -> None:
        """Pool .128-.254: every third associated, some only allocated."""
        ports = [f for f in self.rows['fixed_ips'] if f.get('instance_uuid')]
        owners = {i['uuid']: i['project_id'] for i in self.rows['instances']}
        for n, last in enumerate(range(128, 255)):
            row = self.add('floating_ips', address=f'172.24.4.{last}',
                           pool=FLOATING_POOL, auto_assigned=False,
                           interface='eth0', project_id=None,
                           fixed_ip_id=None)
            if n * 3 < len(ports) and n % 2 == 0:
                fixed = ports[n * 3]
                row.update(project_id=owners[fixed['instance_uuid']],
                           fixed_ip_id=fixed['id'], host='compute-0')
            elif n < 6:
                row.update(project_id=projects[n % len(projects)])

    def history(self, network: dict, project: str) -> None:
        """Soft-deleted rows (deleted = id) that live ones reuse: a network
        deleted before the live one took its addresses (its fixed IPs too), a
        deleted instance whose VIF had the MAC and address a live port has
        now, a released floating IP row, a removed rule and group."""
        live = next(f for f in self.rows['fixed_ips']
                    if f.get('virtual_interface_id')
                    and f['network_id'] == network['id'])
        prefix = max(ipaddress.ip_network(network['cidr']).prefixlen, 27)
        old = self.network(   # the /27 around it: a few rows at any size
            str(ipaddress.ip_network(f'{live["address"]}/{prefix}',
                                     strict=False)),
            project=None, interface='eth1', hosts=[])
        old_ips = {f['address']: f for f in self.rows['fixed_ips']
                   if f['network_id'] == old['id']}
        live_vif = self.rows['virtual_interfaces'][
            live['virtual_interface_id'] - 1]
        gone = self.add('instances', uuid=self.uuid(), host='compute-0',
                        availability_zone='nova', project_id=project,
                        vm_state='deleted', display_name='deleted')
        vif = self.add('virtual_interfaces', uuid=self.uuid(),
                       address=live_vif['address'], network_id=old['id'],
                       instance_uuid=gone['uuid'])
        reused = old_ips[live['address']]
        reused.update(instance_uuid=gone['uuid'], allocated=True,
                      virtual_interface_id=vif['id'])
        floating = self.rows['floating_ips'][0]
        group = self.add('security_groups', name='old', project_id=project,
                         description='deleted', user_id='u')
        rule = self.add('security_group_rules', parent_group_id=group['id'],
                        protocol='tcp', from_port=1, to_port=65535,
                        cidr='0.0.0.0/0', group_id=None)
        assoc = self.add('security_group_instance_association',
                         security_group_id=group['id'],
                         instance_uuid=live['instance_uuid'])
        for row in (old, *old_ips.values(), gone, vif, group, rule, assoc,
                    self.add('floating_ips', **{
                        **floating, 'id': len(self.rows['floating_ips']) + 1,
                        'project_id': project, 'fixed_ip_id': reused['id']})):
            row['deleted'] = row['id']
        del self.free[old['id']]

    def dangling(self, network: dict, project: str) -> None:
        """What years of nova-network leave behind."""
        groups = {g['name']: g['id'] for g in self.rows['security_groups']
                  if g['project_id'] == project}
        gone = self.add('instances', uuid=self.uuid(), host='compute-0',
                        availability_zone='nova', project_id=project,
                        vm_state='deleted', display_name='gone')
        gone['deleted'] = gone['id']
        free = self.free[network['id']]
        free.pop().update(instance_uuid=gone['uuid'], allocated=True)
        lost = self.add('instances', uuid=self.uuid(), host='compute-1',
                        availability_zone='nova', project_id=project,
                        vm_state='active', display_name='lost-vif')
        self.add('virtual_interfaces', uuid=self.uuid(),
                 address='fa:16:3e:ff:00:01', network_id=9999,
                 instance_uuid=lost['uuid'])
        twin = self.instance(project, network, 'compute-1', groups, 10**6)
        self.rows['virtual_interfaces'][-1]['address'] = (
            self.rows['virtual_interfaces'][0]['address'])  # duplicate MAC
        self.instance(project, network, None, groups, 10**6 + 1)  # no host
        self.add('security_group_instance_association',
                 security_group_id=9999, instance_uuid=twin['uuid'])
        self.add('security_group_rules', parent_group_id=groups['web'],
                 protocol='tcp', from_port=1, to_port=2, cidr=None,
                 group_id=9999)
        self.add('floating_ips', address='172.24.4.127', pool=FLOATING_POOL,
                 project_id=project, fixed_ip_id=999999, auto_assigned=False)
        self.add('fixed_ips', address='192.168.99.5', network_id=network['id'],
                 allocated=True, reserved=False,
                 instance_uuid=twin['uuid'])
        deleted = self.add('networks', label='deleted', cidr='10.9.0.0/24',
                           uuid=self.uuid(), project_id=project)
        deleted['deleted'] = deleted['id']


# -- what nova would write while the API is live ---------------------------

def add_instance(url: str, project: str, network_id: int, host: str,
                 group_ids: list[int]) -> tuple[str, str]:
    """Boot: an instance, a VIF, the lowest free address, its groups.
    Returns (instance uuid, VIF uuid)."""
    eng = sqlalchemy.create_engine(url)
    fixed, vif, inst = (schema.fixed_ips, schema.virtual_interfaces,
                        schema.instances)
    with eng.begin() as conn:
        free = conn.execute(sqlalchemy.select(fixed.c.id, fixed.c.address)
                            .where(fixed.c.network_id == network_id,
                                   fixed.c.deleted == 0,
                                   fixed.c.reserved.is_(False),
                                   fixed.c.allocated.is_(False))).all()
        fixed_id = min(free, key=lambda r: ipaddress.ip_address(r.address)).id
        inst_uuid, vif_uuid = str(uuid.uuid4()), str(uuid.uuid4())
        conn.execute(inst.insert().values(
            uuid=inst_uuid, host=host, availability_zone='nova',
            project_id=project, vm_state='active', display_name='new',
            deleted=0))
        vif_id = conn.execute(vif.insert().values(
            uuid=vif_uuid, network_id=network_id, instance_uuid=inst_uuid,
            deleted=0)).inserted_primary_key[0]
        # Unique: the generator's own MACs are fa:16:3e:<counter>.
        conn.execute(vif.update().where(vif.c.id == vif_id).values(
            address='fa:16:3f:%02x:%02x:%02x' % (
                vif_id >> 16 & 255, vif_id >> 8 & 255, vif_id & 255)))
        conn.execute(fixed.update().where(fixed.c.id == fixed_id).values(
            instance_uuid=inst_uuid, allocated=True, leased=True,
            virtual_interface_id=vif_id))
        for group_id in group_ids:
            conn.execute(schema.security_group_instance_association.insert()
                         .values(security_group_id=group_id,
                                 instance_uuid=inst_uuid, deleted=0))
    eng.dispose()
    return inst_uuid, vif_uuid


def release_floating_ip(url: str, address: str) -> None:
    """Disassociate and give back to the pool."""
    table = schema.floating_ips
    eng = sqlalchemy.create_engine(url)
    with eng.begin() as conn:
        conn.execute(table.update().where(table.c.address == address).values(
            project_id=None, fixed_ip_id=None, host=None))
    eng.dispose()


def add_rule(url: str, group_id: int, protocol: str, from_port: int,
             to_port: int, cidr: str) -> None:
    eng = sqlalchemy.create_engine(url)
    with eng.begin() as conn:
        conn.execute(schema.security_group_rules.insert().values(
            parent_group_id=group_id, protocol=protocol, from_port=from_port,
            to_port=to_port, cidr=cidr, deleted=0))
    eng.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('url')
    parser.add_argument('--ports', type=int, default=30)
    parser.add_argument('--manager', choices=('FlatDHCP', 'Vlan'),
                        default='FlatDHCP')
    parser.add_argument('--projects', type=int, default=3)
    parser.add_argument('--no-dangling', action='store_true')
    parser.add_argument('--mixed', action='store_true',
                        help='FlatDHCP plus a second flat network and VLANs')
    args = parser.parse_args()
    out = generate(args.url, args.ports, args.manager, args.projects,
                   dangling=not args.no_dangling, mixed=args.mixed)
    print(f'{args.url}: {args.ports} ports, projects {out.projects}')


if __name__ == '__main__':
    main()
