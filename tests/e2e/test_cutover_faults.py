"""nova-cutover killed (SIGKILL) at random moments, then resumed.

A real fleet of 50 host directories and processes, the real freeze-ctl on a
state file, the runner as its own process.  Whatever the moment of the
kill: resume finishes the stage, no host step runs to completion twice, the
failing host still falls back alone, the freeze ends thawed; and a rollback,
killed too, restores every host's files byte for byte.  Twenty more seeds
over small fleets whose steps print for a while, so most kills land inside
a command.  Then the moments where a kill could lose or repeat work, each
forced: a command outliving its killed runner, a kill during a confirmed
thaw, two runners racing for the lease (sqlite, PostgreSQL and MySQL:
MariaDB).
"""

import concurrent.futures
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time

import pytest
import yaml

from freeze.cutover import executor
from freeze.cutover import journal as journal_mod
from freeze.cutover import runner as runner_mod
from freeze.cutover import views
from tools.fleet import Fleet, freeze_ctl_command
from tests.helpers import wait_until

#: (seed, with the real freeze): freeze-ctl takes most of a run's time,
#: so more seeds run without it
CASES = [(0, True), (1, False)]
#: the quick random test: seeds, each a fleet of its own, run 4 at a time
QUICK_SEEDS = range(20)


class Cutover:
    """nova-cutover as the operator runs it, in its own process."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.journal = f"sqlite:///{workdir / 'journal.sqlite'}"

    def start(self, *args):
        return subprocess.Popen(
            [sys.executable, '-m', 'freeze.cli.nova_cutover', '--journal',
             self.journal] + list(args), cwd=self.workdir,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def __call__(self, *args):
        proc = self.start(*args)
        out, _ = proc.communicate(timeout=120)
        return proc.returncode, out.decode()

    def stage(self, name):
        if not (self.workdir / 'journal.sqlite').exists():
            return {'status': 'not-started'}  # killed before it began
        rc, out = self('status', '-f', 'json')
        assert rc == 0, out
        # Killed after the journal was made but before its first run: the
        # journal knows no stage yet.
        return next((s for s in json.loads(out)
                     if s['stage'] == name), {'status': 'not-started'})

    def killed_after(self, seconds, *args):
        proc = self.start(*args)
        try:
            proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stdout.close()


def frozen(state):
    return state.exists() and json.loads(state.read_text())['frozen']


@pytest.mark.parametrize('seed, with_freeze', CASES)
def test_killed_at_random_then_resumed(seed, with_freeze, fleet, tmp_path):
    rng = random.Random(seed)
    broken = f'cmp{rng.randrange(50):03d}'
    fleet.inject(broken, 'switch')
    state = tmp_path / 'state.json'
    plan = tmp_path / 'plan.yaml'
    plan.write_text(fleet.plan(
        stages=('compute-l2',), freeze_command=freeze_ctl_command(
            state.as_uri()) if with_freeze else None))
    before = fleet.snapshot()
    cutover = Cutover(tmp_path)

    span = 4.0 if with_freeze else 2.0  # about a whole run
    cutover.killed_after(rng.uniform(0.3, span), 'run', str(plan))
    for attempt in range(8):
        status = cutover.stage('compute-l2')['status']
        if status == 'done-with-fallbacks':   # the broken host
            break
        command = ('resume',) if status != 'not-started' else (
            'run', str(plan))
        if attempt < 2:
            cutover.killed_after(rng.uniform(0.1, span), *command)
        else:
            rc, out = cutover(*command)
            assert rc == 1 and 'event=done-with-fallbacks' in out, out
    assert cutover.stage('compute-l2')['hosts'] == 'done 49, fallen-back 1'
    for host in fleet.hosts:
        expected = 0 if host == broken else 1
        for step in ('switch', 'l2-agent'):
            assert fleet.completions(host, step) == expected, (host, step)
        assert fleet.alive(host, 'compute')
    assert not frozen(state)

    cutover.killed_after(rng.uniform(0.1, span / 2), 'rollback')
    rc, out = cutover('rollback')
    assert rc == 0, out
    assert cutover.stage('compute-l2')['status'] == 'rolled-back'
    assert fleet.snapshot() == before
    assert not frozen(state)


@pytest.mark.parametrize('rc', [0, 3])
def test_a_command_outlives_its_killed_runner_and_is_collected(rc,
                                                               tmp_path):
    """SIGKILL the runner while its command prints line after line: the
    command runs on to its end, ``resume`` says it waits for it, does not
    run it again and journals its real exit status and output."""
    marks = tmp_path / 'apply.log'
    plan = tmp_path / 'plan.yaml'
    plan.write_text(yaml.safe_dump({
        'name': 'long', 'vars': {'marks': str(marks)},
        'stages': [{'name': 'translate', 'commands': [{
            'name': 'apply', 'timeout': 60,
            'run': 'echo start >> {marks}; i=0; while [ $i -lt 40 ]; do '
                   'echo "line $i"; i=$((i+1)); sleep 0.05; done; '
                   'echo end >> {marks}; ' f'exit {rc}'}]}]}))
    cutover = Cutover(tmp_path)
    runner = cutover.start('run', str(plan))
    wait_until(marks.exists, timeout=30, interval=0.02)
    time.sleep(0.3)                       # a few lines printed already
    runner.kill()
    runner.wait()
    runner.stdout.close()
    assert marks.read_text() == 'start\n'  # still running, not ended

    code, out = cutover('resume')
    assert code == (0 if rc == 0 else 1), out
    assert 'event=waiting' in out and 'step=apply' in out
    assert 'until=' in out and 'pid=' in out
    assert marks.read_text() == 'start\nend\n'  # ran once, to its end
    code, out = cutover('log', '-f', 'json')
    (row,) = json.loads(out)
    assert (row['status'], row['rc']) == ('ok' if rc == 0 else 'failed', rc)
    assert 'line 0\n' in row['output'] and 'line 39\n' in row['output']


def test_a_confirmation_survives_a_kill_during_the_thaw(tmp_path):
    """``resume --confirm-point-of-no-return`` killed while freeze-ctl
    thaws: ``status`` shows the freeze as freeze-ctl reports it, and a
    plain ``resume`` finishes the stage without asking again."""
    fleet = Fleet(tmp_path / 'fleet', size=2).create()
    state = tmp_path / 'state.json'
    offs = tmp_path / 'offs'
    ctl = tmp_path / 'slow-freeze-ctl'
    ctl.write_text(f'#!/bin/sh\ncase " $* " in *" off "*) echo off >> {offs}; '
                   'sleep 1;; esac\nexec '
                   f'{freeze_ctl_command(state.as_uri())} "$@"\n')
    ctl.chmod(0o755)
    plan = tmp_path / 'plan.yaml'
    plan.write_text(fleet.plan(stages=('translate',),
                               freeze_command=str(ctl)))
    cutover = Cutover(tmp_path)
    code, out = cutover('run', str(plan))
    assert code == 3 and 'point of no return' in out, out
    assert frozen(state)

    runner = cutover.start('resume', '--confirm-point-of-no-return')
    wait_until(offs.exists, timeout=30, interval=0.02)
    runner.kill()
    runner.wait()
    runner.stdout.close()
    # the thaw ran on to its end
    wait_until(lambda: not frozen(state), timeout=30, interval=0.02)
    code, out = cutover('freeze', '-f', 'value', '-c', 'frozen')
    assert (code, out) == (0, 'False\n'), out
    code, out = cutover('status', '-f', 'json')
    [stage] = json.loads(out)
    assert stage['status'] != 'awaiting-confirmation'
    assert stage['note'].startswith('interrupted')

    code, out = cutover('resume')
    assert code == 0, out
    assert cutover.stage('translate')['status'] == 'done'
    assert offs.read_text() == 'off\n'    # thawed once
    code, out = cutover('status')
    assert 'freeze (freeze-ctl status now): thawed' in out


#: One of two racing runners.  It stops at the moment that matters (its
#: first write to the journal, or between reading the lease's owner and
#: replacing it) until its peer stops there too, so both have looked before
#: either acts; then it opens the journal (``create``) and takes the lease.
RACER = '''
import os, sys, time
import sqlalchemy as sa
from freeze.cutover import journal as j
url, where, mine, peer = sys.argv[1:5]
stopped = []

def barrier():
    if stopped:
        return
    stopped.append(1)
    open(mine, 'w').close()
    deadline = time.monotonic() + 10
    while not os.path.exists(peer) and time.monotonic() < deadline:
        time.sleep(0.005)

def on_statement(conn, cursor, statement, *args):
    words = statement.lstrip().upper()
    if where == 'create' and words.startswith('CREATE TABLE') or \\
            where == 'lease' and 'CUTOVER_META' in words and \\
            words.startswith(('INSERT', 'UPDATE', 'DELETE')):
        barrier()

real_alive = j._alive

def alive(owner):
    if where == 'owner':
        barrier()
    return real_alive(owner)

sa.event.listen(sa.engine.Engine, 'before_cursor_execute', on_statement)
j._alive = alive
try:
    journal = j.Journal(url, create=True)
    journal.acquire()
except j.JournalError as exc:
    print('refused: %s' % exc)
    sys.exit(0)
print('acquired', flush=True)
time.sleep(2)   # held while the peer looks
journal.release()
'''


def race(url, where, tmp_path):
    """Two runners at once; what each of them said."""
    procs = [subprocess.Popen(
        [sys.executable, '-c', RACER, url, where,
         str(tmp_path / f'at-{where}-{i}'),
         str(tmp_path / f'at-{where}-{1 - i}')],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for i in (0, 1)]
    said = sorted(p.communicate(timeout=60)[0].strip() for p in procs)
    for i in (0, 1):  # both stopped at the moment: the interleaving was forced
        assert (tmp_path / f'at-{where}-{i}').exists(), said
    return said


def dead_owner(url):
    """The lease as a killed runner left it."""
    gone = subprocess.Popen(['true'])
    gone.wait()
    journal = journal_mod.Journal(url)
    with journal.engine.begin() as conn:
        conn.execute(journal_mod.meta_table.insert(), [{
            'key': journal_mod.LEASE,
            'value': f'{socket.gethostname()}:{gone.pid}:1.00'}])
    journal.engine.dispose()


def one_wins(said):
    assert said[0] == 'acquired', said
    assert said[1].startswith('refused: another nova-cutover ('), said


def check_two_runners_racing(url, tmp_path):
    one_wins(race(url, 'create', tmp_path))   # a fresh journal
    one_wins(race(url, 'lease', tmp_path))    # a free lease
    dead_owner(url)
    one_wins(race(url, 'owner', tmp_path))    # a killed runner's lease


#: each backend's fresh journal URL (the SQL servers from their fixtures)
JOURNALS = {
    'sqlite': lambda request, tmp_path: f"sqlite:///{tmp_path / 'j.sqlite'}",
    'postgresql': lambda request, tmp_path: request.getfixturevalue(
        'postgres').create_database('journal'),
    'mysql': lambda request, tmp_path: request.getfixturevalue(
        'mysql').create_database('journal'),
}


@pytest.mark.parametrize('backend', sorted(JOURNALS))
def test_two_runners_racing(backend, request, tmp_path, monkeypatch):
    # A server's journal keeps its commands' logs in a fixed place by
    # default (/var/lib/nova-cutover/logs): not this machine's.
    monkeypatch.setenv('NOVA_CUTOVER_LOGS', str(tmp_path / 'logs'))
    check_two_runners_racing(JOURNALS[backend](request, tmp_path), tmp_path)


def slow_steps(plan_text):
    """Each host step prints for ~0.3 s first: most kills land in one."""
    data = yaml.safe_load(plan_text)
    for stage in data['stages']:
        for step in stage.get('steps', []):
            step['run'] = ('for i in 1 2 3; do echo tick $i; sleep 0.1; '
                           'done; ' + step['run'])
    return yaml.safe_dump(data, sort_keys=False)


def one_quick_seed(seed, root):
    """kill -9 at a random moment of ``run``, then of ``resume``, then
    ``resume`` to the end: each step ran to its end once, the broken host
    fell back alone, and no command is left in doubt."""
    rng = random.Random(seed)
    root.mkdir()
    fleet = Fleet(root / 'fleet', size=8).create()
    try:
        broken = f'cmp{rng.randrange(8):03d}'
        fleet.inject(broken, 'switch')
        plan = root / 'plan.yaml'
        plan.write_text(slow_steps(fleet.plan(
            stages=('compute-l2',), batch_size=4, concurrency=4,
            failure_threshold=2)))
        cutover = Cutover(root)

        def next_command():
            try:
                runs = journal_mod.Journal(cutover.journal).runs()
            except journal_mod.JournalError:  # killed before its tables
                runs = []
            if not runs:
                return ('run', str(plan))
            if runs[-1].status in views.UNFINISHED:
                return ('resume',)
            return None                       # killed once it had finished
        cutover.killed_after(rng.uniform(0.3, 2.5), 'run', str(plan))
        if next_command():
            cutover.killed_after(rng.uniform(0.1, 2.0), *next_command())
        out = ''
        if next_command():
            code, out = cutover(*next_command())
            assert code == 1 and 'event=done-with-fallbacks' in out, out
        journal = journal_mod.Journal(cutover.journal)
        runner = runner_mod.Runner(journal, None)
        loaded = runner.plan_of(journal.runs()[-1])
        statuses = runner.host_statuses(loaded, loaded.stage('compute-l2'),
                                        runner.units())
        assert statuses.pop(broken) == 'fallen-back', seed
        assert set(statuses.values()) == {'done'}, (seed, statuses)
        for host in fleet.hosts:
            for step in ('switch', 'l2-agent'):
                assert fleet.completions(host, step) == (
                    host != broken), (seed, host, step, out)
        assert not [r for r in journal.rows() if r.status == 'intent'
                    and executor.collected(r.log) is not None], seed
    finally:
        fleet.stop()


def test_killed_at_random_quick_seeds(tmp_path):
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda seed: one_quick_seed(
            seed, tmp_path / f'seed{seed}'), QUICK_SEEDS))
