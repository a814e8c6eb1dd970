"""Each worker's watcher: when it re-reads the state, what it does when the
state cannot be read (fail_mode, stale_after), and its keeper thread, which
follows changes and acknowledges them without requests."""

import datetime
import os
import time

import pytest

from freeze.state import acks
from freeze.state import document
from freeze.state import file as file_backend
from freeze.state import watch
from tests.helpers import Clock, wait_until

NOW = datetime.datetime(2026, 11, 25, 12, tzinfo=datetime.timezone.utc)


def freeze_full(old):
    return old.successor(frozen=True, mode='full', reason='cut',
                         started_at=NOW)


def freeze_writes(old):
    return old.successor(frozen=True, mode='writes', reason='cut',
                         started_at=NOW)


def thaw(old):
    return old.thawed()


def test_watcher_rereads_only_after_interval_and_on_change(tmp_path):
    backend = file_backend.FileBackend(str(tmp_path / 'state.json'))
    clock = Clock()
    watcher = watch.StateWatcher(backend, 'closed', 0.5, clock)
    assert not watcher.current().state.frozen
    backend.update(freeze_full, 'ops', NOW)
    assert not watcher.current().state.frozen  # cached within the interval
    clock.now = 0.6
    assert watcher.current().state.epoch == 1


@pytest.mark.parametrize('fail_mode, frozen_after', [('closed', True),
                                                     ('open', False)])
def test_watcher_fail_modes_on_corrupt_state(tmp_path, fail_mode,
                                             frozen_after):
    path = tmp_path / 'state.json'
    backend = file_backend.FileBackend(str(path))
    clock = Clock()
    watcher = watch.StateWatcher(backend, fail_mode, 0.5, clock)
    assert not watcher.current().state.frozen
    path.write_text('not json')
    clock.now = 1
    view = watcher.current()
    assert view.problem and 'not valid JSON' in view.problem
    assert view.state.frozen is frozen_after
    if frozen_after:
        assert view.state.mode == 'full'
        assert 'cannot be read' in view.state.reason
    path.unlink()
    clock.now = 2
    view = watcher.current()
    assert view.problem is None and not view.state.frozen


def test_watcher_fail_open_keeps_last_known_freeze(tmp_path):
    path = tmp_path / 'state.json'
    backend = file_backend.FileBackend(str(path))
    backend.update(freeze_full, 'ops', NOW)
    clock = Clock()
    watcher = watch.StateWatcher(backend, 'open', 0.5, clock)
    assert watcher.current().state.frozen
    path.write_text('{')
    clock.now = 1
    assert watcher.current().state.frozen
    assert watcher.current().problem


def test_watcher_unreadable_file(tmp_path):
    if os.geteuid() == 0:
        # root reads anything: make the path a directory instead.
        (tmp_path / 'state.json').mkdir()
    else:
        (tmp_path / 'state.json').write_text('{}')
        os.chmod(tmp_path / 'state.json', 0)
    watcher = watch.StateWatcher(
        file_backend.FileBackend(str(tmp_path / 'state.json')), 'closed', 0.5)
    view = watcher.current()
    assert view.problem and view.state.frozen


@pytest.mark.parametrize('fail_mode, mode_after', [('closed', 'full'),
                                                   ('open', 'writes')])
def test_watcher_keeps_state_then_fails_when_state_file_vanishes(
        tmp_path, fail_mode, mode_after):
    path = tmp_path / 'state.json'
    backend = file_backend.FileBackend(str(path))
    backend.update(freeze_writes, 'ops', NOW)
    clock = Clock()
    watcher = watch.StateWatcher(backend, fail_mode, 0.5, clock,
                                 stale_after=10)
    assert watcher.current().state.mode == 'writes'
    path.unlink()
    clock.now = 1
    view = watcher.current()
    assert 'missing' in view.problem and not view.failing
    assert view.state.mode == 'writes'  # the last state, for stale_after
    clock.now = 11.5
    view = watcher.current()
    assert view.failing and view.state.frozen
    assert view.state.mode == mode_after
    backend.update(thaw, 'ops', NOW)  # freeze-ctl off repairs it
    clock.now = 12
    view = watcher.current()
    assert view.problem is None and not view.state.frozen
    assert view.state.epoch == 2


def test_state_dir_that_never_had_a_document_stays_thawed(tmp_path):
    clock = Clock()
    watcher = watch.StateWatcher(
        file_backend.FileBackend(str(tmp_path / 'state.json')), 'closed',
        0.5, clock, stale_after=1)
    for clock.now in (0, 5, 50):
        view = watcher.current()
        assert not view.state.frozen and view.problem is None


@pytest.mark.parametrize('fail_mode', ['closed', 'open'])
def test_unreadable_state_is_kept_for_stale_after_then_fail_mode(
        tmp_path, fail_mode):
    path = tmp_path / 'state.json'
    backend = file_backend.FileBackend(str(path))
    backend.update(lambda old: old.successor(
        frozen=True, mode='network', reason='cut'), 'ops', NOW)
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
    backend.update(lambda old: old.thawed(), 'ops', NOW)
    clock.now = 12
    assert watcher.current() == watch.View(document.FreezeState(epoch=2))


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
