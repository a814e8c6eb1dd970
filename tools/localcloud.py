"""A real Keystone and nova-api on loopback, for the e2e tests and the demo.

The freeze filter only means something inside nova's real paste pipeline,
behind keystonemiddleware's token validation, so the e2e tests run against
the real services (gunicorn, sqlite, fernet tokens) rather than mocks.

Standalone, ``python -m tools.localcloud`` starts a cloud in a temp dir,
prints its URLs and the admin OS_* environment, and runs until Ctrl-C.
"""

from __future__ import annotations

import argparse
import atexit
import configparser
import grp
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from email.message import Message
from typing import Any, NamedTuple

from freeze.window import DEFAULT_DOMAIN

BIN = os.path.dirname(sys.executable)
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REGION = 'RegionOne'
READY_TIMEOUT = 60.0

#: name: (password, project, roles). 'nova' is nova's own authtoken user;
#: 'admin' is the keystone-manage bootstrap user.
USERS = {
    'admin': ('admin-secret', 'admin', ['admin']),
    'demo-member': ('demo-member-secret', 'demo', ['member', 'reader']),
    'demo-migration': ('demo-migration-secret', 'demo',
                       ['member', 'reader', 'migration']),
    'neutron': ('neutron-secret', 'service', ['service']),
    'nova': ('nova-secret', 'service', ['admin', 'service']),
}


class Reply(NamedTuple):
    status: int
    headers: Message
    body: Any  # parsed JSON; None when empty or not JSON


def call(method: str, url: str, body: Any = None, token: str | None = None,
         headers: dict[str, str] | None = None) -> Reply:
    """One JSON HTTP call; error statuses are returned, not raised, because
    the tests assert on them."""
    request = urllib.request.Request(
        url, method=method,
        data=None if body is None else json.dumps(body).encode())
    request.add_header('Accept', 'application/json')
    if body is not None:
        request.add_header('Content-Type', 'application/json')
    if token:
        request.add_header('X-Auth-Token', token)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        response = urllib.request.urlopen(request, timeout=30)
    except urllib.error.HTTPError as error:
        response = error
    with response:
        raw = response.read()
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = None
    return Reply(response.status, response.headers, parsed)


class ApiProcess:
    """One gunicorn master and its workers serving one app from its own dir
    (config, log); a process group of its own, so stop() reaches them all."""

    def __init__(self, name: str, app: str, config_dir_var: str,
                 workdir: str, workers: int = 1, threads: int = 4):
        self.name = name
        self.dir = os.path.join(workdir, name)
        self.log_path = os.path.join(self.dir, f'{name}.log')
        self.url = f'http://127.0.0.1:{free_port()}'
        self._app = app
        self._config_dir_var = config_dir_var
        self._workers = workers
        self._threads = threads
        self._ready_dir = os.path.join(self.dir, 'ready')
        self._proc: subprocess.Popen | None = None
        os.makedirs(self._ready_dir)

    def start(self, timeout: float = READY_TIMEOUT) -> None:
        env = dict(os.environ, LOCALCLOUD_READY_DIR=self._ready_dir,
                   **{self._config_dir_var: self.dir})
        argv = [sys.executable, '-m', 'gunicorn',
                '--bind', self.url.removeprefix('http://'),
                '--workers', str(self._workers),
                '--threads', str(self._threads),
                # App loading alone takes seconds on a busy 2-core machine.
                '--timeout', '120', '--graceful-timeout', '5',
                # The repo: the shim (tools.localcloud_wsgi) and the filters
                # the paste file names (freeze.middleware), installed or not.
                '--pythonpath', REPO,
                '--access-logfile', '-',
                # Else every gunicorn shares ~/.gunicorn/gunicorn.ctl.
                '--no-control-socket',
                f'tools.localcloud_wsgi:{self._app}()']
        self.spawn(argv, env, timeout)

    def spawn(self, argv: list[str], env: dict[str, str],
              timeout: float) -> None:
        """Run the server in its own process group, logging to its dir,
        and wait until it is ready (or stop it)."""
        with open(self.log_path, 'ab') as log:
            self._proc = subprocess.Popen(
                argv, env=env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()  # a half-started server is no use to anyone
            raise

    @property
    def pid(self) -> int | None:
        """The gunicorn master's pid (workers are its children)."""
        return self._proc.pid if self._proc is not None else None

    def _wait_ready(self, timeout: float) -> None:
        """Until every worker has loaded the app and the URL answers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f'{self.name} exited with {self._proc.returncode}'
                    + _tail(self.log_path))
            if (len(os.listdir(self._ready_dir)) >= self._workers
                    and _answers(self.url + '/')):
                return
            time.sleep(0.2)
        raise RuntimeError(f'{self.name} not ready after {timeout:.0f}s'
                           + _tail(self.log_path))

    def terminate(self) -> None:
        """SIGTERM the group without waiting, so several stop at once."""
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGTERM)

    def stop(self) -> None:
        """SIGTERM the group, SIGKILL it if it lingers; idempotent."""
        if self._proc is not None:
            stop_group(self._proc)


class LocalCloud:
    """Keystone plus nova-api(s) sharing one workdir: sqlite databases,
    fernet keys, config dirs, logs. Start it once per test session."""

    def __init__(self, workdir: str, paste_ini: str,
                 nova_conf: dict[str, dict[str, str]] | None = None):
        self.workdir = os.path.abspath(workdir)
        self.paste_ini = paste_ini
        self.nova_conf = nova_conf or {}
        # One request at a time: every password login writes (the user's
        # last_active_at, read then written in one sqlite transaction), and
        # two at once fail one of them ("database is locked": Keystone's
        # 500, nova's 503) where a database server would make it wait.
        self.keystone = ApiProcess('keystone', 'keystone',
                                    'OS_KEYSTONE_CONFIG_DIR', self.workdir,
                                    threads=1)
        self.keystone_url = self.keystone.url + '/v3'
        self._apis = [self.keystone]
        self.nova: ApiProcess | None = None

    @property
    def nova_url(self) -> str:
        return self.nova.url

    def start(self) -> None:
        """Keystone and the nova databases are independent, so they are set
        up in parallel: keystone-manage and nova-manage cost ~4 s a run."""
        atexit.register(self.stop)
        try:
            self.nova = self._nova_api(self.paste_ini, self.nova_conf, 1)
            with ThreadPoolExecutor(1) as pool:
                nova_up = pool.submit(self._start_first_nova)
                self._start_keystone()
                nova_up.result()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every API started, idempotent; each takes ~1 s to exit,
        so they are all signalled before waiting for any."""
        for api in self._apis:
            api.terminate()
        for api in self._apis:
            api.stop()
        atexit.unregister(self.stop)

    def __enter__(self) -> LocalCloud:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start_nova(self, paste_ini: str,
                   nova_conf: dict[str, dict[str, str]] | None = None,
                   workers: int = 1) -> ApiProcess:
        """Another nova-api on the same keystone and databases, e.g. with
        another pipeline or several workers; stop() stops it too."""
        api = self._nova_api(paste_ini, nova_conf or {}, workers)
        api.start()
        return api

    def token(self, user: str) -> str:
        """A fresh project-scoped token: nova rejects system scope."""
        password, project, _ = USERS[user]
        reply = call('POST', f'{self.keystone_url}/auth/tokens', {
            'auth': {
                'identity': {'methods': ['password'], 'password': {'user': {
                    'name': user, 'password': password,
                    'domain': {'name': DEFAULT_DOMAIN}}}},
                'scope': {'project': {'name': project,
                                      'domain': {'name': DEFAULT_DOMAIN}}}}})
        check_reply(reply, f'token for {user}')
        return reply.headers['X-Subject-Token']

    def os_env(self, user: str) -> dict[str, str]:
        """OS_* variables for the openstack CLI or keystoneauth loaders."""
        password, project, _ = USERS[user]
        return {
            'OS_AUTH_URL': self.keystone_url,
            'OS_USERNAME': user,
            'OS_PASSWORD': password,
            'OS_PROJECT_NAME': project,
            'OS_USER_DOMAIN_NAME': DEFAULT_DOMAIN,
            'OS_PROJECT_DOMAIN_NAME': DEFAULT_DOMAIN,
            'OS_REGION_NAME': REGION,
            'OS_IDENTITY_API_VERSION': '3',
        }

    # -- keystone ---------------------------------------------------------

    def _start_keystone(self) -> None:
        conf_dir = self.keystone.dir
        conf = os.path.join(conf_dir, 'keystone.conf')
        write_ini(conf, {
            'database': {'connection': _sqlite(conf_dir, 'keystone')},
            # Every key repository under the workdir, or keystone falls
            # back to /etc/keystone (fernet_setup fills receipts' too).
            'fernet_tokens': {'key_repository': f'{conf_dir}/fernet-keys'},
            'fernet_receipts': {'key_repository': f'{conf_dir}/receipt-keys'},
            'credential': {'key_repository': f'{conf_dir}/credential-keys'},
            # Without these each call costs hundreds of ms; 72 is bcrypt's
            # limit, above it keystone warns at every login.
            'cache': {'enabled': 'true', 'backend': 'dogpile.cache.memory'},
            'identity': {'password_hash_rounds': '4',
                         'max_password_length': '72'},
        })
        owner = ['--keystone-user', pwd.getpwuid(os.getuid()).pw_name,
                 '--keystone-group', grp.getgrgid(os.getgid()).gr_name]
        admin_password, admin_project, (admin_role,) = USERS['admin']
        for command in (['db_sync'], ['fernet_setup', *owner],
                        ['credential_setup', *owner],
                        ['bootstrap',
                         '--bootstrap-username', 'admin',
                         '--bootstrap-password', admin_password,
                         '--bootstrap-project-name', admin_project,
                         '--bootstrap-role-name', admin_role,
                         '--bootstrap-region-id', REGION,
                         '--bootstrap-admin-url', self.keystone_url,
                         '--bootstrap-public-url', self.keystone_url,
                         '--bootstrap-internal-url', self.keystone_url]):
            run_logged([f'{BIN}/keystone-manage', '--config-file', conf, *command],
                 os.path.join(conf_dir, 'keystone-manage.log'))
        self.keystone.start()
        self._register_users_and_nova()

    def _register_users_and_nova(self) -> None:
        token = self.token('admin')

        def admin(method: str, path: str, body: Any = None) -> Any:
            reply = call(method, self.keystone_url + path, body, token)
            return check_reply(reply, f'{method} {path}').body

        def ensure(kind: str, names: set[str], **fields: str) -> dict:
            ids = {x['name']: x['id'] for x in admin('GET', f'/{kind}')[kind]}
            for name in names - ids.keys():
                created = admin('POST', f'/{kind}',
                                {kind[:-1]: {'name': name, **fields}})
                ids[name] = created[kind[:-1]]['id']
            return ids

        roles = ensure('roles', {r for _, _, rs in USERS.values() for r in rs})
        projects = ensure('projects', {p for _, p, _ in USERS.values()},
                          domain_id='default')
        for name, (password, project, user_roles) in USERS.items():
            if name == 'admin':  # keystone-manage bootstrap made it
                continue
            user = admin('POST', '/users', {'user': {
                'name': name, 'password': password, 'domain_id': 'default',
                'default_project_id': projects[project]}})['user']
            for role in user_roles:
                admin('PUT', f'/projects/{projects[project]}/users/'
                             f'{user["id"]}/roles/{roles[role]}')
        compute = admin('POST', '/services', {'service': {
            'name': 'nova', 'type': 'compute'}})['service']
        for interface in ('public', 'internal', 'admin'):
            admin('POST', '/endpoints', {'endpoint': {
                'service_id': compute['id'], 'interface': interface,
                'region_id': REGION, 'url': self.nova_url + '/v2.1'}})

    # -- nova -------------------------------------------------------------

    def _nova_api(self, paste_ini: str, nova_conf: dict, workers: int
                  ) -> ApiProcess:
        """An unstarted nova-api with its config dir written."""
        api = ApiProcess(f'nova-api-{len(self._apis)}', 'nova',
                         'OS_NOVA_CONFIG_DIR', self.workdir, workers)
        self._apis.append(api)
        shutil.copyfile(paste_ini, os.path.join(api.dir, 'api-paste.ini'))
        write_ini(os.path.join(api.dir, 'nova.conf'),
                   merged_ini(self._nova_base_conf(), nova_conf))
        return api

    def _nova_base_conf(self) -> dict[str, dict[str, str]]:
        password, project, _ = USERS['nova']
        return {
            'DEFAULT': {'transport_url': 'fake://'},
            'api': {'auth_strategy': 'keystone'},
            'api_database': {'connection': _sqlite(self.workdir, 'nova_api')},
            'database': {'connection': _sqlite(self.workdir, 'nova')},
            'oslo_concurrency': {'lock_path': f'{self.workdir}/nova-locks'},
            'keystone_authtoken': {
                'www_authenticate_uri': self.keystone_url,
                'auth_url': self.keystone_url,
                'auth_type': 'password',
                'username': 'nova',
                'password': password,
                'project_name': project,
                'user_domain_name': DEFAULT_DOMAIN,
                'project_domain_name': DEFAULT_DOMAIN,
            },
        }

    def _start_first_nova(self) -> None:
        """Create the API, cell0 and cell1 databases, then serve."""
        manage = [f'{BIN}/nova-manage', '--config-file',
                  os.path.join(self.nova.dir, 'nova.conf')]
        cell0 = _sqlite(self.workdir, 'nova_cell0')
        for command in (['api_db', 'sync'],
                        ['cell_v2', 'map_cell0', '--database_connection',
                         cell0],
                        ['cell_v2', 'create_cell', '--name', 'cell1'],
                        ['db', 'sync']):  # cell1 and cell0
            run_logged(manage + command,
                 os.path.join(self.workdir, 'nova-manage.log'))
        self.nova.start()


class LocalDatabase:
    """A throwaway database server's life (tools/localpostgres.py,
    tools/localmysql.py): started in a temp dir of its own as a context
    manager, ready once ``_connect()`` succeeds, stopped by ``stop()``."""

    #: the server's name, for its errors
    server = 'database'
    #: what ``_connect()`` raises while the server is starting
    not_ready: type[Exception] = OSError
    dir: str | None = None
    _proc: subprocess.Popen | None = None

    def _connect(self, *args: Any) -> Any:
        raise NotImplementedError

    @property
    def log_path(self) -> str:
        return os.path.join(self.dir, f'{self.server}.log')

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f'{self.server} exited with '
                                   f'{self._proc.returncode}; see '
                                   f'{self.log_path}')
            try:
                self._connect().close()
                return
            except self.not_ready:
                time.sleep(0.1)
        raise RuntimeError(f'{self.server} not ready after {READY_TIMEOUT}s;'
                           f' see {self.log_path}')

    def start(self) -> None:
        """The server in a temp dir of its own, ready, with ``database``
        created; stopped (its data removed) if any of it fails."""
        self.dir = tempfile.mkdtemp(prefix=f'{type(self).__name__.lower()}-')
        try:
            self._launch()
            self._wait_ready()
            self._prepare()
            self.create_database(self.database)
        except BaseException:
            self.stop()
            raise

    def _launch(self) -> None:
        """Create the server's data under ``dir`` and start it (``_proc``,
        in a process group of its own, logging to ``log_path``)."""
        raise NotImplementedError

    def _prepare(self) -> None:
        """What the ready server needs before databases are made."""

    def create_database(self, name: str) -> str:
        """Another empty database on this server; its URL."""
        raise NotImplementedError

    #: how the server is asked to shut down cleanly
    shutdown_signal = signal.SIGTERM

    def stop(self) -> None:
        """A clean shutdown (``shutdown_signal``, 30 s at most), then what
        is left of its process group killed and its data removed;
        idempotent."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.send_signal(self.shutdown_signal)
                try:
                    self._proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    pass
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._proc.wait()
            self._proc = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def serve_until_stopped(database: LocalDatabase) -> None:
    """Standalone: start, print the URL, run until Ctrl-C or kill."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: sys.exit(0))
    with database as server:
        print(f'database URL: {server.url()}\nCtrl-C to stop', flush=True)
        signal.pause()


def stop_group(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM the process group ``proc`` leads (a server started with
    ``start_new_session``), SIGKILL it if it lingers; idempotent."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def free_port() -> int:
    """A loopback port nobody listens on now (the harness's servers)."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        return call('GET', url).status < 500
    except OSError:  # refused, reset or timed out: not up yet
        return False


def check_reply(reply: Reply, what: str) -> Reply:
    if reply.status >= 400:
        raise RuntimeError(f'{what}: HTTP {reply.status} {reply.body}')
    return reply


def run_logged(argv: list[str], log_path: str) -> None:
    with open(log_path, 'ab') as log:
        log.write(f'$ {" ".join(argv)}\n'.encode())
        log.flush()
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=log,
                              stderr=subprocess.STDOUT)
    if done.returncode:
        raise RuntimeError(f'{" ".join(argv)} exited with '
                           f'{done.returncode}' + _tail(log_path))


def _tail(log_path: str, lines: int = 40) -> str:
    with open(log_path, errors='replace') as log:
        return f'\n--- tail of {log_path} ---\n' + ''.join(
            log.readlines()[-lines:])


def _sqlite(directory: str, name: str) -> str:
    return f'sqlite:///{directory}/{name}.sqlite'


def merged_ini(base: dict, extra: dict) -> dict:
    merged = {section: dict(options) for section, options in base.items()}
    for section, options in extra.items():
        merged.setdefault(section, {}).update(options)
    return merged


def write_ini(path: str, sections: dict[str, dict[str, str]]) -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_dict(sections)
    with open(path, 'w') as out:
        parser.write(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--paste-ini',
                        default=os.path.join(REPO, 'paste', 'api-paste.ini'))
    args = parser.parse_args()
    # Ctrl-C or kill stops the cloud; SIGINT is set explicitly because a
    # shell starting us in the background with & makes Python ignore it.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: sys.exit(0))
    with tempfile.TemporaryDirectory(prefix='localcloud-') as workdir:
        state = os.path.join(workdir, 'freeze-state.json')
        began = time.monotonic()
        with LocalCloud(workdir, args.paste_ini,
                        {'freeze': {'state_url': f'file://{state}'}}) as cloud:
            print(f'started in {time.monotonic() - began:.1f}s; '
                  f'logs under {workdir}')
            print(f'keystone: {cloud.keystone_url}\n'
                  f'nova:     {cloud.nova_url}/v2.1\n'
                  f'freeze state: {state}')
            for name, value in cloud.os_env('admin').items():
                print(f'export {name}={value}')
            print('Ctrl-C to stop', flush=True)
            signal.pause()


if __name__ == '__main__':
    main()
