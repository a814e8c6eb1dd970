"""The runbook against the real nova-api and Keystone.

nova-cutover toggles the real freeze with freeze-ctl around each stage:
while compute-l2 runs (a host holds it mid-stage), a member's
network-changing call gets 503 and a plain write runs, and the stage's
grant exists in Keystone; after it, nova answers again and the grant is
gone.  Each stage is then rolled back: every host's files byte for byte,
the freeze and grants as before.
"""

import json
import os
import subprocess
import sys
import time
import uuid

import pytest

from tools.fleet import freeze_ctl_command
from tests.helpers import wait_until
from tools.localcloud import call

MISSING = str(uuid.UUID(int=0))


@pytest.fixture
def cutover(cloud, tmp_path):
    env = dict(os.environ, **cloud.os_env('admin'))

    def start(*args):
        return subprocess.Popen(
            [sys.executable, '-m', 'freeze.cli.nova_cutover', '--journal',
             f"sqlite:///{tmp_path / 'journal.sqlite'}"] + list(args),
            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
    return start


def finish(proc, expected=0):
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == expected, out
    return out


def statuses(cloud):
    """A member's migrate (network change) and keypair create (plain write)."""
    token = cloud.token('demo-member')
    migrate = call('POST', f'{cloud.nova_url}/v2.1/servers/{MISSING}/action',
                   body={'migrate': None}, token=token).status
    keypair = call('POST', cloud.nova_url + '/v2.1/os-keypairs',
                   body={'keypair': {'name': f'kp-{uuid.uuid4().hex}'}},
                   token=token).status
    return migrate, keypair


def admin_has_migration_on_demo(cloud):
    token = cloud.token('admin')
    base = cloud.keystone_url
    user = call('GET', base + '/users?name=admin', token=token
                ).body['users'][0]['id']
    project = call('GET', base + '/projects?name=demo', token=token
                   ).body['projects'][0]['id']
    reply = call('GET', f'{base}/role_assignments?include_names'
                 f'&user.id={user}&scope.project.id={project}', token=token)
    return 'migration' in {a['role']['name']
                           for a in reply.body['role_assignments']}


def wait_for_nova(cloud, expected, timeout=10.0):
    """The freeze reaches every nova-api worker within a second or so."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        got = statuses(cloud)
        if got == expected:
            return
        time.sleep(0.1)
    pytest.fail(f'nova answered {got}, not {expected}')


def test_the_whole_cutover_with_the_real_freeze(cloud, freeze_state_path,
                                                fleet, cutover, tmp_path):
    wait_for_nova(cloud, (404, 200))
    assert not admin_has_migration_on_demo(cloud)
    plan = tmp_path / 'plan.yaml'
    plan.write_text(fleet.plan(
        freeze_command=freeze_ctl_command(freeze_state_path.as_uri()),
        grants=('admin:demo',)))
    initial = fleet.snapshot()
    finish(cutover('run', str(plan), '--stage', 'proxy'))
    after_proxy = fleet.snapshot()

    fleet.inject('cmp042', 'pause')
    running = cutover('run', str(plan), '--stage', 'compute-l2')
    wait_until(lambda: (fleet.dir('cmp042') / 'paused').exists(),
               timeout=30, interval=0.05, what='cmp042 paused')
    wait_for_nova(cloud, (503, 200))      # network changes frozen only
    assert admin_has_migration_on_demo(cloud)
    fleet.heal('cmp042', 'pause')
    finish(running)
    wait_for_nova(cloud, (404, 200))      # thawed after the stage
    assert not admin_has_migration_on_demo(cloud)
    after_l2 = fleet.snapshot()

    out = finish(cutover('run', str(plan), '--stage', 'translate'), 3)
    assert 'point of no return' in out and 'floating IPs' in out
    wait_for_nova(cloud, (503, 503))      # still frozen, full
    finish(cutover('resume', '--confirm-point-of-no-return'))
    wait_for_nova(cloud, (404, 200))
    after_translate = fleet.snapshot()
    finish(cutover('run', str(plan)))     # next-gen: the rest
    states = json.loads(finish(cutover('status', '-f', 'json')))
    assert {s['stage']: s['status'] for s in states} == dict.fromkeys(
        ('proxy', 'compute-l2', 'translate', 'next-gen'), 'done')

    finish(cutover('rollback'))           # next-gen
    assert fleet.snapshot() == after_translate
    out = finish(cutover('rollback'), 1)
    assert 'point of no return' in out and 'floating IPs' in out
    finish(cutover('rollback', '--confirm-point-of-no-return'))
    assert fleet.snapshot() == after_l2
    wait_for_nova(cloud, (404, 200))      # the freeze as before the stage
    finish(cutover('rollback'))
    assert fleet.snapshot() == after_proxy
    wait_for_nova(cloud, (404, 200))
    assert not admin_has_migration_on_demo(cloud)
    finish(cutover('rollback', '--stage', 'proxy'))
    assert fleet.snapshot() == initial


def test_rollback_restores_a_freeze_that_was_on(cloud, freeze_state_path,
                                                fleet, cutover, tmp_path):
    """A stage started inside an operator's own freeze window leaves it as
    it found it: mode, reason, and no grant of its own."""
    ctl = freeze_ctl_command(freeze_state_path.as_uri())
    env = dict(os.environ, **cloud.os_env('admin'))

    def freeze_ctl(*args):
        result = subprocess.run(f"{ctl} {' '.join(args)} -f json",
                                shell=True, env=env, capture_output=True,
                                text=True)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)
    freeze_ctl('on', '--mode', 'writes', '--reason', 'operators-window')
    try:
        plan = tmp_path / 'plan.yaml'
        plan.write_text(fleet.plan(stages=('compute-l2',), freeze_command=ctl,
                                   grants=('admin:demo',)))
        finish(cutover('run', str(plan)))
        assert not freeze_ctl('status')['frozen']  # the stage thawed
        finish(cutover('rollback'))
        state = freeze_ctl('status')
        assert (state['frozen'], state['mode'], state['reason']) == (
            True, 'writes', 'operators-window')
        assert not admin_has_migration_on_demo(cloud)
    finally:
        freeze_ctl('off')
