"""Worker acknowledgements: the judging, the file store, the keeper thread,
and how long a worker keeps a state it can no longer read."""

import dataclasses
import datetime
import json
import os
import time

from oslo_config import cfg
import pytest

from freeze import middleware
from freeze.state import acks
from freeze.state import document
from freeze.state import file as file_backend
from freeze.state import watch

NOW = datetime.datetime(2026, 11, 25, 12, tzinfo=datetime.timezone.utc)
SECOND = datetime.timedelta(seconds=1)


def ack(pid, epoch, age=0.0, expiry=10.0, failing=False):
    heartbeat = NOW - age * SECOND
    return acks.WorkerAck(host='api-1', pid=pid, epoch=epoch,
                          heartbeat=heartbeat, expiry=expiry, failing=failing,
                          problem='etcd down' if failing else None,
                          expires_at=heartbeat + expiry * SECOND)


@pytest.mark.parametrize('record, status', [
    (ack(1, 5), acks.OK),
    (ack(1, 6), acks.OK),  # already past it: someone changed it again
    (ack(1, 4), acks.LAGGING),
    (ack(1, 5, failing=True), acks.FAILING),
    (ack(1, 4, age=11), acks.EXPIRED),
    (ack(1, 4, age=9), acks.LAGGING),
    (acks.WorkerAck('h', 1, 4, NOW - 100 * SECOND, 10.0), acks.LAGGING),
])
def test_judge(record, status):
    assert acks.judge(record, 5, NOW) == status


def test_laggards_ignore_expired_and_rows_say_why():
    records = [ack(3, 4), ack(1, 5), ack(2, 4, age=30), ack(4, 5, failing=True)]
    assert [a.pid for a in acks.laggards(records, 5, NOW)] == [3, 4]
    rows = acks.rows(records, document.FreezeState(epoch=5), NOW)
    assert [(r['pid'], r['status']) for r in rows] == [
        (1, 'ok'), (2, 'expired'), (3, 'lagging'), (4, 'failing')]
    assert rows[1]['heartbeat_age_s'] == 30.0
    assert rows[0]['overlay'] is None  # no policy_dir: nothing to say
    assert 'pid 4 (epoch 5, failing: etcd down)' in acks.describe(records[3])


FROZEN = document.FreezeState(epoch=5, frozen=True, mode='writes')


@pytest.mark.parametrize('state, overlay, status', [
    (FROZEN, 'writes', 'ok'),
    (FROZEN, 'absent', 'missing'),
    (FROZEN, 'full', 'stale (mode full)'),
    (document.THAWED, 'absent', 'ok'),
    (document.THAWED, 'network', 'stale (mode network)'),
    (FROZEN, None, None),
])
def test_overlay_status(state, overlay, status):
    record = dataclasses.replace(ack(1, 5), overlay=overlay)
    assert acks.overlay_status(record, state, NOW) == status


def test_record_round_trip_and_malformed_records():
    record = dataclasses.replace(ack(7, 3), overlay='full')
    assert acks.WorkerAck.from_dict(
        json.loads(json.dumps(record.to_dict()))) == record
    for bad in ({}, {'host': 'h', 'pid': 'x', 'epoch': 1, 'heartbeat': 'now',
                     'expiry': 1}, []):
        with pytest.raises(document.StateError):
            acks.WorkerAck.from_dict(bad)


def test_ack_dir_reports_lists_and_retires(tmp_path):
    store = acks.AckDir(str(tmp_path / 'state.json.workers'))
    assert store.records() == []
    store.report(ack(1, 1))
    store.report(ack(1, 2))
    store.report(ack(2, 2))
    (tmp_path / 'state.json.workers' / 'junk.json').write_text('{')
    assert sorted((a.pid, a.epoch) for a in store.records()) == [(1, 2),
                                                                 (2, 2)]
    store.retire(ack(1, 2))
    assert [a.pid for a in store.records()] == [2]
    assert sorted(os.listdir(store.path)) == ['api-1-2.json', 'junk.json']


def test_ack_dir_prunes_long_expired_records_when_a_worker_registers(tmp_path):
    path = str(tmp_path / 'w')
    acks.AckDir(path).report(ack(1, 1, age=2 * 86400))
    acks.AckDir(path).report(ack(2, 1, age=60))  # expired, but recently
    acks.AckDir(path).report(ack(3, 1))
    assert sorted(a.pid for a in acks.AckDir(path).records()) == [2, 3]


def test_wait_for_epoch_returns_laggards_after_the_timeout(tmp_path):
    store = acks.AckDir(str(tmp_path / 'w'))
    store.report(acks.WorkerAck('h', 1, 1, document.utcnow(), 10))
    started = time.monotonic()
    records, behind = acks.wait_for_epoch(store, 2, timeout=0.2)
    assert 0.2 <= time.monotonic() - started < 1
    assert behind == records and behind[0].pid == 1
    assert acks.wait_for_epoch(store, 1, timeout=5)[1] == []


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def freeze_full(old):
    return document.FreezeState(epoch=old.epoch + 1, frozen=True, mode='full',
                                reason='cut', started_at=NOW)


@pytest.mark.parametrize('fail_mode', ['closed', 'open'])
def test_unreadable_state_is_kept_for_stale_after_then_fail_mode(
        tmp_path, fail_mode):
    path = tmp_path / 'state.json'
    backend = file_backend.FileBackend(str(path))
    backend.update(lambda old: document.FreezeState(
        epoch=old.epoch + 1, frozen=True, mode='network', reason='cut'),
        'ops', NOW)
    clock = Clock()
    watcher = watch.StateWatcher(backend, fail_mode, 0.5, clock,
                                 stale_after=10)
    assert watcher.current().state.mode == 'network'
    path.unlink()
    path.mkdir()  # reading it now fails: StateUnavailable, as etcd down
    clock.now = 1
    kept = watcher.current()
    assert kept.state.mode == 'network' and not kept.failing
    assert 'keeping the last state read for up to 10' in kept.problem
    clock.now = 9.9  # stale_after counts from the last good read, at 0
    assert not watcher.current().failing
    clock.now = 10.4  # the next check after it
    failed = watcher.current()
    assert failed.failing and 'cannot read' in failed.problem
    assert failed.state.mode == ('full' if fail_mode == 'closed'
                                 else 'network')
    path.rmdir()
    # Gone while the history says frozen: still unreadable, never thawed...
    clock.now = 11
    assert watcher.current().failing
    # ...until freeze-ctl writes a document again.
    backend.update(lambda old: document.FreezeState(epoch=old.epoch + 1),
                   'ops', NOW)
    clock.now = 12
    assert watcher.current() == watch.View(document.FreezeState(epoch=2))


def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError('not within %ss' % timeout)


def test_keeper_picks_up_changes_without_requests_and_acknowledges(tmp_path):
    backend = file_backend.FileBackend(str(tmp_path / 'state.json'))
    store = backend.ack_store()
    watcher = watch.StateWatcher(backend, 'closed', 0.1,
                                 heartbeat_interval=0.2, ack_expiry=1)
    watcher.start()
    try:
        wait_until(lambda: [a.epoch for a in store.records()] == [0])
        [first] = store.records()
        assert first.pid == os.getpid() and not first.failing
        _, new = backend.update(freeze_full, 'ops', NOW)
        records, behind = acks.wait_for_epoch(store, new.epoch, timeout=2)
        assert behind == [] and records[0].epoch == 1
        wait_until(lambda: store.records()[0].heartbeat > records[0].heartbeat)
    finally:
        watcher.stop()
    assert store.records() == []


def test_keeper_ends_with_its_watcher(tmp_path):
    backend = file_backend.FileBackend(str(tmp_path / 'state.json'))
    watcher = watch.StateWatcher(backend, 'closed', 0.1)
    watcher.start()
    keeper = watcher._threads[0]
    del watcher
    keeper.join(timeout=2)
    assert not keeper.is_alive()


def test_a_forked_child_runs_its_own_keeper(tmp_path):
    """As a WSGI server forking workers after building the app: the child
    inherits the view, not the threads, and starts its own at a request."""
    backend = file_backend.FileBackend(str(tmp_path / 'state.json'))
    store = backend.ack_store()
    watcher = watch.StateWatcher(backend, 'closed', 0.1,
                                 heartbeat_interval=0.2, ack_expiry=2)
    watcher.start()
    wait_until(lambda: store.records())
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            time.sleep(0.2)  # a check is due
            watcher.current()
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and os.getpid() not in {
                    a.pid for a in store.records()}:
                time.sleep(0.01)
            found = os.getpid() in {a.pid for a in store.records()}
            os.write(write_end, b'yes' if found else b'no')
        finally:
            os._exit(0)
    os.close(write_end)
    answer = os.read(read_end, 3)
    os.waitpid(child, 0)
    watcher.stop()
    assert answer == b'yes'
    assert child in {a.pid for a in store.records()}


def test_the_pipelines_of_a_process_share_one_watcher(tmp_path, monkeypatch,
                                                      caplog):
    """nova's api-paste.ini builds the filter for v2.1 and for legacy v2: a
    process keeps one view and one record, or one pipeline could acknowledge
    an epoch the other does not enforce yet."""
    monkeypatch.setattr(cfg, 'CONF', cfg.ConfigOpts())
    cfg.CONF([], project='nova', default_config_files=[])
    url = 'file://%s/state.json' % tmp_path
    make = middleware.filter_factory({}, state_url=url)
    v21, legacy = make(lambda *a: []), make(lambda *a: [])
    assert v21.watcher is legacy.watcher
    other = middleware.filter_factory({}, state_url=url,
                                      heartbeat_interval='1')(lambda *a: [])
    assert other.watcher is v21.watcher
    assert 'different options' in caplog.text
    store = file_backend.FileBackend(str(tmp_path / 'state.json')).ack_store()
    wait_until(lambda: store.records())
    assert [a.pid for a in store.records()] == [os.getpid()]
    v21.watcher.stop()
