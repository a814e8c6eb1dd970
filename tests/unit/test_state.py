"""The state document and the file backend (the watcher: test_state_watch)."""

import dataclasses
import datetime
import json
import os
import threading

import pytest

from freeze.state import StateUnavailable
from freeze.state import backend as state_backend
from freeze.state import document
from freeze.state import file as file_backend
from freeze.state import open_backend

NOW = datetime.datetime(2026, 11, 25, 12, tzinfo=datetime.timezone.utc)


def freeze_full(old):
    return document.FreezeState(epoch=old.epoch + 1, frozen=True, mode='full',
                                reason='cut', started_at=NOW)


def test_document_round_trip():
    state = document.FreezeState(
        epoch=3, frozen=True, mode='network', reason='r',
        until=NOW + datetime.timedelta(hours=1), auto_thaw=True,
        started_at=NOW, started_by='ops@host')
    assert document.FreezeState.from_dict(
        json.loads(json.dumps(state.to_dict()))) == state


@pytest.mark.parametrize('data', [
    [], 'x', {'epoch': -1}, {'epoch': '3'}, {'epoch': True},
    {'frozen': 'yes'}, {'frozen': True}, {'frozen': True, 'mode': 'partial'},
    {'until': 'tomorrow'}, {'until': 5}, {'surprise': 1}, {'reason': 3},
    {'auto_thaw': 1}, {'started_by': []},
])
def test_malformed_documents_are_refused(data):
    with pytest.raises(document.StateError):
        document.FreezeState.from_dict(data)


def test_naive_times_are_utc():
    state = document.FreezeState.from_dict({'until': '2026-11-25T12:00:00'})
    assert state.until == NOW


@pytest.mark.parametrize('url', ['http://x/y', 'file://remote/x', 'file://'])
def test_bad_state_urls(url):
    with pytest.raises(ValueError):
        open_backend(url)


def test_missing_file_is_thawed(tmp_path):
    backend = open_backend(f'file://{tmp_path}/state.json')
    assert backend.read() == document.THAWED
    assert backend.signature() is None


def test_update_writes_atomically_and_records_history(tmp_path):
    backend = file_backend.FileBackend(str(tmp_path / 'state.json'))
    old, new = backend.update(freeze_full, 'ops', NOW)
    assert (old.epoch, new.epoch) == (0, 1)
    assert backend.read() == new
    assert [name for name in os.listdir(tmp_path)
            if name.startswith('.state-')] == []
    backend.update(lambda old: None, 'ops', NOW)
    history = backend.history()
    assert len(history) == 1
    assert history[0]['who'] == 'ops' and history[0]['new']['epoch'] == 1


def test_transitions_raise_the_epoch_by_one():
    thawed = document.FreezeState(epoch=4)
    on = thawed.frozen_with('writes', 'cut', None, False, 'ops@h', NOW)
    assert (on.epoch, on.frozen, on.mode, on.started_at, on.started_by) == (
        5, True, 'writes', NOW, 'ops@h')
    assert on.frozen_with('writes', 'cut', None, False, 'x', NOW) is None
    later = NOW + datetime.timedelta(hours=1)
    changed = on.frozen_with('full', 'cut', later, True, 'other@h', later)
    assert (changed.epoch, changed.mode, changed.until, changed.auto_thaw,
            changed.started_at, changed.started_by) == (
        6, 'full', later, True, NOW, 'ops@h')  # the window's start is kept
    grant = document.Grant('user', 'a@D', 'a1', 'p@D', 'p1', 'migration',
                           'r1', 'created')
    off = changed.successor(grants=(grant,)).thawed()
    assert off == document.FreezeState(epoch=8, grants=(grant,))
    assert off.thawed() is None


def test_the_file_keeps_the_backend_contract_and_is_polled(tmp_path):
    backend = open_backend(str(tmp_path / 'state.json'))
    assert isinstance(backend, state_backend.Backend)
    assert isinstance(backend.ack_store(), state_backend.AckStore)
    assert not state_backend.follows(backend)


@pytest.mark.parametrize('epoch', [0, 1, 3], ids=['older', 'same', 'skip'])
def test_an_update_must_raise_the_epoch_by_exactly_one(tmp_path, epoch):
    backend = open_backend(str(tmp_path / 'state.json'))
    backend.update(freeze_full, 'ops', NOW)
    with pytest.raises(document.EpochError, match='epochs never repeat'):
        backend.update(lambda old: dataclasses.replace(
            old, epoch=epoch, reason='other'), 'ops', NOW)
    assert backend.read().reason == 'cut' and len(backend.history()) == 1


def test_concurrent_updates_keep_epochs_strictly_increasing(tmp_path):
    path = str(tmp_path / 'state.json')

    def work():
        backend = file_backend.FileBackend(path)
        for _ in range(20):
            backend.update(freeze_full, 'ops', NOW)
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    backend = file_backend.FileBackend(path)
    assert backend.read().epoch == 80
    epochs = [e['new']['epoch'] for e in backend.history()]
    assert epochs == list(range(1, 81))


def test_corrupt_state_is_refused_then_set_aside_with_force(tmp_path):
    backend = file_backend.FileBackend(str(tmp_path / 'state.json'))
    backend.update(freeze_full, 'ops', NOW)
    backend.update(freeze_full, 'ops', NOW)
    (tmp_path / 'state.json').write_text('{"epoch": ')
    with pytest.raises(document.StateError):
        backend.update(freeze_full, 'ops', NOW)
    _, new = backend.update(freeze_full, 'ops', NOW, force=True)
    assert new.epoch == 3
    aside = [n for n in os.listdir(tmp_path) if '.corrupt-' in n]
    assert len(aside) == 1
    assert (tmp_path / aside[0]).read_text() == '{"epoch": '


def test_unwritable_directory_is_a_clear_error(tmp_path):
    (tmp_path / 'file').write_text('')
    backend = file_backend.FileBackend(str(tmp_path / 'file' / 'state.json'))
    with pytest.raises(StateUnavailable):
        backend.update(freeze_full, 'ops', NOW)


def freeze_writes(old):
    return document.FreezeState(epoch=old.epoch + 1, frozen=True,
                                mode='writes', reason='cut', started_at=NOW)


def thaw(old):
    return document.FreezeState(epoch=old.epoch + 1)


def test_vanished_state_file_is_unreadable_while_history_says_frozen(
        tmp_path):
    path = tmp_path / 'state.json'
    backend = file_backend.FileBackend(str(path))
    backend.update(freeze_writes, 'ops', NOW)
    path.unlink()
    with pytest.raises(file_backend.StateMissing) as caught:
        backend.read()
    assert 'history says frozen (epoch 1, mode writes)' in str(caught.value)
    assert isinstance(caught.value, StateUnavailable)
    # freeze-ctl continues from the history's last document: epochs go on.
    old, new = backend.update(thaw, 'ops', NOW)
    assert (old.epoch, old.mode, new.epoch) == (1, 'writes', 2)
    path.unlink()
    # The last entry is a thaw: thawed, at the epoch the history reached,
    # so the next change never repeats an epoch.
    assert backend.read() == document.FreezeState(epoch=2)
    old, new = backend.update(freeze_writes, 'ops', NOW)
    assert (old.epoch, new.epoch) == (2, 3)


def test_vanished_state_file_found_past_long_history_lines(tmp_path):
    path = tmp_path / 'state.json'
    backend = file_backend.FileBackend(str(path))
    for reason in ('x' * 40000, 'y' * 100):
        backend.update(lambda old, r=reason: dataclasses.replace(
            freeze_writes(old), reason=r), 'ops', NOW)
        backend.update(thaw, 'ops', NOW)
    backend.update(lambda old: dataclasses.replace(
        freeze_writes(old), reason='z' * 70000), 'ops', NOW)
    path.unlink()
    with pytest.raises(file_backend.StateMissing) as caught:
        backend.read()
    assert caught.value.recorded.reason == 'z' * 70000


def test_recorded_freeze_is_the_history_entrys_freeze_never_a_thaw():
    frozen = {'new': freeze_writes(document.THAWED).to_dict()}
    assert document.recorded_freeze(frozen, lambda: 9).mode == 'writes'
    for entry in ({'new': thaw(document.THAWED).to_dict()}, {}, [], None,
                  {'new': {'frozen': 'yes'}}):
        assert document.recorded_freeze(entry, lambda: 9) is None
    broken = {'new': {'frozen': True, 'mode': 'bogus'}}
    assert document.recorded_freeze(broken, lambda: 9) == (
        document.FreezeState(epoch=9, frozen=True, mode='full'))
