"""The etcd cluster a state URL names, reached through etcd's JSON gateway.

Every call has a short timeout and tries the endpoints in turn, so an
unreachable cluster is a clear :class:`StateUnavailable`, never a hang.
Needs etcd 3.4 or later (the ``/v3/`` gateway path).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
import os
import re
from typing import Any, TYPE_CHECKING
import warnings

import requests

with warnings.catch_warnings():
    # futurist, imported by etcd3gw, announces eventlet's deprecation when
    # eventlet is installed (as beside nova); nothing here uses eventlet.
    warnings.simplefilter('ignore')
    import etcd3gw
    from etcd3gw import exceptions as etcd_exceptions

from freeze.state import StateUnavailable

if TYPE_CHECKING:
    from freeze.state.etcd_url import Target as EtcdTarget

#: Seconds for one unary call (connect and read) to one endpoint.
TIMEOUT = 2.0

_ERRNO = re.compile(r'\[Errno -?\d+\] [^\'"()]+')
_SSL = re.compile(r'\[SSL: [A-Z0-9_]+\][^\'"()]*|EOF occurred in violation '
                  r'of protocol')
_FAILURES = (etcd_exceptions.Etcd3Exception, requests.RequestException,
             ValueError)


def b64(text: str) -> str:
    return base64.b64encode(text.encode('utf-8')).decode('ascii')


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


def prefix_end(prefix: str) -> str:
    """The end of the key range holding every key under ``prefix``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def describe(exc: Exception) -> str:
    """The short reason inside requests' and etcd3gw's long messages."""
    text = getattr(exc, 'detail_text', None) or str(exc) or type(exc).__name__
    found = _SSL.search(text)  # etcd3gw wraps requests' SSLError: by text
    if found:
        return (f'TLS handshake failed ({found.group(0).strip()}): check the '
                "URL's ca_cert, and cert_cert/cert_key if etcd asks for a "
                'client certificate')
    found = _ERRNO.search(text)
    return found.group(0).strip() if found else text.strip()[:200]


class Cluster:
    """The endpoints of one :class:`~freeze.state.etcd_url.Target`."""

    def __init__(self, target: EtcdTarget) -> None:
        self.target = target
        self.prefix = target.prefix
        self._clients_pid = None
        self._clients = []
        self._current = 0

    def __str__(self) -> str:
        return str(self.target)

    def key(self, *parts: str) -> str:
        return '/'.join((self.prefix,) + parts)

    def clients(self) -> list[Any]:
        """One etcd3gw client per endpoint, made afresh in each process:
        a connection pool inherited across fork() is shared with the parent.
        """
        if self._clients_pid != os.getpid():
            self._clients = [etcd3gw.client(
                host=host, port=port, protocol=self.target.protocol,
                timeout=TIMEOUT, api_path='/v3/', session=self.session())
                for host, port in self.target.endpoints]
            self._clients_pid = os.getpid()
        return self._clients

    def client(self) -> Any:
        """The client of the endpoint that answered last."""
        return self.clients()[self._current]

    def session(self) -> requests.Session:
        """An HTTP session that reaches etcd directly, with the URL's TLS.

        The environment is not trusted: requests lets ``REQUESTS_CA_BUNDLE``
        override a session's CA (``ca_cert`` would be ignored), and a proxy
        from ``*_proxy`` variables has no business between nova-api and its
        freeze state, least of all on a long-lived watch stream.
        """
        session = requests.Session()
        session.trust_env = False
        tls = self.target.tls
        session.verify = tls.get('ca_cert', True)
        if 'cert_cert' in tls:
            session.cert = (tls['cert_cert'], tls['cert_key'])
        return session

    def call(self, what: str, operation: Callable[[Any], Any]) -> Any:
        """``operation(client)`` on the first endpoint that answers."""
        clients = self.clients()
        errors = []
        for step in range(len(clients)):
            index = (self._current + step) % len(clients)
            client = clients[index]
            try:
                result = operation(client)
            except _FAILURES as exc:
                errors.append(f'{client.base_url}: {describe(exc)}')
                continue
            self._current = index
            return result
        raise StateUnavailable(f"cannot {what} in etcd ({'; '.join(errors)})")

    def range(self, key: str,
              **options: Any) -> tuple[dict[str, Any] | None, int]:
        """``(kv or None, store revision)`` of one key."""
        def one(client: Any) -> tuple[dict[str, Any] | None, int]:
            reply = client.post(client.get_url('/kv/range'),
                                json=dict(key=b64(key), **options))
            kvs = reply.get('kvs') or [None]
            return kvs[0], int(reply['header']['revision'])
        return self.call(f'read {key}', one)
