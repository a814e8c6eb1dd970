"""The generated database read back: live rows, bad data reported."""

import sqlalchemy

from freeze.novanet import model, schema, source
from tools.novanet import generate


def test_generated_flat_database_reads_with_problems_reported(tmp_path):
    gen = generate.generate(f'sqlite:///{tmp_path}/nova.sqlite', ports=20)
    nova = model.build(source.read(gen.url))
    # 20 ports + the dangling set's two healthy-enough instances (one of
    # them without a host); the duplicate MAC twin is left out.
    assert len(nova.ports) == 21
    assert len(nova.networks) == 1  # the soft-deleted one is not live
    text = '\n'.join(map(str, nova.problems))
    for expected in ('already used by VIF', 'is outside 10.0.0.0',
                     'network 9999', 'has no host', 'group 9999',
                     'not a live port address', 'instance'):
        assert expected in text
    net = next(iter(nova.networks.values()))
    assert len(net.host_addresses) == 4  # one DHCP address per host


def test_vlan_database_has_a_network_per_project(tmp_path):
    gen = generate.generate(f'sqlite:///{tmp_path}/nova.sqlite', ports=9,
                            manager='Vlan', dangling=False)
    nova = model.build(source.read(gen.url))
    assert not nova.problems
    owners = {n.project_id for n in nova.networks.values()}
    assert owners == set(gen.projects) | {None}
    assert {p.network.project_id == p.instance.project_id
            for p in nova.ports.values()} == {True}


def test_source_is_read_only(tmp_path):
    gen = generate.generate(f'sqlite:///{tmp_path}/nova.sqlite', ports=2,
                            dangling=False)
    engine = source.engine(gen.url)
    with engine.connect() as conn:
        try:
            conn.execute(sqlalchemy.text('DELETE FROM networks'))
        except sqlalchemy.exc.OperationalError as exc:
            assert 'readonly' in str(exc)
        else:
            raise AssertionError('the source accepted a write')


def test_soft_deleted_rows_reusing_addresses_and_macs_are_not_read(tmp_path):
    gen = generate.generate(f'sqlite:///{tmp_path}/nova.sqlite', ports=6,
                            dangling=False)
    engine = sqlalchemy.create_engine(gen.url)
    with engine.connect() as conn:
        deleted = {t.name: conn.execute(sqlalchemy.select(
            sqlalchemy.func.count()).select_from(t).where(
                t.c.deleted != 0)).scalar() for t in schema.TABLES}
        reused = conn.execute(sqlalchemy.text(
            'SELECT count(*) FROM fixed_ips a JOIN fixed_ips b ON '
            'a.address = b.address AND a.deleted = 0 AND b.deleted != 0 '
            'AND a.instance_uuid IS NOT NULL AND b.instance_uuid IS NOT NULL'
        )).scalar()
    engine.dispose()
    assert all(deleted[t] for t in (
        'networks', 'fixed_ips', 'instances', 'virtual_interfaces',
        'floating_ips', 'security_groups', 'security_group_rules',
        'security_group_instance_association')), deleted
    assert reused == 1
    nova = model.build(source.read(gen.url))
    assert not nova.problems
    assert len(nova.networks) == 1 and len(nova.ports) == 6
