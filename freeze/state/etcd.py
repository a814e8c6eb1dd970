"""The cluster-wide state backend: etcd v3, through its JSON gateway.

``etcd3+http://HOST[:PORT][,HOST[:PORT]...][/PREFIX]`` (default port 2379,
default prefix ``/nova-freeze``); needs etcd 3.4 or later.  With TLS,
``etcd3+https://...[?ca_cert=PATH][&cert_cert=PATH&cert_key=PATH]``: the
server is verified against ``ca_cert`` (else the system's CAs) and the client
certificate is shown when etcd asks for one (``--client-cert-auth``).  Keys::

    PREFIX/state              the state document (JSON, as in the file)
    PREFIX/history/EPOCH      the audit entry of each change (zero-padded)
    PREFIX/corrupt/TIMESTAMP  a corrupt document set aside by ``--force``
    PREFIX/workers/HOST-PID   worker acknowledgements, each under a lease

A change is one transaction that compares the state key's ``mod_revision``
with the one read: two writers at once give one winner, and the other gets
:class:`StateConflict`, having changed nothing.  The state and its history
entry are written together or not at all.

Every call has a short timeout and tries the endpoints in turn, so an
unreachable cluster is a clear :class:`StateUnavailable`, never a hang.
"""

import base64
import dataclasses
import datetime
import json
import math
import os
import re
import socket
import urllib.parse
import warnings

import requests

with warnings.catch_warnings():
    # futurist, imported by etcd3gw, announces eventlet's deprecation when
    # eventlet is installed (as beside nova); nothing here uses eventlet.
    warnings.simplefilter('ignore')
    import etcd3gw
    from etcd3gw import exceptions as etcd_exceptions
    from etcd3gw.lease import Lease

from freeze.state import StateConflict
from freeze.state import StateMissing
from freeze.state import StateUnavailable
from freeze.state import acks
from freeze.state import document

SCHEMES = {'etcd3+http': 'http', 'etcd3+https': 'https'}
#: what an https URL's query may name: files, checked when the URL is read
TLS_FILES = ('ca_cert', 'cert_cert', 'cert_key')
DEFAULT_PORT = 2379
DEFAULT_PREFIX = '/nova-freeze'
#: Seconds for one unary call (connect and read) to one endpoint.
TIMEOUT = 2.0
#: A quiet watch stream is re-opened after this long, in case the
#: connection died without anyone noticing.
WATCH_IDLE = 60.0

#: History entries read, newest first, to find the last parseable one.
_NEWEST = 16

_ERRNO = re.compile(r'\[Errno -?\d+\] [^\'"()]+')
_SSL = re.compile(r'\[SSL: [A-Z0-9_]+\][^\'"()]*|EOF occurred in violation '
                  r'of protocol')
_FAILURES = (etcd_exceptions.Etcd3Exception, requests.RequestException,
             ValueError)


def _b64(text):
    return base64.b64encode(text.encode('utf-8')).decode('ascii')


def _unb64(text):
    return base64.b64decode(text)


def _describe(exc):
    """The short reason inside requests' and etcd3gw's long messages."""
    text = getattr(exc, 'detail_text', None) or str(exc) or type(exc).__name__
    found = _SSL.search(text)  # etcd3gw wraps requests' SSLError: by text
    if found:
        return ('TLS handshake failed (%s): check the URL\'s ca_cert, and '
                'cert_cert/cert_key if etcd asks for a client certificate'
                % found.group(0).strip())
    found = _ERRNO.search(text)
    return found.group(0).strip() if found else text.strip()[:200]


def _prefix_end(prefix):
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _parse_state(raw, where):
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise document.StateError('%s is not valid JSON: %s' % (where, exc))
    return document.FreezeState.from_dict(data)


@dataclasses.dataclass(frozen=True)
class Target:
    """Where the state lives, as a state URL says."""

    endpoints: list
    prefix: str = DEFAULT_PREFIX
    protocol: str = 'http'
    tls: dict = dataclasses.field(default_factory=dict)  # TLS_FILES -> path


def parse_url(url):
    """The :class:`Target` of an ``etcd3+http(s)://`` URL, or ValueError."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in SCHEMES:
        raise ValueError('not an etcd3+http(s) URL: %r' % url)
    if parsed.fragment or '@' in parsed.netloc:
        raise ValueError('etcd state URL takes no user or fragment: %r' % url)
    endpoints = []
    for item in parsed.netloc.split(','):
        match = re.fullmatch(r'(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)'
                             r'(?::(\d{1,5}))?', item.strip())
        if not match:
            raise ValueError('bad etcd endpoint %r in %r (HOST[:PORT], '
                             'comma-separated)' % (item, url))
        port = int(match.group(2) or DEFAULT_PORT)
        if not 0 < port < 65536:
            raise ValueError('bad port in etcd endpoint %r' % item)
        endpoints.append((match.group(1).strip('[]'), port))
    prefix = parsed.path.rstrip('/') or DEFAULT_PREFIX
    protocol = SCHEMES[parsed.scheme]
    return Target(endpoints, prefix, protocol,
                  _tls_files(parsed.query, protocol, url))


def _tls_files(query, protocol, url):
    """The query's TLS files: named once each, existing, the client's
    certificate and key together; only over https."""
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True,
                                   strict_parsing=bool(query))
    tls = dict(pairs)
    if pairs and protocol != 'https':
        raise ValueError('only an etcd3+https URL takes TLS options: %r'
                         % url)
    unknown = set(tls) - set(TLS_FILES)
    if unknown or len(tls) != len(pairs):
        raise ValueError('etcd state URL options are %s, each once; not %r'
                         % (', '.join(TLS_FILES), url))
    if ('cert_cert' in tls) != ('cert_key' in tls):
        raise ValueError('cert_cert and cert_key go together: %r' % url)
    for name, path in tls.items():
        if not os.path.isfile(path):
            raise ValueError('%s %r in the etcd state URL is not a file'
                             % (name, path))
    return tls


class EtcdBackend:
    """The freeze state in etcd; same interface as ``FileBackend``."""

    remote = True

    def __init__(self, target):
        self.target = target
        self.endpoints = list(target.endpoints)
        self.prefix = target.prefix
        self.state_key = self.prefix + '/state'
        self._clients_pid = None
        self._clients = []
        self._current = 0

    @classmethod
    def from_url(cls, url):
        return cls(parse_url(url))

    def __str__(self):
        hosts = ','.join('[%s]:%d' % (h, p) if ':' in h else '%s:%d' % (h, p)
                         for h, p in self.endpoints)
        query = urllib.parse.urlencode(self.target.tls)
        return 'etcd3+%s://%s%s%s' % (self.target.protocol, hosts,
                                      self.prefix, query and '?' + query)

    def key(self, *parts):
        return '/'.join((self.prefix,) + parts)

    # -- plumbing ----------------------------------------------------------

    def clients(self):
        """One etcd3gw client per endpoint, made afresh in each process:
        a connection pool inherited across fork() is shared with the parent.
        """
        if self._clients_pid != os.getpid():
            self._clients = [etcd3gw.client(
                host=host, port=port, protocol=self.target.protocol,
                timeout=TIMEOUT, api_path='/v3/', session=self.session())
                for host, port in self.endpoints]
            self._clients_pid = os.getpid()
        return self._clients

    def session(self):
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

    def call(self, what, operation):
        """``operation(client)`` on the first endpoint that answers."""
        clients = self.clients()
        errors = []
        for step in range(len(clients)):
            index = (self._current + step) % len(clients)
            client = clients[index]
            try:
                result = operation(client)
            except _FAILURES as exc:
                errors.append('%s: %s' % (client.base_url, _describe(exc)))
                continue
            self._current = index
            return result
        raise StateUnavailable('cannot %s in etcd (%s)'
                               % (what, '; '.join(errors)))

    def _range(self, client, key, **options):
        """``(kv or None, store revision)`` of one key."""
        reply = client.post(client.get_url('/kv/range'),
                            json=dict(key=_b64(key), **options))
        kvs = reply.get('kvs') or [None]
        return kvs[0], int(reply['header']['revision'])

    def _decode_state(self, kv, revision):
        """The state in ``kv`` (None: absent), read at store ``revision``."""
        if kv is None:
            return self._missing(revision)
        return _parse_state(_unb64(kv.get('value', '')),
                            'etcd key %s' % self.state_key)

    def _missing(self, revision):
        """No state key means never frozen (thawed), but only while the
        history agrees, as with a state file: a key deleted while the
        newest history entry is a freeze raises ``StateMissing``, an
        unreadable state (workers keep the last state for ``stale_after``,
        then apply ``fail_mode``), never a thaw.  The history is read at
        the ``revision`` the key was found absent, not a later one."""
        prefix = self.key('history', '')
        values = self.call('read the history', lambda c: c.get(
            prefix, range_end=_prefix_end(prefix), sort_order='descend',
            sort_target='key', limit=_NEWEST, revision=revision))
        for value in values:
            try:
                entry = json.loads(value)
            except ValueError:
                continue
            recorded = document.recorded_freeze(entry, self.last_epoch)
            if recorded is None:
                return document.THAWED
            raise StateMissing(
                'etcd key %s is missing, but its history says frozen '
                '(epoch %s, mode %s)' % (self.state_key, recorded.epoch,
                                         recorded.mode), recorded)
        return document.THAWED

    # -- the state ---------------------------------------------------------

    def signature(self):
        """The state key's ``mod_revision`` (None when absent): one small
        call without the value, to re-read only on change."""
        kv, _ = self.call('read %s' % self.state_key, lambda c: self._range(
            c, self.state_key, keys_only=True))
        return None if kv is None else int(kv['mod_revision'])

    def read(self):
        kv, revision = self.call('read %s' % self.state_key,
                                 lambda c: self._range(c, self.state_key))
        return self._decode_state(kv, revision)

    def last_epoch(self):
        """Highest epoch in the history (to continue after a lost state)."""
        def newest(client):
            return client.get(self.key('history', ''), metadata=True,
                              range_end=_prefix_end(self.key('history', '')),
                              sort_order='descend', sort_target='key',
                              limit=1, keys_only=True)
        found = self.call('read the history', newest)
        if not found:
            return 0
        return int(found[0][1]['key'].decode().rsplit('/', 1)[1])

    def update(self, change, who, now, force=False):
        """Apply ``change(old) -> new`` with compare-and-swap; (old, new).

        ``change`` returns None to leave the state as it is.  A corrupt
        document is refused unless ``force``, which keeps it under
        ``corrupt/`` and continues the epochs from the history; so does a
        missing one, so that epochs never repeat; a missing one the history
        says is frozen continues from the history's last document.
        """
        kv, store = self.call('read %s' % self.state_key,
                              lambda c: self._range(c, self.state_key))
        revision = 0 if kv is None else int(kv['mod_revision'])
        aside = None
        try:
            old = self._decode_state(kv, store)
        except StateMissing as exc:
            old = exc.recorded
        except document.StateError:
            if not force:
                raise
            aside = kv.get('value', '')
            old = None
        if old is None or (kv is None and not old.frozen):
            old = document.FreezeState(epoch=self.last_epoch())
        new = change(old)
        if new is None and aside is None:
            return old, old
        if new is None:   # the corrupt document is replaced: say so
            new = old.successor()
        document.check_successor(old, new)
        corrupt_key = self.key('corrupt', now.strftime('%Y%m%dT%H%M%S'))
        entry = document.history_entry(who, now, old, new,
                                       aside is not None and corrupt_key)
        puts = [(self.state_key, json.dumps(new.to_dict(), indent=2,
                                            sort_keys=True) + '\n'),
                (self.key('history', '%020d' % new.epoch),
                 json.dumps(entry, sort_keys=True))]
        txn = {'compare': [{'key': _b64(self.state_key), 'target': 'MOD',
                            'result': 'EQUAL', 'mod_revision': revision}],
               'success': [{'request_put': {'key': _b64(k), 'value': _b64(v)}}
                           for k, v in puts],
               'failure': []}
        if aside is not None:
            txn['success'].append({'request_put': {
                'key': _b64(corrupt_key), 'value': aside}})
        result = self.call('write %s' % self.state_key,
                           lambda c: c.transaction(txn))
        if not result.get('succeeded'):
            raise StateConflict(
                'the freeze state in %s changed while this command ran '
                '(another freeze-ctl?); nothing was changed. Check '
                '"freeze-ctl status" and run the command again if it is '
                'still needed.' % self)
        return old, new

    def history(self):
        """The audit history, oldest first; unreadable entries skipped."""
        prefix = self.key('history', '')
        entries = []
        for value, _ in self.call('read the history', lambda c: c.get_prefix(
                prefix, sort_order='ascend', sort_target='key')):
            try:
                entries.append(json.loads(value))
            except ValueError:
                continue
        return entries

    # -- following changes --------------------------------------------------

    def follow(self):
        """A stream of ``(mod_revision, state or StateError)``: the state
        now, then each change, until the stream breaks (StateUnavailable,
        also when the key is deleted while the history says frozen: the
        watcher's re-reads then judge it) or etcd ends it; ``close()`` from
        another thread ends it too."""
        return _Follow(self)

    def ack_store(self):
        return EtcdAcks(self)


class _Follow:

    def __init__(self, backend):
        self.backend = backend
        self._response = None
        self._closed = False

    def __iter__(self):
        backend = self.backend
        kv, revision = backend.call('read %s' % backend.state_key,
                                    lambda c: backend._range(
                                        c, backend.state_key))
        yield self._decoded(kv, 0 if kv is None else int(kv['mod_revision']),
                            revision)
        client = backend.clients()[backend._current]
        request = {'create_request': {'key': _b64(backend.state_key),
                                      'start_revision': revision + 1}}
        try:
            # Its own connection, not one of the client's pool.
            self._response = backend.session().post(
                client.get_url('/watch'), json=request, stream=True,
                timeout=(TIMEOUT, WATCH_IDLE))
            if self._closed:
                return
            self._response.raise_for_status()
            for line in self._response.iter_lines():
                if not line.strip():
                    continue
                result = json.loads(line).get('result') or {}
                if result.get('canceled'):
                    return  # compacted past our revision: start again
                for event in result.get('events', ()):
                    kv = event['kv']
                    version = int(kv['mod_revision'])
                    deleted = event.get('type') == 'DELETE'
                    yield self._decoded(None if deleted else kv, version,
                                        version)
        except (requests.RequestException, ValueError, KeyError) as exc:
            if not self._closed:
                raise StateUnavailable('etcd watch on %s broke: %s'
                                       % (client.base_url, _describe(exc)))
        finally:
            self.close()

    def _decoded(self, kv, version, revision):
        try:
            return version, self.backend._decode_state(kv, revision)
        except document.StateError as exc:
            return version, exc

    def close(self):
        """End the stream, waking a thread blocked reading it."""
        self._closed = True
        response = self._response
        if response is None:
            return
        try:
            # shutdown() wakes a blocked recv(); close() alone does not.
            sock = socket.socket(fileno=os.dup(response.raw.fileno()))
            try:
                sock.shutdown(socket.SHUT_RDWR)
            finally:
                sock.close()
        except (OSError, ValueError, AttributeError):
            pass
        response.close()


class EtcdAcks:
    """Worker records under a lease of ``ceil(expiry)`` seconds.

    A heartbeat is a lease keep-alive, which adds no revision to etcd; the
    record is rewritten only when what it says changes.  When the lease is
    gone (etcd was unreachable longer than the expiry) a new one is granted.
    """

    def __init__(self, backend):
        self.backend = backend
        self._lease = None
        self._written = None

    def __str__(self):
        return '%s/workers/' % self.backend

    def report(self, ack):
        content = dict(ack.to_dict(), heartbeat=None)
        if self._lease is not None and content == self._written:
            ttl = self.backend.call('renew the worker lease',
                                    lambda c: Lease(self._lease, c).refresh())
            if ttl > 0:
                return
            self._lease = None
        if self._lease is None:
            self._lease = self.backend.call(
                'grant a worker lease',
                lambda c: c.lease(max(2, math.ceil(ack.expiry))).id)
        value = json.dumps(ack.to_dict(), sort_keys=True)
        lease = self._lease
        try:
            self.backend.call('write the worker record', lambda c: c.put(
                self.backend.key('workers', ack.name), value,
                lease=Lease(lease, c)))
        except StateUnavailable:
            self._lease = None  # perhaps expired meanwhile: grant anew
            raise
        self._written = content

    def retire(self, ack):
        if self._lease is not None:
            lease, self._lease = self._lease, None
            self.backend.call('revoke the worker lease',
                              lambda c: Lease(lease, c).revoke())

    def records(self, detail=False):
        """The live records (etcd drops expired ones with their lease).

        With ``detail``, each is dated from its lease (one call per
        worker): last heartbeat and when it expires unless renewed.
        """
        prefix = self.backend.key('workers', '')
        found = []
        for value, meta in self.backend.call(
                'list the workers', lambda c: c.get_prefix(prefix)):
            try:
                ack = acks.WorkerAck.from_dict(json.loads(value))
            except ValueError:
                continue
            if detail and meta.get('lease'):
                ack = self._dated(ack, int(meta['lease']))
            else:
                ack = _undated(ack)
            found.append(ack)
        return found

    def _dated(self, ack, lease):
        reply = self.backend.call('read a worker lease', lambda c: c.post(
            c.get_url('/kv/lease/timetolive'), json={'ID': lease}))
        left, granted = int(reply.get('TTL', -1)), int(reply.get('grantedTTL', 0))
        if left < 0:
            return _undated(ack)
        now = document.utcnow()
        return dataclasses.replace(
            ack, heartbeat=now - datetime.timedelta(seconds=granted - left),
            expires_at=now + datetime.timedelta(seconds=left))


def _undated(ack):
    """A record kept alive by its lease: live, with no date to judge by."""
    return dataclasses.replace(ack, expires_at=None)
