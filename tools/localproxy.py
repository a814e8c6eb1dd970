"""The read-only Neutron API (``nova-cutover proxy serve``) on loopback, for
the e2e tests, the benchmark and the demo.

It runs exactly as an operator runs it (gunicorn, the paste file in paste/),
with ``noauth`` unless the config overlay says otherwise, on a free port, in
its own process group; ready once every worker has loaded the view.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil
import yaml

from tools.localcloud import (
    REPO, free_port, merged_ini, stop_group, write_ini)

#: what freeze.proxy.loader logs when a worker's view is ready
LOADED = 'nova-network view loaded'


class ProxyServer:
    """``nova-cutover proxy serve`` (noauth) over one nova database, in its
    own process group; ready when every worker has loaded the view."""

    def __init__(self, workdir: str, settings: dict, workers: int = 2,
                 poll_interval: float = 2.0,
                 conf: dict[str, dict[str, str]] | None = None,
                 url: str | None = None):
        """``conf``: sections/options laid over the proxy's config file
        (e.g. ``auth_strategy = keystone`` and ``[keystone_authtoken]``);
        ``url``: where to serve (default: a free port on loopback)."""
        os.makedirs(workdir, exist_ok=True)
        self.workers = workers
        self.log_path = os.path.join(workdir, 'proxy.log')
        settings_file = os.path.join(workdir, 'translate.yaml')
        with open(settings_file, 'w') as f:
            yaml.safe_dump(settings, f)
        self.config = os.path.join(workdir, 'proxy.conf')
        write_ini(self.config, merged_ini({'proxy': {
            'settings': settings_file, 'auth_strategy': 'noauth',
            'poll_interval': str(poll_interval)}}, conf or {}))
        self.url = url or f'http://127.0.0.1:{free_port()}'
        self._proc: subprocess.Popen | None = None

    def start(self, timeout: float = 120.0) -> ProxyServer:
        argv = [os.path.join(os.path.dirname(sys.executable), 'nova-cutover'),
                'proxy', 'serve', '--config', self.config,
                '--paste', os.path.join(REPO, 'paste', 'neutron-proxy.ini'),
                '--bind', self.url.removeprefix('http://'),
                '--workers', str(self.workers)]
        with open(self.log_path, 'ab') as log:
            self._proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while self._loaded() < self.workers:
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f'proxy not ready; see {self.log_path}')
            time.sleep(0.1)
        return self

    @property
    def pid(self) -> int | None:
        """The master's pid, its process group's id."""
        return self._proc.pid if self._proc is not None else None

    def worker_rss(self) -> list[int]:
        """Resident memory of each worker, bytes."""
        return [c.memory_info().rss
                for c in psutil.Process(self._proc.pid).children()]

    def _loaded(self) -> int:
        with open(self.log_path, errors='replace') as f:
            return f.read().count(LOADED)

    def stop(self) -> None:
        if self._proc is not None:
            stop_group(self._proc)

    def __enter__(self) -> ProxyServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
