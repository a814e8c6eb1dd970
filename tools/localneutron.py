"""A real Neutron 29 on loopback, for the translation's e2e tests and benchmark.

Neutron runs as in production (its own WSGI app under gunicorn, ML2 with flat
and vlan provider networks, the router plugin) with what a laptop needs
instead of a cloud: sqlite and one worker (the tests) or PostgreSQL and
several (the benchmark, tools/localpostgres.py), ``noauth`` (every request is
admin, so create bodies carry ``project_id``), a fake message bus, no nova
notifications, no quotas, and a test-only mechanism driver that binds every
port (tools/neutron_bind_all.py).

The schema: on MySQL (tools/localmysql.py: MariaDB) and PostgreSQL
``migrate()`` runs the real ``neutron-db-manage upgrade heads`` (on
PostgreSQL all but the MySQL-only migrations, see ``MYSQL_ONLY``); it fails
on sqlite, so there the tables are created from Neutron's model metadata,
the stock default security group rule templates are inserted by the
migration that seeds them, and the database is stamped.
``LocalNeutron(..., migrated=True)`` takes a database as it is.

Standalone, ``python -m tools.localneutron [--postgres] [--workers N]``
prints the URL and runs until Ctrl-C. As a gunicorn app:
``tools.localneutron:application()``.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import signal
import sys
import tempfile
import time

from tools.localcloud import (
    REPO, ApiProcess, merged_ini, run_logged, write_ini)
from tools.localpostgres import LocalPostgres

#: physnets the ML2 config accepts; the translation config maps onto them.
PHYSNETS = ('physnet1', 'physnet2', 'public')

NEUTRON_DB_MANAGE = os.path.join(os.path.dirname(sys.executable),
                                 'neutron-db-manage')


BIND_ALL_DIST = 'nova_freeze_test_drivers-0.dist-info'


def register_bind_all(workdir: str) -> str:
    """A directory to put on Neutron's path that registers the test-only
    driver (tools/neutron_bind_all.py) as ML2 finds drivers: an entry point
    of a tiny distribution of its own, never of the shipped package."""
    root = os.path.join(workdir, 'test-drivers')
    dist = os.path.join(root, BIND_ALL_DIST)
    os.makedirs(dist, exist_ok=True)
    with open(os.path.join(dist, 'METADATA'), 'w') as f:
        f.write('Metadata-Version: 2.1\nName: nova-freeze-test-drivers\n'
                'Version: 0\n')
    with open(os.path.join(dist, 'entry_points.txt'), 'w') as f:
        f.write('[neutron.ml2.mechanism_drivers]\n'
                'nova_freeze_bind_all = '
                'tools.neutron_bind_all:BindAllDriver\n')
    return root


class LocalNeutron(ApiProcess):
    """neutron-server's API in its own dir (config, sqlite db, log).

    Reuses localcloud's process handling (ready files, process group, stop);
    only the command line differs, since Neutron's app is loaded from here.
    """

    def __init__(self, workdir: str,
                 neutron_conf: dict[str, dict[str, str]] | None = None,
                 database: str | None = None, workers: int = 1,
                 migrated: bool = False):
        """``neutron_conf``: sections/options laid over the defaults of
        neutron.conf (e.g. Keystone authentication instead of noauth).
        ``database``: an SQLAlchemy URL of an empty database (default: a
        sqlite file in the workdir, which only one worker can use), given
        Neutron's schema before the server starts.
        ``workers``: gunicorn sync workers. ``migrated``: the database is
        already at Neutron's heads (``migrate()``): its schema is left
        alone."""
        super().__init__('neutron', 'neutron', 'OS_NEUTRON_CONFIG_DIR',
                         os.path.abspath(workdir), workers)
        self._extra_conf = neutron_conf or {}
        self.database = database or f'sqlite:///{self.dir}/neutron.sqlite'
        self._migrated = migrated
        self.conf_files = [os.path.join(self.dir, 'neutron.conf'),
                           os.path.join(self.dir, 'ml2_conf.ini')]

    def prepare(self) -> None:
        """Write the config and create the schema (at the installed
        Neutron's heads), without starting the server: for filling the
        database first (translate restore)."""
        self._configure()

    def start(self, timeout: float = 120.0) -> None:
        atexit.register(self.stop)
        self._configure()
        env = dict(os.environ, LOCALCLOUD_READY_DIR=self._ready_dir,
                   OS_NEUTRON_CONFIG_DIR=self.dir,
                   OS_NEUTRON_CONFIG_FILES=';'.join(self.conf_files))
        argv = [sys.executable, '-m', 'gunicorn',
                '--bind', self.url.removeprefix('http://'),
                # Bulk requests take long.
                '--workers', str(self._workers), '--timeout', '600',
                '--graceful-timeout', '5', '--pythonpath',
                f'{REPO},{register_bind_all(self.dir)}',
                '--no-control-socket', 'tools.localneutron:application()']
        self.spawn(argv, env, timeout)

    def stop(self) -> None:
        super().stop()
        atexit.unregister(self.stop)

    def __enter__(self) -> LocalNeutron:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _configure(self) -> None:
        write_ini(self.conf_files[0], merged_ini({
            'DEFAULT': {
                'core_plugin': 'ml2', 'service_plugins': 'router',
                'auth_strategy': 'noauth', 'transport_url': 'fake:/',
                'api_paste_config': os.path.join(
                    sys.prefix, 'etc', 'neutron', 'api-paste.ini'),
                'notify_nova_on_port_status_changes': 'false',
                'notify_nova_on_port_data_changes': 'false',
                # No agents: scheduling DHCP per port only logs warnings.
                'dhcp_agent_notification': 'false',
                'log_file': os.path.join(self.dir, 'neutron-server.log'),
                'debug': 'false',
            },
            'database': {'connection': self.database},
            'oslo_concurrency': {'lock_path': f'{self.dir}/locks'},
            'quotas': {f'quota_{name}': '-1' for name in (
                'network', 'subnet', 'port', 'router', 'floatingip',
                'security_group', 'security_group_rule')},
        }, self._extra_conf))
        write_ini(self.conf_files[1], {
            'ml2': {
                'type_drivers': 'flat,vlan', 'tenant_network_types': '',
                'mechanism_drivers': 'nova_freeze_bind_all',
                # Tags in a port POST body are dropped without the second.
                'extension_drivers':
                    'port_security,tag_ports_during_bulk_creation',
            },
            'ml2_type_flat': {'flat_networks': '*'},
            'ml2_type_vlan': {'network_vlan_ranges': ','.join(PHYSNETS)},
        })
        if self._migrated:
            return
        log = os.path.join(self.dir, 'neutron-db-manage.log')
        if self.database.startswith('sqlite'):
            run_logged([sys.executable, '-c', 'import sys\n'
                        'sys.path.insert(0, sys.argv[2])\n'
                        'from tools import localneutron\n'
                        'localneutron.create_schema(sys.argv[1])',
                        self.database, REPO], log)
            manage(self.database, log, 'stamp', 'heads')
        else:
            migrate(self.database, log)
        self._migrated = True   # once: prepare() then start()


#: Neutron's migrations written in MySQL's SQL only, since Neutron 29
#: dropped PostgreSQL (release note drop-postgresql-support). Each makes
#: MySQL do what PostgreSQL already does: d553edeb540f converts the tags
#: table to a binary collation, so that tags compare case-sensitively.
MYSQL_ONLY = ('d553edeb540f',)


def manage(url: str, log: str, *args: str) -> None:
    """``neutron-db-manage`` on ``url``, its output into ``log``."""
    run_logged([NEUTRON_DB_MANAGE, '--database-connection', url, *args], log)


def revision_before(revision: str) -> str:
    """The migration ``revision`` follows, from Neutron's own scripts."""
    from freeze.translate import neutrondb
    return neutrondb.migrations().get_revision(revision).down_revision


def migrate(url: str, log: str) -> list[str]:
    """The installed Neutron's real migrations, as an operator runs them
    (``neutron-db-manage upgrade heads``), their output into ``log``.

    On PostgreSQL the ``MYSQL_ONLY`` ones cannot run: the migrations before
    each run, it is stamped, the rest run. Returns the revisions stamped
    instead of run (none on MySQL)."""
    import sqlalchemy

    stamped = []
    if sqlalchemy.make_url(url).get_backend_name() == 'postgresql':
        stamped = list(MYSQL_ONLY)
    for revision in stamped:
        manage(url, log, 'upgrade', revision_before(revision))
        manage(url, log, 'stamp', revision)
    manage(url, log, 'upgrade', 'heads')
    return stamped


#: the migration that inserts Neutron's stock default-group rule templates
SG_TEMPLATES_MIGRATION = ('2023.2', 'expand',
                          'c33da356b165_security_group_default_rules.py')


def create_schema(url: str) -> None:
    """Neutron's tables from its models, then the stock default security
    group rule templates as a migrated database has them: the migration
    that inserts them runs its own upgrade() (on its table dropped again,
    since it creates it). Without them default groups come up empty and
    new groups without their egress rules."""
    import importlib.util

    import sqlalchemy
    from alembic.migration import MigrationContext
    from alembic.operations import Operations
    from neutron.db.migration import alembic_migrations
    from neutron.db.migration.models import head

    engine = sqlalchemy.create_engine(url)
    metadata = head.get_metadata()
    metadata.create_all(engine)
    spec = importlib.util.spec_from_file_location(
        'sg_templates_migration', os.path.join(
            os.path.dirname(alembic_migrations.__file__), 'versions',
            *SG_TEMPLATES_MIGRATION))
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    with engine.begin() as conn:
        metadata.tables[migration.table_name].drop(conn)
        with Operations.context(MigrationContext.configure(conn)):
            migration.upgrade()
    engine.dispose()


def application():
    """gunicorn factory: Neutron parses sys.argv, which holds gunicorn's."""
    sys.argv = sys.argv[:1]
    from neutron.wsgi.api import application as app
    ready_dir = os.environ.get('LOCALCLOUD_READY_DIR')
    if ready_dir:
        open(os.path.join(ready_dir, str(os.getpid())), 'w').close()
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--postgres', action='store_true',
                        help='on a throwaway PostgreSQL instead of sqlite')
    parser.add_argument('--workers', type=int, default=1,
                        help='gunicorn workers (sqlite: only 1)')
    args = parser.parse_args()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: sys.exit(0))
    with contextlib.ExitStack() as stack:
        workdir = stack.enter_context(
            tempfile.TemporaryDirectory(prefix='localneutron-'))
        db = (stack.enter_context(LocalPostgres()).url() if args.postgres
              else None)
        began = time.monotonic()
        with LocalNeutron(workdir, database=db,
                          workers=args.workers) as neutron:
            print(f'started in {time.monotonic() - began:.1f}s; logs under '
                  f'{neutron.dir}\nneutron: {neutron.url}\nCtrl-C to stop',
                  flush=True)
            signal.pause()


if __name__ == '__main__':
    main()
