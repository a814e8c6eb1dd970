"""A throwaway PostgreSQL on loopback, for the translation benchmark.

Debian's ``postgresql`` package provides the server binaries (on the PATH or
under /usr/lib/postgresql/<version>/bin). The cluster lives in a temp dir of
its own, on a free port, with durability off (``fsync``, synchronous commit):
its data is worth nothing after the run, and the benchmark measures Neutron,
not the disk. PostgreSQL refuses to run as root, so as root the server runs
as the ``postgres`` system user the package creates.

Standalone, ``python -m tools.localpostgres`` prints a database URL and runs
until Ctrl-C.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
from contextlib import closing

import psycopg2

from tools.localcloud import LocalDatabase, free_port, serve_until_stopped

SYSTEM_USER = 'postgres'


def _bin_dir() -> str:
    found = shutil.which('postgres')
    if found:
        return os.path.dirname(found)
    versions = sorted(glob.glob('/usr/lib/postgresql/*/bin/postgres'))
    if not versions:
        raise RuntimeError('PostgreSQL is not installed (apt-get install '
                           'postgresql)')
    return os.path.dirname(versions[-1])


class LocalPostgres(LocalDatabase):
    """One cluster, one database; ``stop()`` removes them."""

    server = 'postgres'
    not_ready = psycopg2.OperationalError
    #: a fast shutdown: open sessions are ended, not waited for
    shutdown_signal = signal.SIGINT

    def __init__(self, database: str = 'neutron',
                 max_connections: int = 200):
        self.database = database
        self.max_connections = max_connections
        self.port = free_port()
        self._bin = _bin_dir()
        #: subprocess's user/group arguments: the system user's as root
        self._as = {}
        if os.geteuid() == 0:
            entry = pwd.getpwnam(SYSTEM_USER)
            self._as = {'user': entry.pw_uid, 'group': entry.pw_gid,
                        'extra_groups': []}

    def url(self, driver: str = 'postgresql+psycopg2',
            database: str | None = None) -> str:
        return (f'{driver}://postgres@127.0.0.1:{self.port}/'
                f'{database or self.database}')

    def _launch(self) -> None:
        if self._as:
            os.chown(self.dir, self._as['user'], self._as['group'])
        self._run('initdb', '-D', f'{self.dir}/data', '-U', 'postgres',
                  '-A', 'trust', '-E', 'UTF8', '--locale', 'C', '--no-sync')
        with open(self.log_path, 'ab') as log:
            self._proc = subprocess.Popen(
                [os.path.join(self._bin, 'postgres'),
                 '-D', f'{self.dir}/data', '-h', '127.0.0.1',
                 '-p', str(self.port), '-k', self.dir,
                 '-c', f'max_connections={self.max_connections}',
                 '-c', 'fsync=off', '-c', 'synchronous_commit=off',
                 '-c', 'full_page_writes=off'],
                stdin=subprocess.DEVNULL, stdout=log, **self._as,
                stderr=subprocess.STDOUT, start_new_session=True)

    def create_database(self, name: str) -> str:
        with closing(self._connect()) as conn:
            conn.autocommit = True  # CREATE DATABASE: no transaction
            conn.cursor().execute(f'CREATE DATABASE {name}')
        return self.url(database=name)

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([os.path.join(self._bin, tool), *args],
                       check=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, **self._as)

    def _connect(self, database: str = 'postgres'):
        return psycopg2.connect(host='127.0.0.1', port=self.port,
                                user='postgres', dbname=database)


def main() -> None:
    serve_until_stopped(LocalPostgres())


if __name__ == '__main__':
    main()
