"""etcd state URLs: ``etcd3+http(s)://HOST[:PORT][,HOST[:PORT]...][/PREFIX]``.

Default port 2379, default prefix ``/nova-freeze``.  With TLS,
``etcd3+https://...[?ca_cert=PATH][&cert_cert=PATH&cert_key=PATH]``: the
server is verified against ``ca_cert`` (else the system's CAs) and the
client certificate is shown when etcd asks for one (``--client-cert-auth``).
The files are checked when the URL is read.
"""

from __future__ import annotations

import dataclasses
import os
import re
import urllib.parse

SCHEMES = {'etcd3+http': 'http', 'etcd3+https': 'https'}
#: what an https URL's query may name: files, checked when the URL is read
TLS_FILES = ('ca_cert', 'cert_cert', 'cert_key')
DEFAULT_PORT = 2379
DEFAULT_PREFIX = '/nova-freeze'


@dataclasses.dataclass(frozen=True)
class Target:
    """Where the state lives, as a state URL says."""

    endpoints: list
    prefix: str = DEFAULT_PREFIX
    protocol: str = 'http'
    tls: dict = dataclasses.field(default_factory=dict)  # TLS_FILES -> path

    def __str__(self) -> str:
        hosts = ','.join(f'[{h}]:{p}' if ':' in h else f'{h}:{p}'
                         for h, p in self.endpoints)
        query = urllib.parse.urlencode(self.tls)
        query = query and f'?{query}'
        return f'etcd3+{self.protocol}://{hosts}{self.prefix}{query}'


def parse_url(url: str) -> Target:
    """The :class:`Target` of an ``etcd3+http(s)://`` URL, or ValueError."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in SCHEMES:
        raise ValueError(f'not an etcd3+http(s) URL: {url!r}')
    if parsed.fragment or '@' in parsed.netloc:
        raise ValueError(f'etcd state URL takes no user or fragment: {url!r}')
    endpoints = []
    for item in parsed.netloc.split(','):
        match = re.fullmatch(r'(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)'
                             r'(?::(\d{1,5}))?', item.strip())
        if not match:
            raise ValueError(f'bad etcd endpoint {item!r} in {url!r} '
                             '(HOST[:PORT], comma-separated)')
        port = int(match.group(2) or DEFAULT_PORT)
        if not 0 < port < 65536:
            raise ValueError(f'bad port in etcd endpoint {item!r}')
        endpoints.append((match.group(1).strip('[]'), port))
    prefix = parsed.path.rstrip('/') or DEFAULT_PREFIX
    protocol = SCHEMES[parsed.scheme]
    return Target(endpoints, prefix, protocol,
                  _tls_files(parsed.query, protocol, url))


def _tls_files(query: str, protocol: str, url: str) -> dict[str, str]:
    """The query's TLS files: named once each, existing, the client's
    certificate and key together; only over https."""
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True,
                                   strict_parsing=bool(query))
    tls = dict(pairs)
    if pairs and protocol != 'https':
        raise ValueError(f'only an etcd3+https URL takes TLS options: {url!r}')
    unknown = set(tls) - set(TLS_FILES)
    if unknown or len(tls) != len(pairs):
        raise ValueError(f"etcd state URL options are {', '.join(TLS_FILES)}, "
                         f'each once; not {url!r}')
    if ('cert_cert' in tls) != ('cert_key' in tls):
        raise ValueError(f'cert_cert and cert_key go together: {url!r}')
    for name, path in tls.items():
        if not os.path.isfile(path):
            raise ValueError(
                f'{name} {path!r} in the etcd state URL is not a file')
    return tls
