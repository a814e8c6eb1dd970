"""Fixtures shared by unit and e2e tests: a real etcd, PostgreSQL and
MariaDB, once per session; a simulated fleet of hosts."""

import os
import shutil

import pytest

from tools.fleet import Fleet
from tools.localetcd import LocalEtcd


def missing(message):
    """A real service that is not installed: in CI a missing install step
    must show (fail), elsewhere the test is skipped."""
    if os.environ.get('CI'):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def fleet(tmp_path):
    """50 simulated hosts (tools/fleet.py), stopped after the test."""
    made = Fleet(tmp_path / 'fleet', size=50).create()
    yield made
    made.stop()


@pytest.fixture(scope='session')
def etcd(tmp_path_factory):
    """A single-member etcd on loopback (Debian's etcd-server package)."""
    if shutil.which('etcd') is None:
        missing('etcd is not installed (apt-get install etcd-server; '
                '.ci/run does it)')
    with LocalEtcd(str(tmp_path_factory.mktemp('etcd'))) as server:
        yield server


@pytest.fixture(scope='session')
def mysql():
    """A MariaDB server on loopback (Debian's mariadb-server package, not
    its system service): MySQL's dialect for the journal's lease and for a
    Neutron database migrated by neutron-db-manage. Tests add databases of
    their own with ``create_database``."""
    try:
        from tools import localmysql
        localmysql._binary('mariadbd')
    except (ImportError, RuntimeError) as exc:
        missing(f'{exc} (.ci/run installs mariadb-server, make PyMySQL)')
    with localmysql.LocalMySQL(database='scratch') as server:
        yield server


@pytest.fixture(scope='session')
def postgres():
    """A PostgreSQL cluster on loopback (Debian's postgresql package); tests
    add databases of their own with ``create_database``."""
    from tools import localpostgres
    try:
        localpostgres._bin_dir()
    except RuntimeError as exc:
        missing(f'{exc} (.ci/run does it)')
    with localpostgres.LocalPostgres(database='scratch') as server:
        yield server


@pytest.fixture(scope='session')
def docs_tools():
    """Sphinx, MyST and reno: the 'docs' extra (make installs it)."""
    try:
        import myst_parser, reno, sphinx  # noqa: F401
    except ImportError as exc:
        missing(f"{exc} (pip install '.[docs]'; make does it)")
