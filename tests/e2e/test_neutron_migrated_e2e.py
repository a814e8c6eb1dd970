"""The translation against Neutron's database as an operator has it,
migrated by the real ``neutron-db-manage``, not created from Neutron's
models and stamped (sqlite, where the migrations cannot run).

MySQL (MariaDB, tools/localmysql.py): through the API, ``apply``, then
``verify`` clean and a second ``plan`` empty; straight into the database,
``restore`` into a second migrated database (again: no change;
``rollback``: every table as migrated), then a real Neutron 29 started on
it, ``verify`` clean. PostgreSQL: Neutron 29 runs all its migrations there
but one written in MySQL's SQL only (recorded here, so that the day it runs
the workaround goes); test_restore_e2e restores into such a database.
"""

import pytest
import sqlalchemy
import yaml

from tools.novanet import generate
from freeze.translate import keys, neutrondb
from freeze.translate.neutron import Neutron
from tests.e2e.test_restore_e2e import ADMIN, rows, run
from tools.localneutron import (
    MYSQL_ONLY, LocalNeutron, manage, migrate, revision_before)


def migrated(mysql, name, work):
    """A new database on the MariaDB server, at Neutron's heads by its own
    migrations."""
    url = mysql.create_database(name)
    assert migrate(url, str(work / f'{name}-db-manage.log')) == []
    return url


@pytest.fixture(scope='module')
def nova(tmp_path_factory):
    """A generated FlatDHCP multi_host nova-network (IPv6, floating IPs,
    group rules, dangling rows)."""
    work = tmp_path_factory.mktemp('nova-mysql')
    return generate.generate(f'sqlite:///{work}/nova.sqlite', ports=24), work


def write_config(gen, work, name, neutron_url):
    conf = work / f'{name}.yaml'
    conf.write_text(yaml.safe_dump({**generate.settings(gen, ADMIN),
                                    'neutron_url': neutron_url}))
    return str(conf)


def test_apply_on_a_migrated_database_converges(
        mysql, nova, capsys):
    gen, work = nova
    url = migrated(mysql, 'neutron_apply', work)
    with LocalNeutron(str(work / 'apply'), database=url,
                      migrated=True) as server:
        neutron = Neutron.noauth(server.url)
        # The migration's templates: two ingress from the group, two egress.
        assert sorted((t['direction'], t['ethertype'])
                      for t in neutron.list('default-security-group-rules')
                      ) == sorted((d, e) for d in ('egress', 'ingress')
                                  for e in ('IPv4', 'IPv6'))
        conf = write_config(gen, work, 'apply', server.url)
        rc, out = run(capsys, 'apply', '--config', conf, '--no-progress')
        assert rc == 0, out
        rc, out = run(capsys, 'verify', '--config', conf)
        assert rc == 0, out
        rc, out = run(capsys, 'plan', '--config', conf)
        assert rc == 0 and 'no change' in out, out


def test_restore_into_a_migrated_database_then_neutron_serves_it(
        mysql, nova, capsys):
    gen, work = nova
    url = migrated(mysql, 'neutron_restore', work)
    server = LocalNeutron(str(work / 'restore'), database=url, migrated=True)
    conf = write_config(gen, work, 'restore', server.url)
    db = ['--config', conf, '--neutron-db', url]
    migrated_only = rows(url)
    rc, out = run(capsys, 'restore', *db)
    assert rc == 0 and 'in one transaction' in out, out
    rc, out = run(capsys, 'restore', *db)
    assert rc == 0 and 'no change' in out, out
    # MySQL's cascades take exactly what restore wrote: every table as the
    # migrations left it.
    rc, out = run(capsys, 'rollback', *db)
    assert rc == 0, out
    assert rows(url) == migrated_only
    rc, out = run(capsys, 'restore', *db)
    assert rc == 0, out
    with server:
        rc, out = run(capsys, 'verify', '--config', conf)
        assert rc == 0, out
        rc, out = run(capsys, 'plan', '--config', conf)
        assert rc == 0 and 'no change' in out, out
        # Neutron allocates from the restored IPAM rows: a fresh address.
        neutron = Neutron.noauth(server.url)
        taken = {ip['ip_address'] for p in neutron.list('ports')
                 for ip in p['fixed_ips']}
        subnet = next(s for s in neutron.list('subnets', tags=keys.MARK)
                      if s['ip_version'] == 4)
        port = neutron.create('ports', {
            'network_id': subnet['network_id'], 'project_id': ADMIN,
            'fixed_ips': [{'subnet_id': subnet['id']}]})
        assert port['fixed_ips'][0]['ip_address'] not in taken


def test_postgresql_runs_all_but_the_mysql_only_migrations(
        postgres, tmp_path):
    """Each of ``MYSQL_ONLY`` fails on PostgreSQL, as it is; ``migrate()``
    stamps it instead and runs every other migration to Neutron's heads."""
    url = postgres.create_database('neutron_migrations')
    log = str(tmp_path / 'neutron-db-manage.log')
    for revision in MYSQL_ONLY:
        manage(url, log, 'upgrade', revision_before(revision))
        with pytest.raises(RuntimeError) as failed:
            manage(url, log, 'upgrade', revision)
        assert 'syntax error at or near "CONVERT"' in str(failed.value)
    assert migrate(url, log) == list(MYSQL_ONLY)
    engine = neutrondb.engine(url)
    with engine.connect() as conn:
        neutrondb.check_heads(conn)   # raises if not at the heads
        templates = conn.execute(sqlalchemy.text(
            'SELECT direction, ethertype FROM securitygroupdefaultrules'))
        assert sorted(templates) == [('egress', 'IPv4'), ('egress', 'IPv6'),
                                     ('ingress', 'IPv4'), ('ingress', 'IPv6')]
    engine.dispose()
