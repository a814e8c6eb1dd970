"""The etcd backend against a real etcd: CAS, history, watch, leases."""

import dataclasses
import datetime
import socket
import threading
import time
import uuid

import pytest

from freeze.state import StateConflict
from freeze.state import StateUnavailable
from freeze.state import acks
from freeze.state import backend as state_backend
from freeze.state import document
from freeze.state import etcd as etcd_backend
from freeze.state import etcd_url
from freeze.state import file as file_backend
from freeze.state import open_backend
from freeze.state import watch
from tests.helpers import wait_until

NOW = datetime.datetime(2026, 11, 25, 12, tzinfo=datetime.timezone.utc)


def freeze(mode):
    def change(old):
        return document.FreezeState(epoch=old.epoch + 1, frozen=True,
                                    mode=mode, reason='cut', started_at=NOW)
    return change


def thaw(old):
    return document.FreezeState(epoch=old.epoch + 1)


@pytest.fixture
def backend(etcd):
    """A backend on a prefix of its own."""
    return open_backend(etcd.state_url(f'/test-{uuid.uuid4().hex[:8]}'))


def dead_endpoint():
    """A loopback port nobody listens on: connections are refused."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return ('127.0.0.1', sock.getsockname()[1])


@pytest.mark.parametrize('url, endpoints, prefix', [
    ('etcd3+http://e1', [('e1', 2379)], '/nova-freeze'),
    ('etcd3+http://e1:4001,e2:4002/cloud/a/', [('e1', 4001), ('e2', 4002)],
     '/cloud/a'),
    ('etcd3+http://[::1]:2379,10.0.0.2/p', [('::1', 2379), ('10.0.0.2', 2379)],
     '/p'),
])
def test_urls(url, endpoints, prefix):
    assert etcd_url.parse_url(url) == etcd_url.Target(endpoints,
                                                              prefix)
    backend = open_backend(url)
    assert isinstance(backend, etcd_backend.EtcdBackend)
    assert open_backend(str(backend)).endpoints == endpoints


@pytest.mark.parametrize('url', ['etcd3+http://', 'etcd3+http://a:99999',
                                 'etcd3+http://a,,b', 'etcd3+http://u@a/p',
                                 'etcd3+http://a/p?x=1', 'etcd3+http://a b',
                                 'etcd3+http://a/p?ca_cert=/etc/hostname',
                                 'etcd3+https://a/p?ca_cert=/nonexistent',
                                 'etcd3+https://a?cert_cert=/etc/hostname',
                                 'etcd3+https://a?ca_cert=/etc/hostname'
                                 '&ca_cert=/etc/hostname',
                                 'etcd3+https://a?verify=no'])
def test_bad_urls_are_refused(url):
    with pytest.raises(ValueError):
        open_backend(url)


def test_absent_state_is_thawed_and_updates_record_history(backend):
    assert backend.read() == document.THAWED
    assert backend.signature() is None
    old, new = backend.update(freeze('full'), 'ops', NOW)
    assert (old.epoch, new.epoch, new.mode) == (0, 1, 'full')
    assert backend.read() == new
    first = backend.signature()
    backend.update(lambda old: None, 'ops', NOW)  # no change: no write
    assert backend.signature() == first
    backend.update(freeze('network'), 'ops', NOW)
    assert backend.signature() > first
    history = backend.history()
    assert [h['new']['epoch'] for h in history] == [1, 2]
    assert history[1]['old']['mode'] == 'full' and history[1]['who'] == 'ops'


def test_it_keeps_the_backend_contract_and_declares_that_it_follows(
        backend):
    assert isinstance(backend, state_backend.FollowingBackend)
    assert isinstance(backend.ack_store(), state_backend.AckStore)
    assert state_backend.follows(backend)


@pytest.mark.parametrize('epoch', [0, 1, 3], ids=['older', 'same', 'skip'])
def test_an_update_must_raise_the_epoch_by_exactly_one(backend, epoch):
    backend.update(freeze('full'), 'ops', NOW)
    with pytest.raises(document.EpochError, match='epochs never repeat'):
        backend.update(lambda old: dataclasses.replace(
            old, epoch=epoch, reason='other'), 'ops', NOW)
    assert backend.read().reason == 'cut' and len(backend.history()) == 1


def test_a_write_between_read_and_swap_is_a_conflict(backend):
    rival = open_backend(str(backend))
    backend.update(freeze('full'), 'ops', NOW)

    def change(old):
        rival.update(freeze('network'), 'rival', NOW)
        return freeze('writes')(old)
    with pytest.raises(StateConflict, match='changed while this command ran'):
        backend.update(change, 'ops', NOW)
    state = backend.read()
    assert (state.epoch, state.mode) == (2, 'network')
    assert [h['who'] for h in backend.history()] == ['ops', 'rival']


def test_concurrent_writers_keep_epochs_strictly_increasing(backend):
    wins = []

    def work():
        mine = open_backend(str(backend))
        for _ in range(10):
            while True:
                try:
                    wins.append(mine.update(freeze('full'), 'ops', NOW)[1])
                    break
                except StateConflict:
                    continue
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(w.epoch for w in wins) == list(range(1, 41))
    assert [h['new']['epoch'] for h in backend.history()] == list(range(1, 41))


def test_corrupt_state_refused_then_set_aside_with_force(backend):
    backend.update(freeze('full'), 'ops', NOW)
    backend.update(freeze('full'), 'ops', NOW)
    backend.cluster.call('corrupt it',
                         lambda c: c.put(backend.state_key, '{"ep'))
    with pytest.raises(document.StateError):
        backend.read()
    with pytest.raises(document.StateError):
        backend.update(freeze('full'), 'ops', NOW)
    _, new = backend.update(freeze('full'), 'ops', NOW, force=True)
    assert new.epoch == 3
    aside = backend.cluster.call('list', lambda c: c.get_prefix(
        backend.key('corrupt', '')))
    assert [value for value, _ in aside] == [b'{"ep']
    assert backend.history()[-1]['set_aside'] == backend.key(
        'corrupt', NOW.strftime('%Y%m%dT%H%M%S'))
    # Set aside even when the command changes nothing else (off, thawed):
    # recorded, with an epoch of its own.
    backend.cluster.call('corrupt it',
                         lambda c: c.put(backend.state_key, 'x'))
    old, new = backend.update(lambda old: None, 'ops', NOW, force=True)
    assert new.epoch == 4 and 'set_aside' in backend.history()[-1]


def test_a_deleted_state_continues_the_epochs(backend):
    backend.update(freeze('full'), 'ops', NOW)
    backend.update(thaw, 'ops', NOW)
    backend.cluster.call('delete it',
                         lambda c: c.delete(backend.state_key))
    assert backend.read() == document.THAWED  # the last entry is a thaw
    old, new = backend.update(freeze('writes'), 'ops', NOW)
    assert (old.epoch, old.frozen, new.epoch) == (2, False, 3)


def test_a_deleted_state_is_unreadable_while_history_says_frozen(backend):
    """As with a state file: never read as thawed; freeze-ctl continues
    from the history's last document."""
    backend.update(freeze('writes'), 'ops', NOW)
    backend.cluster.call('delete it',
                         lambda c: c.delete(backend.state_key))
    with pytest.raises(file_backend.StateMissing) as caught:
        backend.read()
    assert 'history says frozen (epoch 1, mode writes)' in str(caught.value)
    assert isinstance(caught.value, StateUnavailable)
    old, new = backend.update(thaw, 'ops', NOW)
    assert (old.epoch, old.mode, old.frozen, new.epoch) == (1, 'writes',
                                                            True, 2)


def test_a_missing_key_is_judged_by_the_history_of_the_same_revision(
        backend):
    """The key found absent, then a thaw lands before the history is read:
    that read must not pair "absent" with the later history (it gave a
    thawed epoch 0 that never existed)."""
    backend.update(freeze('writes'), 'ops', NOW)
    backend.cluster.call('delete it',
                         lambda c: c.delete(backend.state_key))
    kv, revision = backend.cluster.range(backend.state_key)
    backend.update(thaw, 'ops', NOW)
    assert kv is None
    with pytest.raises(file_backend.StateMissing, match='epoch 1'):
        backend.decode(kv, revision)
    assert backend.read().epoch == 2


@pytest.mark.parametrize('fail_mode, mode_after', [('closed', 'full'),
                                                   ('open', 'writes')])
def test_watcher_keeps_state_then_fails_when_state_key_is_deleted(
        backend, fail_mode, mode_after):
    backend.update(freeze('writes'), 'ops', NOW)
    watcher = watch.StateWatcher(open_backend(str(backend)), fail_mode,
                                 heartbeat_interval=0.1, stale_after=1.5)
    watcher.start()
    try:
        assert watcher.current().state.mode == 'writes'
        backend.cluster.call('delete it',
                         lambda c: c.delete(backend.state_key))
        wait_until(lambda: watcher.current().problem is not None)
        view = watcher.current()
        assert 'missing' in view.problem and not view.failing
        assert view.state.mode == 'writes'  # the last state, for stale_after
        wait_until(lambda: watcher.current().failing)
        view = watcher.current()
        assert view.state.frozen and view.state.mode == mode_after
        _, new = backend.update(thaw, 'ops', NOW)  # freeze-ctl off repairs
        wait_until(lambda: not watcher.current().state.frozen)
        assert watcher.current().problem is None
        assert watcher.current().state.epoch == new.epoch == 2
    finally:
        watcher.stop()


def test_unreachable_etcd_is_a_quick_clear_error():
    backend = etcd_backend.EtcdBackend(etcd_url.Target([dead_endpoint()]))
    started = time.monotonic()
    with pytest.raises(StateUnavailable, match='Connection refused'):
        backend.read()
    with pytest.raises(StateUnavailable):
        backend.update(freeze('full'), 'ops', NOW)
    assert time.monotonic() - started < 2


def test_the_next_endpoint_answers_when_one_is_down(backend):
    both = etcd_backend.EtcdBackend(etcd_url.Target(
        [dead_endpoint(), backend.endpoints[0]], backend.prefix))
    both.update(freeze('full'), 'ops', NOW)
    assert backend.read().frozen


def test_follow_yields_now_then_each_change_until_closed(backend):
    stream = backend.follow()
    seen = []

    def read():
        try:
            for version, state in stream:
                seen.append((version, state))
        except StateUnavailable as exc:
            seen.append((None, exc))
    reader = threading.Thread(target=read)
    reader.start()
    wait_until(lambda: seen, what='the state as it is now')
    backend.update(freeze('full'), 'ops', NOW)
    backend.cluster.call('corrupt it',
                         lambda c: c.put(backend.state_key, 'nope'))
    backend.update(thaw, 'ops', NOW, force=True)
    backend.cluster.call('delete it',
                         lambda c: c.delete(backend.state_key))
    backend.update(freeze('writes'), 'ops', NOW)
    wait_until(lambda: len(seen) >= 6, what='six states')
    stream.close()
    reader.join(timeout=5)
    assert not reader.is_alive()
    assert seen[0] == (0, document.THAWED)
    assert seen[1][1].mode == 'full'
    assert isinstance(seen[2][1], document.StateError)
    assert not seen[3][1].frozen
    # Deleted after a thaw: thawed; the next freeze continues the epochs.
    assert seen[4][1] == document.THAWED
    assert (seen[5][1].mode, seen[5][1].epoch) == ('writes', 3)
    versions = [v for v, _ in seen]
    assert versions[1:] == sorted(versions[1:])


def test_follow_breaks_when_a_frozen_state_is_deleted(backend):
    backend.update(freeze('network'), 'ops', NOW)
    stream = iter(backend.follow())
    assert next(stream)[1].mode == 'network'
    backend.cluster.call('delete it',
                         lambda c: c.delete(backend.state_key))
    with pytest.raises(file_backend.StateMissing, match='history says '
                       'frozen'):
        next(stream)


def ack(pid, epoch=1, expiry=3.0):
    return acks.WorkerAck(host='api-1', pid=pid, epoch=epoch,
                          heartbeat=document.utcnow(), expiry=expiry)


def test_worker_records_live_under_a_lease(backend):
    store = backend.ack_store()
    store.report(ack(101))
    store.report(ack(101))  # unchanged: a keep-alive, no new revision
    other = backend.ack_store()
    other.report(ack(102, epoch=2))
    records = backend.ack_store().records(detail=True)
    assert sorted((r.pid, r.epoch) for r in records) == [(101, 1), (102, 2)]
    assert all(r.expires_at > document.utcnow() for r in records)
    assert all(r.expires_at is None for r in backend.ack_store().records())
    other.retire(ack(102))
    assert [r.pid for r in backend.ack_store().records()] == [101]


def test_a_record_expires_when_heartbeats_stop(backend):
    backend.ack_store().report(ack(103, expiry=2))
    wait_until(lambda: backend.ack_store().records() == [], timeout=6,
               interval=0.1, what='the record expired')


def test_a_record_comes_back_after_its_lease_was_lost(backend):
    store = backend.ack_store()
    store.report(ack(104))
    [record] = backend.cluster.call('list', lambda c: c.get_prefix(
        backend.key('workers', '')))
    backend.cluster.call('revoke', lambda c: c.post(
        c.get_url('/kv/lease/revoke'), json={'ID': int(record[1]['lease'])}))
    assert backend.ack_store().records() == []
    store.report(ack(104))  # the keep-alive finds no lease: granted anew
    assert [r.pid for r in backend.ack_store().records()] == [104]


def test_watcher_follows_changes_and_acknowledges_them(backend):
    watcher = watch.StateWatcher(open_backend(str(backend)), 'closed',
                                 heartbeat_interval=0.5, ack_expiry=3)
    watcher.start()
    try:
        assert watcher.current().state == document.THAWED
        wait_until(lambda: backend.ack_store().records())
        written = time.monotonic()
        _, new = backend.update(freeze('writes'), 'ops', NOW)
        wait_until(lambda: watcher.current().state.epoch == new.epoch,
                   interval=0.005)
        seen = time.monotonic()
        assert seen - written < 0.25  # the watch, not the 0.5 s re-read
        records, behind = acks.wait_for_epoch(backend.ack_store(), new.epoch,
                                              timeout=2)
        assert behind == [] and [r.epoch for r in records] == [new.epoch]
    finally:
        watcher.stop()
    assert backend.ack_store().records() == []


def test_freeze_ctl_reports_a_conflict_clearly(backend, monkeypatch, capsys):
    """Two freeze-ctl at once, the interleaving forced: another writer gets
    in between this command's read and its compare-and-swap."""
    from freeze.cli import freeze_ctl

    class Raced(etcd_backend.EtcdBackend):
        def update(self, change, who, now, force=False):
            def raced(old):
                open_backend(str(backend)).update(freeze('network'), 'rival',
                                                  NOW)
                return change(old)
            return super().update(raced, who, now, force)
    monkeypatch.setattr(freeze_ctl.freeze_state, 'open_backend',
                        lambda url, create=False: Raced.from_url(url))
    code = freeze_ctl.main(['--state', str(backend), 'on', '--mode', 'full',
                            '--reason', 'x'])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(f'freeze-ctl: error: the freeze state in {backend} '
                          'changed while this command ran')
    assert (backend.read().epoch, backend.read().mode) == (1, 'network')
