"""Neutron's database as the translation's second target: read what the
translation wrote there, refuse what must not be written, write the
changes' rows (restore.py) in one transaction.

Tables are the installed Neutron's own (its model metadata), so a column
Neutron adds or renames is seen here, not described twice. What the
translation wrote is found as ``apply`` finds it through the API: by the
``nova-cutover:key=`` tag on the resource's standard attributes (rules: every
rule of a tagged group), and read into the same normalized bodies
(held.Actual), so the same diff says what changes.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy
from sqlalchemy import and_, event, select

from freeze.novanet.gcpause import gc_paused
from freeze.translate import keys, restore, rules
from freeze.translate.held import Actual
from freeze.translate.changes import Changes, diff
from freeze.translate.desired import KINDS, Desired, Ref

#: an agent that reported within this long is alive (Neutron's
#: agent_down_time is 75 s by default)
AGENT_ALIVE = datetime.timedelta(seconds=150)
#: a change by someone else within this long means a server is serving
ACTIVITY_WINDOW = datetime.timedelta(minutes=5)
CHUNK = 500
#: the standard attribute row restore owns: its tag records restore's last
#: write (``Stamp``)
STAMP_TYPE = 'nova_cutover_restore'
STAMP_TAG = keys.MARK + ':restored='


class Refused(Exception):
    """Nothing was written: the one-line reason."""


class Failed(Exception):
    """The transaction was rolled back: which resource, and why."""


@functools.lru_cache(maxsize=1)
def tables() -> dict[str, sqlalchemy.Table]:
    from neutron.db.migration.models import head
    return dict(head.get_metadata().tables)


def migrations():
    """The installed Neutron's own migration scripts (alembic's
    ``ScriptDirectory``), as ``neutron-db-manage`` finds them."""
    from alembic import script
    from neutron.db.migration import cli
    config = next(c for c in cli.get_alembic_configs()
                  if c.get_main_option('neutron_project') == 'neutron')
    return script.ScriptDirectory.from_config(config)


def expected_heads() -> set[str]:
    """The alembic heads of the installed Neutron (what
    ``neutron-db-manage upgrade heads`` leads to)."""
    return set(migrations().get_heads())


def engine(url: str) -> sqlalchemy.Engine:
    eng = sqlalchemy.create_engine(url)
    if eng.dialect.name == 'sqlite':
        # Foreign keys enforced (as Neutron's own sqlite engines), so the
        # cascades the schema declares happen here too; the write lock
        # taken at BEGIN, and savepoints that work (SQLAlchemy's recipe
        # for pysqlite).
        @event.listens_for(eng, 'connect')
        def _connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None
            dbapi_conn.execute('PRAGMA foreign_keys=ON')

        @event.listens_for(eng, 'begin')
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql('BEGIN IMMEDIATE')
    return eng


def now() -> datetime.datetime:
    """Naive UTC to the second, as Neutron stores timestamps."""
    return datetime.datetime.now(datetime.timezone.utc).replace(
        tzinfo=None, microsecond=0)


# -- refusals ------------------------------------------------------------------

def check_heads(conn: sqlalchemy.Connection) -> None:
    want = expected_heads()
    found = set()
    if sqlalchemy.inspect(conn).has_table('alembic_version'):
        found = set(conn.execute(sqlalchemy.text(
            'SELECT version_num FROM alembic_version')).scalars())
    if found != want:
        raise Refused(
            f'the database is not at the installed Neutron\'s alembic heads: '
            f'expected {", ".join(sorted(want))}, found '
            f'{", ".join(sorted(found)) or "none"} (neutron-db-manage '
            f'upgrade heads)')


@dataclass(frozen=True)
class Stamp:
    """What restore's last write left: when, and the standard attributes as
    its commit left them (how many, the newest id, the sum of revision
    numbers). Every resource Neutron creates, changes (its revision moves)
    or deletes changes those, whatever second it happens in; restore's own
    rows do not count as someone else's."""
    at: datetime.datetime
    count: int
    newest: int
    revisions: int

    def tag(self) -> str:
        return (f'{STAMP_TAG}{self.at.isoformat()};{self.count};'
                f'{self.newest};{self.revisions}')

    @classmethod
    def parse(cls, tag: str) -> Stamp:
        at, count, newest, revisions = tag[len(STAMP_TAG):].split(';')
        return cls(datetime.datetime.fromisoformat(at), int(count),
                   int(newest), int(revisions))


def _census(conn: sqlalchemy.Connection) -> tuple[int, int, int, Any]:
    """The standard attributes: how many, the newest id, the sum of
    revision numbers, the latest update. One scan."""
    sa = tables()['standardattributes']
    fn = sqlalchemy.func
    count, newest, revisions, latest = conn.execute(select(
        fn.count(), fn.max(sa.c.id), fn.sum(sa.c.revision_number),
        fn.max(sa.c.updated_at))).one()
    return count, newest or 0, int(revisions or 0), latest


def check_idle(conn: sqlalchemy.Connection, stamp: Stamp | None,
               at: datetime.datetime) -> None:
    """A Neutron server serving from this database: an agent that reported
    lately, or someone else's write since restore's last one (``Stamp``)
    that happened lately (within ACTIVITY_WINDOW: an update's time, else
    restore's own). Without a stamp (never restored, or rolled back to
    nothing), any update within ACTIVITY_WINDOW."""
    t = tables()
    agent = conn.execute(
        select(t['agents'].c.binary, t['agents'].c.host,
               t['agents'].c.heartbeat_timestamp)
        .where(t['agents'].c.heartbeat_timestamp > at - AGENT_ALIVE)
        .limit(1)).first()
    if agent:
        raise Refused(
            f'a Neutron server is serving from this database: agent '
            f'{agent.binary} on {agent.host} reported at '
            f'{agent.heartbeat_timestamp} UTC (stop it, or --force)')
    count, newest, revisions, latest = _census(conn)
    since = at - ACTIVITY_WINDOW
    lately = latest is not None and latest > since
    if stamp is not None:
        if (count, newest, revisions) == (
                stamp.count, stamp.newest, stamp.revisions):
            return   # nobody else wrote since restore did
        lately = lately or stamp.at > since
    if not lately:
        return
    serving = 'a Neutron server seems to be serving from this database'
    if stamp is None or latest > stamp.at:   # surely not restore's
        sa = t['standardattributes']
        row = conn.execute(
            select(sa.c.resource_type, sa.c.id, sa.c.updated_at)
            .where(sa.c.updated_at == latest).limit(1)).one()
        raise Refused(
            f'{serving}: {row.resource_type} (standard attribute {row.id}) '
            f'changed at {row.updated_at} UTC, not by the translation (stop '
            f'it, or --force)')
    raise Refused(
        f'{serving}: its resources changed since restore wrote at '
        f'{stamp.at} UTC ({stamp.count} -> {count} standard attributes, '
        f'revisions {stamp.revisions} -> {revisions}) (stop it, or '
        f'--force)')


def stamp(conn: sqlalchemy.Connection, row: int | None,
          at: datetime.datetime, keep: bool) -> None:
    """Record this write in its transaction: the tag of the stamp row
    (``row``, its standard attribute id; made the first time), removed with
    the row when ``keep`` is false (a rollback that left nothing of
    restore's behind)."""
    t = tables()
    sa, tags = t['standardattributes'], t['tags']
    if row is not None:
        conn.execute(tags.delete().where(tags.c.standard_attr_id == row))
        if not keep:
            conn.execute(sa.delete().where(sa.c.id == row))
            return
    elif not keep:
        return
    else:
        row = conn.execute(sa.insert().values(
            resource_type=STAMP_TYPE, revision_number=0,
            description='restore\'s last write (nova-cutover translate)',
            created_at=at, updated_at=at)).inserted_primary_key[0]
    count, newest, revisions, _ = _census(conn)
    conn.execute(tags.insert().values(standard_attr_id=row, tag=Stamp(
        at, count, newest, revisions).tag()))


# -- reading ------------------------------------------------------------------

@dataclass
class State:
    actual: Actual
    ctx: restore.Context
    #: (subnet id, address) / (network id, MAC) -> the port holding it
    addresses: dict[tuple[str, str], str]
    macs: dict[tuple[str, str], str]
    ours: set[str]                      # ids of every port restore wrote
    vlans: dict[tuple[str, int], str]   # allocated segment -> network id
    flats: dict[str, str]               # physnet -> network id
    defaults: dict[str, str]            # project -> its default group id
    stamp: Stamp | None                 # restore's last write
    stamp_row: int | None               # its standard attribute id


def read(conn: sqlalchemy.Connection, at: datetime.datetime) -> State:
    t = tables()
    sa, tags = t['standardattributes'], t['tags']
    mine = tags.c.tag.like(keys.KEY_TAG + '%')
    keyed = conn.execute(
        select(tags.c.standard_attr_id, tags.c.tag, sa.c.revision_number,
               sa.c.description)
        .join(sa, sa.c.id == tags.c.standard_attr_id).where(mine)).all()
    # Rows unpacked, not read by attribute: several times cheaper a field.
    key_of = {sid: keys.from_tag(tag) for sid, tag, *_ in keyed}
    revisions = {key_of[sid]: revision for sid, _, revision, *_ in keyed}
    described = {sid: description for sid, _, _, description in keyed}
    # The tags besides the mark and key every resource carries: a few
    # (default groups made or adopted, the stamp).
    marks: dict[int, list[str]] = {}
    stamped, stamp_row = None, None
    for sid, tag in conn.execute(
            select(tags.c.standard_attr_id, tags.c.tag).where(
                tags.c.tag.like(keys.MARK + ':%'),
                tags.c.tag.notlike(keys.KEY_TAG + '%'))).all():
        marks.setdefault(sid, []).append(tag)
        if tag.startswith(STAMP_TAG):
            stamped, stamp_row = Stamp.parse(tag), sid

    ids: dict[str, str] = {}
    sids: dict[str, int] = {}
    raw: dict[str, dict] = {}

    def rows(name: str, *columns: str) -> list:
        table = t[name]
        cols = [table.c[c] for c in columns] if columns else [table]
        return conn.execute(select(*cols)).all()

    def own(key_table: list) -> list:
        out = []
        for r in key_table:
            sid = r.standard_attr_id
            key = key_of.get(sid)
            if key:
                ids[key], sids[key] = r.id, sid
                raw[key] = {'id': r.id}
                out.append((key, r))
        return out

    networks = own(rows('networks'))
    subnets = own(rows('subnets'))
    groups = own(rows('securitygroups'))
    ports_all = rows('ports', 'id', 'standard_attr_id', 'network_id',
                     'mac_address', 'device_id', 'device_owner',
                     'project_id')
    ports = own(ports_all)
    routers = own(rows('routers'))
    fips = own(rows('floatingips'))
    by_id = {id: key for key, id in ids.items()}

    refs: dict[str, Ref] = {}

    def ref(id: str | None) -> Ref | None:
        """One Ref per id: 100k ports share a few networks and groups."""
        if id is None:
            return None
        found = refs.get(id)
        if found is None:
            found = refs[id] = Ref(by_id.get(id) or keys.foreign(id))
        return found

    items: dict[str, dict[str, dict]] = {kind: {} for kind in KINDS}
    segments = {r.network_id: r for r in rows('networksegments')
                if r.segment_index == 0}
    rbacs = {(r.object_id, r.action) for r in rows('networkrbacs')
             if r.target_project == '*'}
    external = {r.network_id for r in rows('externalnetworks')}
    for key, r in networks:
        seg = segments.get(r.id)
        items['network'][key] = {
            'name': r.name, 'project_id': r.project_id,
            'shared': (r.id, 'access_as_shared') in rbacs,
            'router:external': r.id in external, 'mtu': r.mtu,
            'provider:network_type': seg and seg.network_type,
            'provider:physical_network': seg and seg.physical_network,
            'provider:segmentation_id': seg and seg.segmentation_id}
    dns: dict[str, list] = {}
    for r in sorted(rows('dnsnameservers'), key=lambda r: r.order):
        dns.setdefault(r.subnet_id, []).append(r.address)
    pools: dict[str, list] = {}
    for r in rows('ipallocationpools'):
        pools.setdefault(r.subnet_id, []).append((r.first_ip, r.last_ip))
    for key, r in subnets:
        items['subnet'][key] = {
            'name': r.name, 'project_id': r.project_id,
            'ip_version': r.ip_version, 'cidr': r.cidr,
            'gateway_ip': r.gateway_ip, 'enable_dhcp': r.enable_dhcp,
            'ipv6_address_mode': r.ipv6_address_mode,
            'ipv6_ra_mode': r.ipv6_ra_mode, 'network_id': ref(r.network_id),
            'dns_nameservers': tuple(dns.get(r.id, ())),
            'allocation_pools': tuple(sorted(
                pools.get(r.id, ()), key=lambda p: int(
                    ipaddress.ip_address(p[0]))))}
    for key, r in groups:
        items['security_group'][key] = {
            'name': r.name, 'description': described.get(r.standard_attr_id),
            'project_id': r.project_id}
        raw[key].update(name=r.name, tags=[
            *keys.tags(key), *marks.get(r.standard_attr_id, ())])
    group_keys = {r.id: key for key, r in groups}
    # Projects' default groups the translation does not track yet, as the
    # API shows them (with their rules): ``diff`` adopts them.
    defaults = {r.security_group_id: r.project_id
                for r in rows('default_security_group')}
    untracked = {r.id: {
        'id': r.id, 'project_id': r.project_id, 'name': r.name,
        'description': None, 'tags': [], 'security_group_rules': [],
        'standard_attr_id': r.standard_attr_id}
        for r in rows('securitygroups')
        if r.id in defaults and r.id not in group_keys}
    by_sid = {g['standard_attr_id']: g for g in untracked.values()}
    for chunk in _chunks(by_sid):
        for sid, revision in conn.execute(select(
                sa.c.id, sa.c.revision_number).where(sa.c.id.in_(chunk))):
            by_sid[sid]['revision_number'] = revision
    rule_t = t['securitygrouprules']
    for r in conn.execute(select(rule_t, sa.c.description).join(
            sa, sa.c.id == rule_t.c.standard_attr_id)):
        gkey = group_keys.get(r.security_group_id)
        if gkey is None:
            if r.security_group_id in untracked:
                untracked[r.security_group_id]['security_group_rules'].append(
                    {f: getattr(r, f) for f in (*rules.FIELDS, 'id',
                                                'description')})
            continue
        body = {f: getattr(r, f) for f in rules.FIELDS}
        body['security_group_id'] = Ref(gkey)
        body['remote_group_id'] = ref(r.remote_group_id)
        rkey = keys.rule(body)
        items['rule'][rkey] = body
        ids[rkey] = r.id
        raw[rkey] = {'id': r.id, 'description': r.description}

    # Per port: its (subnet ref, address) pairs and its groups' ids; the
    # loops below are most of a 100k-port read, so kept lean.
    fixed: dict[str, list] = {}
    addresses: dict[tuple[str, str], str] = {}
    taken_ips: dict[str, set[str]] = {}
    for port_id, ip, subnet_id in rows('ipallocations', 'port_id',
                                       'ip_address', 'subnet_id'):
        pair = (ref(subnet_id), ip)
        held = fixed.get(port_id)
        if held is None:
            fixed[port_id] = [pair]
        else:
            held.append(pair)
        addresses[subnet_id, ip] = port_id
        taken = taken_ips.get(subnet_id)
        if taken is None:
            taken = taken_ips[subnet_id] = set()
        taken.add(ip)
    bound: dict[str, list] = {}
    for port_id, group_id in rows('securitygroupportbindings', 'port_id',
                                  'security_group_id'):
        held = bound.get(port_id)
        if held is None:
            bound[port_id] = [group_id]
        else:
            held.append(group_id)
    hosts = dict(rows('ml2_port_bindings', 'port_id', 'host'))
    router_ids = {r.id: key for key, r in routers}
    port_groups: dict[tuple, frozenset] = {(): frozenset()}
    for key, (port_id, _, network_id, mac, device_id, owner,
              project_id) in ports:
        groups = tuple(sorted(bound.get(port_id, ())))
        refs_of = port_groups.get(groups)
        if refs_of is None:   # ports share a handful of combinations
            refs_of = port_groups[groups] = frozenset(map(ref, groups))
        items['port'][key] = {
            'project_id': project_id, 'device_id': device_id,
            'device_owner': owner, 'binding:host_id': hosts.get(port_id, ''),
            'mac_address': mac.lower(), 'network_id': ref(network_id),
            'fixed_ips': frozenset(fixed.get(port_id, ())),
            'security_groups': refs_of}
    ours = {r.id for _, r in ports}
    for port_id, _, _, _, device_id, owner, _ in ports_all:
        router = router_ids.get(device_id)
        if router and owner == restore.ROUTER_IF:
            for subnet_ref, _ in fixed.get(port_id, ()):
                subnet = subnet_ref.key
                if keys.foreign_id(subnet) is None:
                    rkey = keys.router_interface(router, subnet)
                    items['router_interface'][rkey] = {
                        'router': Ref(router), 'subnet': Ref(subnet)}
                    ids.setdefault(rkey, port_id)
                    ours.add(port_id)
    port_network = {port_id: network_id
                    for port_id, _, network_id, *_ in ports_all}
    gw_ports = {}
    for key, r in routers:
        gw_ports[key] = r.gw_port_id
        ours.add(r.gw_port_id)
        items['router'][key] = {
            'name': r.name, 'project_id': r.project_id,
            'external_network': ref(port_network.get(r.gw_port_id))}
    fip_ports = {}
    for key, r in fips:
        fip_ports[key] = r.floating_port_id
        ours.add(r.floating_port_id)
        items['floatingip'][key] = {
            'floating_ip_address': r.floating_ip_address,
            'project_id': r.project_id,
            'fixed_ip_address': r.fixed_ip_address,
            'floating_network_id': ref(r.floating_network_id),
            'port_id': ref(r.fixed_port_id)}

    bodies = {key: body for kind in items.values()
              for key, body in kind.items()}
    macs = {(network_id, mac.lower()): port_id
            for port_id, _, network_id, mac, *_ in ports_all}
    taken_macs: dict[str, set[str]] = {}
    for network_id, mac in macs:
        taken_macs.setdefault(network_id, set()).add(mac)
    next_sid = (conn.execute(select(sqlalchemy.func.max(sa.c.id))).scalar()
                or 0) + 1
    ctx = restore.Context(
        now=at, next_sid=next_sid, ids=dict(ids), bodies=bodies,
        ipam_ids={r.neutron_subnet_id: r.id for r in rows('ipamsubnets')},
        taken_ips=taken_ips, taken_macs=taken_macs, revisions=revisions,
        sids=sids, gw_ports=gw_ports, fip_ports=fip_ports, raw=raw)
    vlans = {(r.physical_network, r.segmentation_id): r.network_id
             for r in segments.values() if r.network_type == 'vlan'}
    allocated = rows('ml2_vlan_allocations')
    for r in allocated:
        if r.allocated:
            vlans.setdefault((r.physical_network, r.vlan_id), '?')
    flats = {r.physical_network: r.network_id for r in segments.values()
             if r.network_type == 'flat'}
    actual = Actual(items, ids, raw, set(),
                    {g['project_id']: g for g in untracked.values()})
    return State(actual, ctx, addresses, macs, ours, vlans, flats,
                 {project: id for id, project in defaults.items()},
                 stamped, stamp_row)


def check_conflicts(state: State, changes: Changes,
                    writes: restore.Writes) -> None:
    """An address, MAC, segment or default group the run needs, held by
    something the translation did not create: Refused."""
    gone = {v for _, table, col, v in writes.deletes
            if table == 'ports' and col == 'id'}
    ours = state.ours | gone

    def holder(found: str | None, port_id: str) -> bool:
        return found is not None and found != port_id and found not in ours
    owners = {}
    for table in ('ipallocations', 'ports'):
        for row, key in zip(writes.inserts.get(table, ()),
                            writes.owners.get(table, ())):
            owners[row.get('port_id', row.get('id'))] = key
    # MACs first: on a SLAAC network a taken MAC takes its address too.
    for what, held, wanted in (('MAC', state.macs, writes.macs),
                               ('address', state.addresses, writes.addresses)):
        for where, value, port_id in wanted:
            found = held.get((where, value))
            if holder(found, port_id):
                raise Refused(f'{owners.get(port_id, port_id)}: {what} '
                              f'{value} is taken by port {found}, which the '
                              f'translation did not create')
    ours_nets = {state.ctx.ids[k] for k in state.actual.items['network']}
    gone_groups = {c.key for c in changes
                   if c.kind == 'security_group' and c.op == 'delete'}
    for c in changes:
        if c.kind == 'network' and c.op in ('create', 'replace'):
            body, net = c.want, restore.new_id(
                restore.Resource(c.kind, c.key, c.want))
            physnet = body['provider:physical_network']
            if body['provider:network_type'] == 'vlan':
                found = state.vlans.get((physnet,
                                         body['provider:segmentation_id']))
                what = f'VLAN {body["provider:segmentation_id"]} on {physnet}'
            else:
                found, what = state.flats.get(physnet), f'flat {physnet}'
            if found and found != net and found not in ours_nets:
                raise Refused(f'{c.key}: {what} is taken by network {found}, '
                              f'which the translation did not create')
        if (c.kind == 'security_group' and c.op == 'create'
                and c.want['name'] == 'default'
                and c.want['project_id'] in state.defaults):
            # Not adopted: the translation holds it under another key,
            # which goes in this run only if the translation made it.
            group = state.defaults[c.want['project_id']]
            holder = next((k for k in state.actual.items['security_group']
                           if state.ctx.ids.get(k) == group), None)
            if holder in gone_groups and keys.CREATED_DEFAULT in (
                    state.actual.raw[holder].get('tags', ())):
                continue
            raise Refused(
                f'{c.key}: project {c.want["project_id"]} already has a '
                f'default security group ({group}), which the translation '
                f'holds as {holder}')


def _adopt(state: State, changes: Changes) -> None:
    """The default groups the changes adopt, with their rules, known to
    restore from now on as the translation's."""
    if not changes.adopted:
        return
    seen = state.actual.adopting(changes.adopted)
    ctx = state.ctx
    for key, group in changes.adopted.items():
        ctx.sids[key] = group['standard_attr_id']
        ctx.revisions[key] = group['revision_number']
        ctx.bodies[key] = seen.items['security_group'][key]
    for key in seen.ids.keys() - ctx.ids.keys():
        ctx.ids[key], ctx.raw[key] = seen.ids[key], seen.raw[key]


# -- one run -------------------------------------------------------------------

@dataclass
class Outcome:
    changes: Changes
    writes: restore.Writes
    refusal: str | None = None     # why writing it would be refused


@gc_paused()
def run(url: str, wanted: Desired, force: bool = False, write_it: bool = True
        ) -> Outcome:
    """Converge the database onto ``wanted`` in one transaction (or, with
    ``write_it`` false, only say what that would write, and why it would
    be refused). Raises Refused or Failed with nothing written."""
    eng = engine(url)
    try:
        with eng.begin() as conn:
            check_heads(conn)
            at = now()
            state = read(conn, at)
            if write_it and not force:
                check_idle(conn, state.stamp, at)
            changes = diff(wanted, state.actual)
            _adopt(state, changes)
            writes = restore.build(changes.items, state.ctx)
            outcome = Outcome(changes, writes)
            try:
                check_conflicts(state, changes, writes)
            except Refused as exc:
                if write_it:
                    raise
                outcome.refusal = str(exc)
            if not write_it:
                conn.rollback()
            elif writes:   # no change: nothing written, not even the stamp
                write(conn, writes)
                stamp(conn, state.stamp_row, at,
                      keep=bool(len(wanted)) or bool(writes.updates))
    finally:
        eng.dispose()
    return outcome


# -- writing ---------------------------------------------------------------

class _Writer:
    def __init__(self, conn: sqlalchemy.Connection) -> None:
        self.conn = conn
        self.t = tables()

    def run(self, writes: restore.Writes) -> None:
        for table, where, values in writes.detaches:
            self._update(table, [(where, values)], 'detach')
        for (table, column), values in _grouped(writes.deletes):
            self._delete(table, column, values)
        for physnet, vlan, allocated in writes.vlans:
            self._vlan(physnet, vlan, allocated)
        for table in restore.TABLES:
            if writes.inserts.get(table):
                self._insert(table, writes.inserts[table],
                             writes.owners[table])
        by: dict[tuple, list] = {}
        for table, where, values, key in writes.updates:
            by.setdefault((table, tuple(where), tuple(values)), []).append(
                (where, values, key))
        for (table, _, _), group in by.items():
            self._update(table, [(w, v) for w, v, _ in group],
                         group[0][2])
        if self.conn.dialect.name == 'postgresql' and writes.inserts.get(
                'standardattributes'):
            # Rows inserted with their ids: Neutron's next insert must not
            # draw one of them from the sequence.
            self.conn.execute(sqlalchemy.text(
                "SELECT setval(pg_get_serial_sequence('standardattributes', "
                "'id'), (SELECT max(id) FROM standardattributes))"))

    def _insert(self, table: str, rows: list[dict], owners: list[str]
                ) -> None:
        """All rows at once; when the database rejects them, one by one in
        savepoints to name the resource whose row it rejected."""
        t = self.t[table]
        try:
            with self.conn.begin_nested():
                for i in range(0, len(rows), 10 * CHUNK):
                    self.conn.execute(t.insert(), rows[i:i + 10 * CHUNK])
        except sqlalchemy.exc.DBAPIError as exc:
            for row, key in zip(rows, owners):
                try:
                    with self.conn.begin_nested():
                        self.conn.execute(t.insert(), [row])
                except sqlalchemy.exc.DBAPIError as one:
                    raise Failed(f'{key}: {table}: {_reason(one)}') from None
            raise Failed(f'{table}: {_reason(exc)}') from None

    def _delete(self, table: str, column: Any, values: list) -> None:
        """The rows, their standard attributes (and so their tags), and
        those of the rows the database's cascades take with them."""
        t = self.t[table]
        if isinstance(column, tuple):
            for chunk in _chunks(values):
                self.conn.execute(t.delete().where(sqlalchemy.or_(*(
                    and_(*(t.c[c] == v for c, v in zip(column, vs)))
                    for vs in chunk))))
            return
        with self._indexed_children(table):
            sids = self._delete_rows(t, column, values)
        sa = self.t['standardattributes']
        for chunk in _chunks(sids):
            self.conn.execute(sa.delete().where(sa.c.id.in_(chunk)))

    def _delete_rows(self, t: sqlalchemy.Table, column: str, values: list
                     ) -> list:
        sids = []
        table = t.name
        for chunk in _chunks(values):
            where = t.c[column].in_(chunk)
            if 'standard_attr_id' in t.c:
                sids += self.conn.execute(
                    select(t.c.standard_attr_id).where(where)).scalars()
            for child, fk in self._cascading(table):
                parent = fk.column
                parents = (chunk if parent.name == column else
                           list(self.conn.execute(select(parent).where(where))
                                .scalars()))
                if parents:
                    sids += self.conn.execute(
                        select(child.c.standard_attr_id)
                        .where(fk.parent.in_(parents))).scalars()
            self.conn.execute(t.delete().where(where))
        return sids

    @contextlib.contextmanager
    def _indexed_children(self, table: str) -> Iterator[None]:
        """PostgreSQL does not index foreign keys, and Neutron's models
        leave some unindexed (ipallocations.port_id): each deleted row's
        cascade would scan the whole child table (250 ports of 100k: 1.6 s).
        An index for the run, dropped again in the same transaction."""
        if self.conn.dialect.name != 'postgresql':
            yield
            return
        made = []
        for child in self.t.values():
            for fk in child.foreign_keys:
                col = fk.parent
                if (fk.column.table.name == table
                        and (fk.ondelete or '').upper() == 'CASCADE'
                        and not _leads_an_index(child, col)):
                    name = f'restore_tmp_{child.name}_{col.name}'[:63]
                    self.conn.exec_driver_sql(
                        f'CREATE INDEX {name} ON {child.name} ({col.name})')
                    made.append(name)
        yield
        for name in made:
            self.conn.exec_driver_sql(f'DROP INDEX {name}')

    @functools.cache
    def _cascading(self, table: str) -> list:
        """Tables with standard attributes whose rows a delete from
        ``table`` cascades to (a network's segments, a group's rules)."""
        return [(child, fk) for child in self.t.values()
                if 'standard_attr_id' in child.c and child.name != table
                for fk in child.foreign_keys
                if fk.column.table.name == table
                and (fk.ondelete or '').upper() == 'CASCADE']

    def _update(self, table: str, items: list[tuple[dict, dict]],
                key: str) -> None:
        t = self.t[table]
        where, values = items[0]
        stmt = t.update().where(*(t.c[c] == sqlalchemy.bindparam('w_' + c)
                                  for c in where)).values(
            {c: sqlalchemy.bindparam('v_' + c) for c in values})
        params = [{**{'w_' + c: v for c, v in w.items()},
                   **{'v_' + c: v for c, v in vals.items()}}
                  for w, vals in items]
        try:
            with self.conn.begin_nested():
                self.conn.execute(stmt, params)
        except sqlalchemy.exc.DBAPIError as exc:
            raise Failed(f'{key}: {table}: {_reason(exc)}') from None

    def _vlan(self, physnet: str, vlan: int, allocated: bool) -> None:
        """ML2's VLAN allocation: the row Neutron's startup sync made for
        every VLAN of its ranges, or a new one."""
        t = self.t['ml2_vlan_allocations']
        where = and_(t.c.physical_network == physnet, t.c.vlan_id == vlan)
        done = self.conn.execute(t.update().where(where).values(
            allocated=allocated)).rowcount
        if not done and allocated:
            self.conn.execute(t.insert().values(
                physical_network=physnet, vlan_id=vlan, allocated=True))


def write(conn: sqlalchemy.Connection, writes: restore.Writes) -> None:
    _Writer(conn).run(writes)


def _grouped(deletes: list) -> list[tuple[tuple[str, Any], list]]:
    """Deletes by phase, then table, in the order they came."""
    out: dict[tuple, list] = {}
    for phase, table, column, value in sorted(deletes, key=lambda d: d[0]):
        out.setdefault((phase, table, column), []).append(value)
    return [((table, column), values)
            for (_, table, column), values in out.items()]


def _leads_an_index(table: sqlalchemy.Table, column: Any) -> bool:
    """An index, primary key or unique constraint starts with it."""
    firsts = [list(i.columns)[:1] for i in table.indexes] + [
        list(c.columns)[:1] for c in table.constraints
        if isinstance(c, (sqlalchemy.PrimaryKeyConstraint,
                          sqlalchemy.UniqueConstraint))]
    return any(first and first[0] is column for first in firsts)


def _chunks(values: Iterable) -> Iterable[list]:
    values = list(dict.fromkeys(values))
    for i in range(0, len(values), CHUNK):
        yield values[i:i + CHUNK]


def _reason(exc: sqlalchemy.exc.DBAPIError) -> str:
    return str(exc.orig).strip().splitlines()[0]
