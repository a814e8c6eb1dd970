"""restore's rows against the installed Neutron's own table definitions."""

import datetime

import pytest

from freeze.novanet import generate, model, source
from freeze.translate import config, converge, desired, neutrondb, restore

ADMIN = 'ad' * 16


def build(tmp_path, manager):
    tmp_path.mkdir(exist_ok=True)
    gen = generate.generate(f'sqlite:///{tmp_path}/nova.sqlite', ports=20,
                            manager=manager)
    wanted = restore.canonical(desired.translate(
        model.build(source.read(gen.url)),
        config.parse(generate.settings(gen, ADMIN))))
    empty = converge.Actual({k: {} for k in desired.KINDS}, {}, {}, set(),
                            {})
    plan = converge.diff(wanted, empty)
    ctx = restore.Context(now=datetime.datetime(2026, 12, 1), next_sid=1,
                          ids={}, bodies={}, ipam_ids={}, taken_ips={},
                          taken_macs={})
    return plan, restore.build(plan.changes, ctx)


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
        [c for c in plan.changes if c.kind in (
            'port', 'router_interface', 'router', 'floatingip')])


def test_ids_are_stable_across_runs(tmp_path):
    """A run killed before its commit, run again, writes the same rows."""
    _, first = build(tmp_path / 'a', 'FlatDHCP')
    _, second = build(tmp_path / 'b', 'FlatDHCP')
    for table in ('networks', 'subnets', 'securitygroups',
                  'securitygrouprules', 'routers', 'floatingips'):
        assert [r['id'] for r in first.inserts[table]] == [
            r['id'] for r in second.inserts[table]]


def test_rules_in_neutrons_canonical_form():
    group = desired.Ref('sg:1')
    body = {'security_group_id': group, 'direction': 'ingress',
            'ethertype': 'IPv4', 'protocol': 'tcp', 'port_range_min': 1,
            'port_range_max': 65535, 'remote_ip_prefix': '10.0.0.0/8',
            'remote_group_id': None}
    key = desired.rule_key(body)
    wanted = desired.Desired({**desired.Desired.empty().resources, 'rule': {
        key: desired.Resource('rule', key, body)}}, [])
    (rule,) = restore.canonical(wanted).resources['rule'].values()
    assert (rule.body['port_range_min'], rule.body['port_range_max']) == (
        None, None)
    assert rule.key == desired.rule_key(rule.body) != key
