"""The etcd backend over TLS, against a real etcd that demands a client
certificate: state, history and the watch stream all go through it."""

import datetime
import threading
import urllib.parse

import pytest

from freeze.state import StateUnavailable
from freeze.state import etcd_cluster
from freeze.state import open_backend
from tools.localetcd import LocalEtcd

NOW = datetime.datetime(2026, 11, 25, 12, tzinfo=datetime.timezone.utc)


@pytest.fixture(scope='module')
def tls_etcd(tmp_path_factory, etcd):  # etcd: installed, or fail/skip there
    with LocalEtcd(str(tmp_path_factory.mktemp('etcd-tls')), tls=True) as s:
        yield s


def full(old):
    return old.successor(frozen=True, mode='full', reason='tls',
                         started_at=NOW)


def test_state_history_and_watch_over_tls(tls_etcd):
    url = tls_etcd.state_url('/tls-a')
    backend = open_backend(url)
    assert str(backend) == url
    stream = backend.follow()
    changes = iter(stream)
    seen = [next(changes)[1]]  # the state now, read before the change
    follower = threading.Thread(
        target=lambda: seen.extend(item for _, item in changes))
    follower.start()
    backend.update(full, 'ops', NOW)
    assert backend.read().mode == 'full'
    assert [e['new']['reason'] for e in backend.history()] == ['tls']
    deadline = datetime.datetime.now() + datetime.timedelta(seconds=5)
    while len(seen) < 2 and datetime.datetime.now() < deadline:
        threading.Event().wait(0.05)
    stream.close()
    follower.join(5)
    assert [s.frozen for s in seen] == [False, True]


def without(url, *names):
    parts = urllib.parse.urlsplit(url)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query)
             if k not in names]
    return parts._replace(query=urllib.parse.urlencode(query)).geturl()


@pytest.mark.parametrize('names, details', [
    # no client certificate: etcd ends the handshake, seen as an EOF or
    # (TLS 1.3, depending on timing) as its bad-certificate alert
    (('cert_cert', 'cert_key'), ('EOF occurred', 'ALERT_BAD_CERTIFICATE')),
    # etcd's certificate is not one the default CAs trust
    (('ca_cert',), ('CERTIFICATE_VERIFY_FAILED',)),
])
def test_tls_failures_are_clear_and_change_nothing(tls_etcd, names, details):
    url = tls_etcd.state_url(f'/tls-b-{len(names)}')
    with pytest.raises(StateUnavailable) as failure:
        open_backend(without(url, *names)).update(full, 'ops', NOW)
    message = str(failure.value)
    assert 'TLS handshake failed (' in message, message
    assert any(d in message for d in details) and 'ca_cert' in message
    assert not open_backend(url).read().frozen


def test_ca_cert_wins_over_requests_ca_bundle(tls_etcd, monkeypatch):
    """requests would let the variable override the session's CA."""
    monkeypatch.setenv('REQUESTS_CA_BUNDLE', '/etc/ssl/certs/none.pem')
    assert not open_backend(tls_etcd.state_url('/tls-d')).read().frozen


def test_plain_http_to_a_tls_etcd_is_unavailable(tls_etcd):
    with pytest.raises(StateUnavailable):
        open_backend(f'etcd3+http://{tls_etcd.endpoint}/tls-c').read()


def test_a_bad_certificate_alert_reads_as_a_tls_failure():
    """What etcd's alert looks like when TLS 1.3 delivers it after the
    handshake (the test above sees it now and then instead of an EOF)."""
    text = etcd_cluster.describe(Exception(
        "HTTPSConnectionPool(host='127.0.0.1', port=1): Max retries exceeded"
        " (Caused by SSLError(SSLError(1, '[SSL: SSLV3_ALERT_BAD_CERTIFICATE"
        "] sslv3 alert bad certificate (_ssl.c:2)')))"))
    assert text.startswith('TLS handshake failed ([SSL: SSLV3_ALERT_BAD_'
                           'CERTIFICATE] sslv3 alert bad certificate)')
