"""restore's rows against the installed Neutron's own table definitions."""

import datetime

import pytest
import sqlalchemy

from freeze.translate import fromnova, neutrondb, restore, rules
from freeze.translate.changes import diff
from freeze.translate.held import Actual
from freeze.translate.settings import Settings
from tools.novanet import generate

ADMIN = 'ad' * 16


def build(tmp_path, manager):
    tmp_path.mkdir(exist_ok=True)
    gen = generate.generate(f'sqlite:///{tmp_path}/nova.sqlite', ports=20,
                            manager=manager)
    wanted = fromnova.desired(gen.url,
                              Settings.parse(generate.settings(gen, ADMIN)))
    plan = diff(wanted, Actual.empty())
    ctx = restore.Context(now=datetime.datetime(2026, 12, 1), next_sid=1,
                          ids={}, bodies={}, ipam_ids={}, taken_ips={},
                          taken_macs={})
    return plan, restore.build(plan.items, ctx)


@pytest.mark.parametrize('manager', ['FlatDHCP', 'Vlan'])
def test_rows_fit_neutrons_tables(tmp_path, manager):
    """Every column exists; every NOT NULL column without a default is
    given; every foreign key points at a row written earlier (or already
    there); every standard attribute belongs to exactly one row."""
    plan, writes = build(tmp_path, manager)
    tables = neutrondb.tables()
    written: dict[str, set] = {}
    for name in restore.TABLES:
        table = tables[name]
        for row in writes.inserts.get(name, ()):
            assert set(row) <= set(table.c.keys()), (name, row)
            for column in table.c:
                if not column.nullable and column.default is None and (
                        column.server_default is None) and not (
                        column.autoincrement is True):
                    assert row.get(column.name) is not None, (name, column)
            for fk in table.foreign_keys:
                value = row.get(fk.parent.name)
                if value is not None:
                    assert value in written.get(
                        f'{fk.column.table.name}.{fk.column.name}', ()), (
                        name, fk.parent.name, value)
            for column in table.c:
                written.setdefault(f'{name}.{column.name}', set()).add(
                    row.get(column.name))
    sids = [r['standard_attr_id'] for name in restore.TABLES
            if name != 'tags' for r in writes.inserts.get(name, ())
            if 'standard_attr_id' in r]
    assert sorted(sids) == [r['id'] for r in
                            writes.inserts['standardattributes']]
    # a port for each port, router interface, router gateway, floating IP
    assert len(writes.inserts['ports']) == len(
        [c for c in plan.items if c.kind in (
            'port', 'router_interface', 'router', 'floatingip')])


def test_ids_are_stable_across_runs(tmp_path):
    """A run killed before its commit, run again, writes the same rows."""
    _, first = build(tmp_path / 'a', 'FlatDHCP')
    _, second = build(tmp_path / 'b', 'FlatDHCP')
    for table in ('networks', 'subnets', 'securitygroups',
                  'securitygrouprules', 'routers', 'floatingips'):
        assert [r['id'] for r in first.inserts[table]] == [
            r['id'] for r in second.inserts[table]]


def test_rules_are_written_as_neutron_stores_them():
    """The desired rules are already in Neutron's stored form (the full
    port range as none: freeze.translate.rules), so restore writes them
    as they are: Neutron's own canonicalisation changes nothing."""
    from neutron.db import securitygroups_db
    mixin = securitygroups_db.SecurityGroupDbMixin
    body = rules.from_nova('tcp', 1, 65535, 'IPv4')
    assert (body['port_range_min'], body['port_range_max']) == (None, None)
    again = dict(body, project_id=None)   # read by its log lines
    mixin._make_canonical_ipv6_icmp_protocol(None, again)
    mixin._make_canonical_port_range(None, again)
    del again['project_id']
    assert again == body


def test_the_serving_check_sees_any_write_after_restores_own(tmp_path):
    """Restore's stamp (its last commit, recorded in that commit) against
    what the database holds now: a change, a creation or a deletion by
    someone else since is a serving Neutron, whatever second it happened
    in; an old one (beyond the activity window) is not; restore's own
    write is never mistaken for one."""
    eng = neutrondb.engine(f'sqlite:///{tmp_path}/neutron.sqlite')
    sa = neutrondb.tables()['standardattributes']
    sa.metadata.create_all(eng)
    at = datetime.datetime(2026, 12, 1, 8, 0, 0)

    def stamped(conn):
        state = neutrondb.read(conn, at)
        return state.stamp, state.stamp_row

    with eng.begin() as conn:
        for n in range(3):
            conn.execute(sa.insert().values(
                id=n + 1, resource_type='ports', revision_number=0,
                created_at=at, updated_at=at))
        neutrondb.stamp(conn, None, at, keep=True)
        stamp, row = stamped(conn)
        assert (stamp.at, stamp.count, stamp.newest) == (at, 4, 4)
        neutrondb.check_idle(conn, stamp, at)          # its own write
        conn.execute(sa.update().where(sa.c.id == 2).values(
            revision_number=1, updated_at=at))          # the same second
        with pytest.raises(neutrondb.Refused, match=r'changed since restore '
                           r'wrote at 2026-12-01 08:00:00 UTC \(4 -> 4 '
                           r'standard attributes, revisions 0 -> 1\)'):
            neutrondb.check_idle(conn, stamp, at)
        conn.execute(sa.update().where(sa.c.id == 2).values(
            updated_at=at + datetime.timedelta(seconds=1)))
        with pytest.raises(neutrondb.Refused, match=r'ports \(standard '
                           r'attribute 2\) changed at 2026-12-01 08:00:01'):
            neutrondb.check_idle(conn, stamp, at)
        at += datetime.timedelta(seconds=1)
        neutrondb.stamp(conn, row, at, keep=True)      # restore again
        stamp, row = stamped(conn)
        neutrondb.check_idle(conn, stamp, at)
        conn.execute(sa.delete().where(sa.c.id == 3))  # a deletion
        with pytest.raises(neutrondb.Refused, match=r'\(4 -> 3 standard'):
            neutrondb.check_idle(conn, stamp, at)
        later = at + neutrondb.ACTIVITY_WINDOW + datetime.timedelta(
            seconds=1)
        neutrondb.check_idle(conn, stamp, later)       # long ago: stopped
        neutrondb.stamp(conn, row, at, keep=False)     # rolled back
        assert stamped(conn) == (None, None)
        assert conn.execute(sqlalchemy.select(sa.c.id)).scalars().all() == [
            1, 2]
