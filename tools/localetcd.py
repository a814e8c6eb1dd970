"""A real single-member etcd on loopback, for the tests and benchmarks.

Debian's ``etcd-server`` package (``etcd`` on the PATH), free ports, a data
dir under the caller's work dir.  ``tls=True`` serves https only to clients
with a certificate of its own throwaway CA (``client-cert-auth``).  ``stop()`` and ``start()`` again keep the
same ports and data, as an outage and recovery would.

Standalone, ``python -m tools.localetcd`` starts one in a temp dir, prints its
state URL and runs until Ctrl-C.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

from tools.localcloud import free_port

READY_TIMEOUT = 20.0


class LocalEtcd:

    def __init__(self, workdir: str, tls: bool = False):
        self.binary = shutil.which('etcd')
        if self.binary is None:
            raise RuntimeError('etcd is not installed (apt-get install '
                               'etcd-server)')
        self.dir = os.path.join(os.path.abspath(workdir), 'etcd')
        os.makedirs(self.dir, exist_ok=True)
        self.client_port = free_port()
        self.peer_port = free_port()
        self.log_path = os.path.join(self.dir, 'etcd.log')
        self._proc: subprocess.Popen | None = None
        self.tls = make_certificates(os.path.join(self.dir, 'tls')) if (
            tls) else {}

    @property
    def endpoint(self) -> str:
        return f'127.0.0.1:{self.client_port}'

    def state_url(self, prefix: str = '/nova-freeze') -> str:
        if not self.tls:
            return f'etcd3+http://{self.endpoint}{prefix}'
        query = urllib.parse.urlencode({k: self.tls[k] for k in (
            'ca_cert', 'cert_cert', 'cert_key')})
        return f'etcd3+https://{self.endpoint}{prefix}?{query}'

    def start(self) -> None:
        peer = f'http://127.0.0.1:{self.peer_port}'
        client = f'{"https" if self.tls else "http"}://{self.endpoint}'
        tls_args = ['--client-cert-auth',
                    '--trusted-ca-file', self.tls['ca_cert'],
                    '--cert-file', self.tls['server_cert'],
                    '--key-file', self.tls['server_key']] if self.tls else []
        context = None
        if self.tls:
            context = ssl.create_default_context(cafile=self.tls['ca_cert'])
            context.load_cert_chain(self.tls['cert_cert'],
                                    self.tls['cert_key'])
        argv = [self.binary, '--name', 'freeze-test', *tls_args,
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
                with urllib.request.urlopen(client + '/health', timeout=1,
                                            context=context) as r:
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


def make_certificates(directory: str) -> dict[str, str]:
    """A throwaway CA, a server certificate for 127.0.0.1 and a client
    certificate, as PEM files: name -> path."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    os.makedirs(directory, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    paths = {}

    def issue(name, key, issuer_name, issuer_key, ca=False, usage=None,
              san=None):
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(
                       NameOID.COMMON_NAME, name)]))
                   .issuer_name(issuer_name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=2))
                   .add_extension(x509.BasicConstraints(ca=ca,
                                                        path_length=None),
                                  critical=True))
        if usage:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage(usage), critical=False)
        if san:
            builder = builder.add_extension(san, critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    def write(label, cert, key=None):
        paths[f'{label}_cert'] = os.path.join(directory, f'{label}.pem')
        with open(paths[f'{label}_cert'], 'wb') as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        if key is not None:
            paths[f'{label}_key'] = os.path.join(directory, f'{label}-key.pem')
            with open(paths[f'{label}_key'], 'wb') as f:
                f.write(key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption()))

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'test CA')])
    write('ca', issue('test CA', ca_key, ca_name, ca_key, ca=True))
    server_key = ec.generate_private_key(ec.SECP256R1())
    # etcd's gateway dials etcd itself with the server's certificate.
    write('server', issue('127.0.0.1', server_key, ca_name, ca_key,
                          usage=[ExtendedKeyUsageOID.SERVER_AUTH,
                                 ExtendedKeyUsageOID.CLIENT_AUTH],
                          san=x509.SubjectAlternativeName([x509.IPAddress(
                              ipaddress.ip_address('127.0.0.1'))])),
          server_key)
    client_key = ec.generate_private_key(ec.SECP256R1())
    write('client', issue('nova-freeze', client_key, ca_name, ca_key,
                          usage=[ExtendedKeyUsageOID.CLIENT_AUTH]),
          client_key)
    return {'ca_cert': paths['ca_cert'], 'server_cert': paths['server_cert'],
            'server_key': paths['server_key'],
            'cert_cert': paths['client_cert'], 'cert_key': paths['client_key']}


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
