"""A real single-member etcd on loopback, for the tests and benchmarks.

Debian's ``etcd-server`` package (``etcd`` on the PATH), free ports, a data
dir under the caller's work dir.  ``stop()`` and ``start()`` again keep the
same ports and data, as an outage and recovery would.

Standalone, ``python tools/localetcd.py`` starts one in a temp dir, prints its
state URL and runs until Ctrl-C.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

READY_TIMEOUT = 20.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class LocalEtcd:

    def __init__(self, workdir: str):
        self.binary = shutil.which('etcd')
        if self.binary is None:
            raise RuntimeError('etcd is not installed (apt-get install '
                               'etcd-server)')
        self.dir = os.path.join(os.path.abspath(workdir), 'etcd')
        os.makedirs(self.dir, exist_ok=True)
        self.client_port = _free_port()
        self.peer_port = _free_port()
        self.log_path = os.path.join(self.dir, 'etcd.log')
        self._proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f'127.0.0.1:{self.client_port}'

    def state_url(self, prefix: str = '/nova-freeze') -> str:
        return f'etcd3+http://{self.endpoint}{prefix}'

    def start(self) -> None:
        peer = f'http://127.0.0.1:{self.peer_port}'
        client = f'http://{self.endpoint}'
        argv = [self.binary, '--name', 'freeze-test',
                '--data-dir', os.path.join(self.dir, 'data'),
                '--listen-client-urls', client,
                '--advertise-client-urls', client,
                '--listen-peer-urls', peer,
                '--initial-advertise-peer-urls', peer,
                '--initial-cluster', f'freeze-test={peer}']
        with open(self.log_path, 'ab') as log:
            self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                          stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True)
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f'etcd exited with {self._proc.returncode};'
                                   f' see {self.log_path}')
            try:
                with urllib.request.urlopen(client + '/health', timeout=1) as r:
                    if b'"true"' in r.read():
                        return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f'etcd not healthy after {READY_TIMEOUT}s; see '
                           f'{self.log_path}')

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop it (SIGKILL for a crash); idempotent."""
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.send_signal(sig)
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def __enter__(self) -> LocalEtcd:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def main() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: sys.exit(0))
    with tempfile.TemporaryDirectory(prefix='localetcd-') as workdir:
        with LocalEtcd(workdir) as etcd:
            print(f'state URL: {etcd.state_url()}\nCtrl-C to stop',
                  flush=True)
            signal.pause()


if __name__ == '__main__':
    main()
