"""A throwaway MariaDB on loopback, for the tests that need MySQL's dialect.

Debian's ``mariadb-server`` package provides ``mariadb-install-db`` and
``mariadbd``; the system service is never used. The server's data lives in
a temp dir of its own, on a free port and a socket there, with durability
off (its data is worth nothing after the run). As root it runs as root
(``--user=root``), which mariadbd allows when told to. Its ``root`` account
has no password and may connect over TCP from 127.0.0.1.

Standalone, ``python -m tools.localmysql`` prints a database URL and runs
until Ctrl-C.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from contextlib import closing

import pymysql

from tools.localcloud import LocalDatabase, free_port, serve_until_stopped


def _binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path='/usr/sbin')
    if not found:
        raise RuntimeError('MariaDB is not installed (apt-get install '
                           'mariadb-server)')
    return found


class LocalMySQL(LocalDatabase):
    """One server, one database; ``create_database()`` adds more;
    ``stop()`` removes them all."""

    server = 'mariadb'
    not_ready = pymysql.err.OperationalError

    def __init__(self, database: str = 'neutron'):
        self.database = database
        self.port = free_port()
        self._server = _binary('mariadbd')
        self._install = _binary('mariadb-install-db')
        self._user = pwd.getpwuid(os.geteuid()).pw_name

    def url(self, database: str | None = None,
            driver: str = 'mysql+pymysql') -> str:
        return (f'{driver}://root@127.0.0.1:{self.port}/'
                f'{database or self.database}?charset=utf8mb4')

    def _launch(self) -> None:
        data = os.path.join(self.dir, 'data')
        with open(self.log_path, 'ab') as log:
            subprocess.run(
                [self._install, '--no-defaults', f'--datadir={data}',
                 f'--user={self._user}', '--skip-test-db',
                 '--auth-root-authentication-method=normal'],
                check=True, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT)
            self._proc = subprocess.Popen(
                [self._server, '--no-defaults', f'--datadir={data}',
                 f'--user={self._user}', '--bind-address=127.0.0.1',
                 f'--port={self.port}',
                 f'--socket={self.dir}/mysqld.sock',
                 f'--pid-file={self.dir}/mysqld.pid',
                 '--skip-name-resolve', '--skip-log-bin',
                 '--innodb-flush-log-at-trx-commit=0',
                 '--innodb-doublewrite=0', '--innodb-buffer-pool-size=64M',
                 '--character-set-server=utf8mb4',
                 '--collation-server=utf8mb4_general_ci'],
                stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)

    def _prepare(self) -> None:
        with closing(self._connect()) as conn:
            # root@localhost only: let it in over TCP from loopback too
            conn.cursor().execute(
                "CREATE USER IF NOT EXISTS root@'127.0.0.1'")
            conn.cursor().execute(
                "GRANT ALL ON *.* TO root@'127.0.0.1' WITH GRANT OPTION")

    def create_database(self, name: str) -> str:
        with closing(self._connect()) as conn:
            conn.cursor().execute(f'CREATE DATABASE `{name}`')
        return self.url(name)

    def _connect(self):
        return pymysql.connect(unix_socket=f'{self.dir}/mysqld.sock',
                               user='root', autocommit=True)


def main() -> None:
    serve_until_stopped(LocalMySQL())


if __name__ == '__main__':
    main()
