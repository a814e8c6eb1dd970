"""Worker acknowledgements: the judging and the file store (the keeper
thread that reports them: test_state_watch)."""

import dataclasses
import datetime
import json
import os
import time

import pytest

from freeze import decision
from freeze import policy
from freeze.state import acks
from freeze.state import document

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


def test_overlay_mode_is_read_from_the_header_policy_writes(tmp_path):
    path = tmp_path / 'zz-nova-freeze.yaml'
    assert acks.read_overlay_mode(str(path)) == 'absent'
    path.write_text(policy.render({'a': 'role:migration'}, policy.header(
        'network', '34.0.0', 'freeze-ctl on', [], decision.Rules())))
    assert acks.read_overlay_mode(str(path)) == 'network'
    path.write_text('"a": "rule:b"\n')
    assert acks.read_overlay_mode(str(path)) == 'not a nova-freeze overlay'


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
