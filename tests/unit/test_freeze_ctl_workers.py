"""freeze-ctl and the workers' acknowledgements (file backend; the real
nova-api workers and etcd: tests/e2e/test_cluster.py)."""

import datetime
import json
import subprocess
import sys
import time

from freeze.state import acks
from freeze.state import document
from freeze.state import file as file_backend


def ctl(state, *args):
    return subprocess.run([sys.executable, '-m', 'freeze.cli.freeze_ctl',
                           '--state', f'file://{state}', *args],
                          capture_output=True, text=True)


def report(state, pid, epoch, age=0.0):
    store = file_backend.FileBackend(str(state)).ack_store()
    store.report(acks.WorkerAck(
        host='api-9', pid=pid, epoch=epoch, expiry=10.0,
        heartbeat=document.utcnow() - datetime.timedelta(seconds=age)))


def test_on_fails_after_wait_naming_the_workers_that_lag(tmp_path):
    state = tmp_path / 'state.json'
    report(state, 4242, 0)
    report(state, 4343, 0, age=60)  # expired: not waited for
    started = time.monotonic()
    result = ctl(state, 'on', '--mode', 'full', '--reason', 'x',
                 '--wait', '0.5', '-f', 'json')
    assert time.monotonic() - started >= 0.5
    assert result.returncode == 1
    assert ('epoch 1 is recorded, but after 0.5s these workers do not '
            'enforce it: api-9 pid 4242 (epoch 0)') in result.stderr
    assert '4343' not in result.stderr
    assert json.loads(result.stdout)['frozen'] is True  # recorded all the same
    status = json.loads(ctl(state, 'status', '-f', 'json').stdout)
    assert [(w['pid'], w['status']) for w in status['workers']] == [
        (4242, 'lagging'), (4343, 'expired')]
    table = ctl(state, 'status').stdout
    header = next(line for line in table.splitlines() if '| host' in line)
    assert [cell.strip() for cell in header.strip('|').split('|')] == [
        'host', 'pid', 'epoch', 'status', 'heartbeat_age_s', 'overlay',
        'problem']


def test_on_returns_when_the_workers_catch_up(tmp_path):
    state = tmp_path / 'state.json'
    report(state, 4242, 0)
    run = subprocess.Popen([sys.executable, '-m', 'freeze.cli.freeze_ctl',
                            '--state', f'file://{state}', 'on', '--mode',
                            'writes', '--reason', 'x', '--wait', '30'],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    while file_backend.FileBackend(str(state)).read().epoch != 1:
        assert run.poll() is None
        time.sleep(0.02)
    report(state, 4242, 1)
    assert run.wait(timeout=10) == 0


def test_no_worker_is_a_warning_not_an_error(tmp_path):
    result = ctl(tmp_path / 'state.json', 'off')
    assert result.returncode == 0
    assert 'no nova-api worker reports to' in result.stderr
