"""The cluster-wide freeze: several real nova-api workers, a real etcd.

Every worker acknowledges each epoch and freeze-ctl returns only once they
all enforce it; etcd going away and coming back, two freeze-ctl at once, a
killed worker; the file backend's acknowledgements; the quiesce gate against
the real nova-api.  Short heartbeats and expiries keep it quick.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

from freeze.state import acks
from freeze.state import document
from freeze.state import open_backend
from tests.helpers import wait_until
from tools.localcloud import call

# Quick heartbeats and expiries; the expiry leaves room for freeze-ctl's
# start-up (~2 s here) between killing a worker and asking about it.
FAST = {'heartbeat_interval': '0.5', 'ack_expiry': '6', 'stale_after': '2'}
NOVADB = Path(__file__).with_name('novadb.py')


def ctl(state_url, *args, env=None):
    return subprocess.run(
        [sys.executable, '-m', 'freeze.cli.freeze_ctl', '--state', state_url,
         *args], capture_output=True, text=True, env=env, timeout=120)


def ctl_json(state_url, *args):
    result = ctl(state_url, *args, '-f', 'json')
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def worker_pids(api):
    """The gunicorn master's live children: its workers."""
    master = api.pid
    pids = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/stat') as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master and fields[0] != 'Z':
            pids.append(int(entry))
    return sorted(pids)


def workers_in_status(state_url):
    return {w['pid']: w for w in ctl_json(state_url, 'status')['workers']}


def all_workers_report(cluster, epoch=0):
    """Wait until every live gunicorn worker, and only they, report
    ``epoch`` or later with no problem; their records by pid, expired
    ones included.  (Read in-process: freeze-ctl takes seconds to start.)"""
    store = open_backend(cluster.url).ack_store()

    def check():
        records = {a.pid: a for a in store.records()}
        now = document.utcnow()
        live = {pid: a for pid, a in records.items()
                if acks.judge(a, epoch, now) != acks.EXPIRED}
        return (sorted(live) == worker_pids(cluster.api)
                and all(acks.judge(a, epoch, now) == acks.OK
                        and not a.problem for a in live.values())
                and records)
    return wait_until(check, 30, 0.05, what='every worker reports')


class Cluster:
    def __init__(self, api, url):
        self.api = api
        self.url = url


@pytest.fixture(scope='module')
def neutron_stub():
    """Answers the one neutron question nova's server list asks (the
    security groups of the servers' ports) with "no ports".  The harness has
    no neutron, and without an answer nova's GET /servers/detail fails."""
    def app(environ, start_response):
        bodies = {'/v2.0/ports': {'ports': []},
                  '/v2.0/security-groups': {'security_groups': []}}
        body = bodies.get(environ['PATH_INFO'].rstrip('/'))
        start_response('200 OK' if body is not None else '404 Not Found',
                       [('Content-Type', 'application/json')])
        return [json.dumps(body or {}).encode()]

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass
    server = make_server('127.0.0.1', 0, app, handler_class=Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{server.server_port}'
    server.shutdown()


@pytest.fixture(scope='module')
def cluster(cloud, etcd, paste_ini, neutron_stub):
    """nova-api with three workers on an etcd state of its own."""
    url = etcd.state_url(f'/e2e-{uuid.uuid4().hex[:8]}')
    api = cloud.start_nova(str(paste_ini), {
        'freeze': dict(FAST, state_url=url),
        'neutron': {'endpoint_override': neutron_stub}}, workers=3)
    yield Cluster(api, url)
    api.stop()


@pytest.fixture(scope='module')
def file_cluster(cloud, paste_ini, tmp_path_factory):
    """nova-api with two workers on a state file of its own, and a policy
    dir for the freeze's policy overlay."""
    work = tmp_path_factory.mktemp('file-cluster')
    (work / 'policy.d').mkdir()
    url = (work / 'state.json').as_uri()
    api = cloud.start_nova(str(paste_ini), {'freeze': dict(
        FAST, state_url=url, policy_dir=str(work / 'policy.d'))}, workers=2)
    yield Cluster(api, url)
    api.stop()


@pytest.fixture(scope='module')
def tokens(cloud):
    return {user: cloud.token(user)
            for user in ('admin', 'demo-member', 'demo-migration')}


def write(cluster, token, prefix='/v2.1'):
    """A cheap write: 404 when it reaches nova, 503 when the freeze stops
    it."""
    return call('DELETE', cluster.api.url + prefix + '/os-keypairs/missing',
                token=token).status


def identity(cloud, token):
    return call('GET', cloud.keystone_url + '/auth/tokens', token=token,
                headers={'X-Subject-Token': token}).body['token']


def flavors(cluster, token):
    return call('GET', cluster.api.url + '/v2.1/flavors', token=token)


@pytest.mark.parametrize('which', ['cluster', 'file_cluster'])
def test_on_and_off_return_once_every_worker_enforces(request, cloud, tokens,
                                                      which):
    cluster = request.getfixturevalue(which)
    member = tokens['demo-member']
    # nova's legacy v2 pipeline has a filter of its own: the same view.
    legacy = f"/v2/{identity(cloud, member)['project']['id']}"
    all_workers_report(cluster)
    epoch = ctl_json(cluster.url, 'on', '--mode', 'full', '--reason',
                     'cutover')['epoch']
    # No grace period: the moment it returns, no worker lets a write pass,
    # and every worker answering says it enforces the new epoch.
    answers = [call('GET', cluster.api.url + '/v2.1/os-freeze',
                    token=tokens['admin']).body['freeze'] for _ in range(30)]
    assert {a['epoch'] for a in answers} == {epoch}
    assert {write(cluster, member, prefix)
            for prefix in ('/v2.1', legacy) for _ in range(10)} == {503}
    rows = workers_in_status(cluster.url)
    assert sorted(rows) == worker_pids(cluster.api)
    assert {(r['epoch'], r['status']) for r in rows.values()} == {(epoch, 'ok')}
    ctl_json(cluster.url, 'off')
    assert {write(cluster, member, prefix)
            for prefix in ('/v2.1', legacy) for _ in range(10)} == {404}


@pytest.mark.parametrize('which, gone', [('cluster', 'absent'),
                                         ('file_cluster', 'expired')])
def test_a_killed_worker_expires(request, which, gone):
    """etcd drops its record with the lease; the file stays, expired."""
    cluster = request.getfixturevalue(which)
    all_workers_report(cluster)
    victim = worker_pids(cluster.api)[0]
    os.kill(victim, signal.SIGKILL)
    lagging = ctl(cluster.url, 'on', '--mode', 'writes', '--reason', 'cut',
                  '--wait', '0.3')
    assert lagging.returncode == 1
    assert f'pid {victim} (epoch' in lagging.stderr
    assert 'do not enforce it' in lagging.stderr
    # Waiting long enough, on returns once the dead worker has expired.
    epoch = ctl_json(cluster.url, 'on', '--mode', 'writes', '--reason', 'cut',
                     '--wait', '20')['epoch']
    all_workers_report(cluster, epoch)
    rows = workers_in_status(cluster.url)
    assert victim not in worker_pids(cluster.api)
    if gone == 'absent':
        assert victim not in rows
    else:
        assert rows[victim]['status'] == 'expired'
    ctl_json(cluster.url, 'off')


class Prober:
    """Keeps asking nova-api as a member, recording every answer."""

    def __init__(self, cluster, token):
        self.cluster, self.token = cluster, token
        self.answers = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            reply = flavors(self.cluster, self.token)
            self.answers.append((reply.status, reply.body))
            time.sleep(0.02)

    def stop(self):
        self._stop.set()
        self._thread.join()
        return self.answers


def blocked(cluster, token):
    """The freeze's message when a member's read is refused, else None."""
    reply = flavors(cluster, token)
    if reply.status == 503:
        return reply.body['serviceUnavailable']['message']
    assert reply.status == 200
    return None


@pytest.mark.parametrize('mode', [None, 'writes'])
def test_etcd_outage_keeps_then_fails_closed_then_recovers(
        cluster, etcd, tokens, mode):
    member, migration = tokens['demo-member'], tokens['demo-migration']
    if mode:
        epoch = ctl_json(cluster.url, 'on', '--mode', mode, '--reason',
                         'cut')['epoch']
    else:
        epoch = ctl_json(cluster.url, 'off')['epoch']
    prober = Prober(cluster, member)
    try:
        etcd.stop()
        stopped = time.monotonic()
        # Within stale_after (2 s) the last state read still holds...
        assert blocked(cluster, member) is None
        failed = ctl(cluster.url, 'on', '--mode', 'full', '--reason', 'x')
        assert failed.returncode == 1
        assert 'cannot read' in failed.stderr
        assert 'Connection refused' in failed.stderr
        # ... then fail_mode closed: a full freeze that says why.
        message = wait_until(lambda: blocked(cluster, member), 10, 0.05,
                             what='fail closed')
        # stale_after counts from the last good read, at most a heartbeat
        # (0.5 s) before etcd stopped.
        assert time.monotonic() - stopped >= 1.4
        assert 'cannot be read' in message
        assert write(cluster, migration) == 404
        assert flavors(cluster, tokens['admin']).status == 200
    finally:
        etcd.start()
    # Back without restarting nova-api, to the state as it was.
    wait_until(lambda: blocked(cluster, member) is None, 10, 0.05,
               what='recovery')
    answers = prober.stop()
    assert {status for status, _ in answers} == {200, 503}
    assert all('serviceUnavailable' in body
               for status, body in answers if status == 503)
    all_workers_report(cluster, epoch)
    assert open_backend(cluster.url).read().epoch == epoch
    if mode:
        assert write(cluster, member) == 503
        ctl_json(cluster.url, 'off')


def test_two_concurrent_on_commands(cluster):
    before = ctl_json(cluster.url, 'off')['epoch']
    runs = [subprocess.Popen(
        [sys.executable, '-m', 'freeze.cli.freeze_ctl', '--state',
         cluster.url, 'on', '--mode', mode, '--reason', 'race', '-f', 'json'],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for mode in ('full', 'network')]
    results = [(run.wait(timeout=60), *run.communicate()) for run in runs]
    won = [json.loads(out) for code, out, _ in results if code == 0]
    lost = [err for code, _, err in results if code != 0]
    assert won, results
    assert all(err.startswith('freeze-ctl: error: the freeze state in ')
               and 'changed while this command ran' in err
               and 'Traceback' not in err for err in lost)
    backend = open_backend(cluster.url)
    epochs = [h['new']['epoch'] for h in backend.history()
              if h['new']['epoch'] > before]
    assert epochs == list(range(before + 1, before + 1 + len(won)))
    final = backend.read()
    assert final.epoch == epochs[-1]
    if lost:
        assert final.mode == won[0]['mode']
    ctl_json(cluster.url, 'off')


def test_quiesce_waits_for_work_in_flight(cloud, cluster, tokens):
    env = dict(os.environ, **cloud.os_env('admin'),
               OS_COMPUTE_ENDPOINT_OVERRIDE=cluster.api.url + '/v2.1')
    conf = os.path.join(cluster.api.dir, 'nova.conf')
    token = identity(cloud, tokens['demo-member'])
    made = subprocess.run(
        [sys.executable, str(NOVADB), conf, 'stuck',
         token['project']['id'], token['user']['id']],
        capture_output=True, text=True, check=True)
    stuck = json.loads(made.stdout)
    ids = [stuck['server'], str(stuck['migration'])]
    try:
        started = time.monotonic()
        busy = ctl(cluster.url, 'on', '--mode', 'network', '--reason', 'cut',
                   '--quiesce', '--quiesce-timeout', '3', '-f', 'json',
                   env=env)
        assert busy.returncode == 1, busy.stderr
        assert time.monotonic() - started >= 3, busy.stderr
        assert 'still in flight after 3s' in busy.stderr
        assert f'server {ids[0]} stuck-in-build: scheduling (BUILD)' \
            in busy.stderr
        assert (f'migration {ids[1]} {ids[0]}: live-migration running '
                'on compute-1 -> compute-2') in busy.stderr
        assert json.loads(busy.stdout)['mode'] == 'network'  # frozen anyway
        subprocess.run([sys.executable, str(NOVADB), conf, 'settle', *ids],
                       capture_output=True, check=True)
        quiet = ctl(cluster.url, 'on', '--mode', 'network', '--reason', 'cut',
                    '--quiesce', '--quiesce-timeout', '30', env=env)
        assert quiet.returncode == 0, quiet.stderr
        assert 'nothing in flight: ready for the cut' in quiet.stderr
    finally:
        subprocess.run([sys.executable, str(NOVADB), conf, 'remove', *ids],
                       capture_output=True, check=True)
        ctl_json(cluster.url, 'off')


def test_quiesce_without_credentials_is_a_clear_error(cluster):
    env = {k: v for k, v in os.environ.items() if not k.startswith('OS_')}
    before = open_backend(cluster.url).read()
    result = ctl(cluster.url, 'on', '--mode', 'full', '--reason', 'cut',
                 '--quiesce', env=env)
    assert result.returncode == 1
    assert 'cannot check what is in flight' in result.stderr
    assert 'nothing was changed' in result.stderr
    assert open_backend(cluster.url).read() == before   # never frozen
    ctl_json(cluster.url, 'off')


def overlays(cluster):
    """Each live worker's overlay status against the state, by pid."""
    backend = open_backend(cluster.url)
    now = document.utcnow()
    return {row['pid']: row['overlay']
            for row in acks.rows(backend.ack_store().records(),
                                 backend.read(), now)
            if row['status'] != acks.EXPIRED}


def test_status_names_workers_whose_overlay_is_missing_or_stale(
        file_cluster):
    cluster = file_cluster
    nova_conf = os.path.join(cluster.api.dir, 'nova.conf')
    pids = worker_pids(cluster.api)
    wait_until(lambda: overlays(cluster) == {pid: 'ok' for pid in pids},
               15, 0.05, what='overlay absent while thawed')
    ctl_json(cluster.url, 'on', '--mode', 'full', '--reason', 'cut')
    wait_until(lambda: overlays(cluster) == {pid: 'missing' for pid in pids},
               15, 0.05, what='no overlay')
    ctl_json(cluster.url, '--config-file', nova_conf, 'on', '--mode',
             'writes', '--reason', 'cut', '--create-policy-file')
    wait_until(lambda: overlays(cluster) == {pid: 'ok' for pid in pids},
               15, 0.05, what='overlay written')
    ctl_json(cluster.url, 'on', '--mode', 'network', '--reason', 'cut')
    wait_until(lambda: overlays(cluster) == {
        pid: 'stale (mode writes)' for pid in pids}, 15, 0.05,
        what='overlay of another mode')
    table = ctl(cluster.url, 'status').stdout
    assert 'stale (mode writes)' in table and '| overlay ' in table
    ctl_json(cluster.url, '--config-file', nova_conf, 'off')
    wait_until(lambda: overlays(cluster) == {pid: 'ok' for pid in pids},
               15, 0.05, what='overlay removed')
