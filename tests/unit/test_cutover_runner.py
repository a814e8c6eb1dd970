"""The runner over a simulated fleet of real host directories and processes
(no freeze here but a state file where a point of no return needs one: the
e2e tests toggle the real one)."""

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from freeze.cutover import journal as journal_mod
from freeze.cutover import plan as plan_mod
from freeze.cutover import progress
from freeze.cutover import report
from freeze.cutover import runner as runner_mod
from freeze.cli import nova_cutover
from freeze.cutover import views
from tools.fleet import Fleet, freeze_ctl_command

REPO = str(Path(__file__).resolve().parents[2])


def make(tmp_path, confirm=False, skip_fallen=False):
    journal = journal_mod.Journal(f"sqlite:///{tmp_path / 'j.sqlite'}",
                                  create=True)
    out = io.StringIO()
    return runner_mod.Runner(journal, progress.Progress(out, tty=False),
                             confirm=confirm, skip_fallen=skip_fallen), out


def statuses(runner, stage):
    plan = runner.plan_of(runner.journal.runs()[-1])
    units = runner.units(stage)
    names = [s.name for s in plan.stage(stage).steps]
    return {h: runner_mod._unit(units, stage, h).status(names)
            for h in plan.hosts}


def test_failing_and_hanging_hosts_fall_back_alone(fleet, tmp_path):
    before = fleet.snapshot()
    fleet.inject('cmp003', 'switch')
    fleet.inject('cmp030', 'hang')
    plan = plan_mod.load(fleet.plan(stages=('compute-l2',), timeout=2))
    runner, out = make(tmp_path)
    assert runner.run(plan) == views.DONE_WITH_FALLBACKS
    result = statuses(runner, 'compute-l2')
    assert result.pop('cmp003') == result.pop('cmp030') == 'fallen-back'
    assert set(result.values()) == {'done'}
    after = fleet.snapshot()
    for host in ('cmp003', 'cmp030'):  # reverted byte for byte
        prefix = f'hosts/{host}/'
        assert {k: v for k, v in after.items() if k.startswith(prefix)} == \
            {k: v for k, v in before.items() if k.startswith(prefix)}
    assert 'event=host-fallen-back stage=compute-l2 host=cmp030 ' \
        'step="switch (timeout)"' in out.getvalue()
    rows = [r for r in runner.journal.rows() if r.unit == 'cmp003']
    assert 'neutron unreachable' in rows[0].output

    fleet.heal('cmp003', 'switch')
    fleet.heal('cmp030', 'hang')
    assert runner.run(plan, 'compute-l2', retry=True) == views.DONE
    assert set(statuses(runner, 'compute-l2').values()) == {'done'}
    assert all(fleet.completions(h, 'switch') == 1 for h in fleet.hosts)


def test_threshold_stops_and_reverts_the_batch_then_resume(fleet, tmp_path):
    before = fleet.snapshot()
    for host in ('cmp010', 'cmp011'):  # both in batch 2 of cell1
        fleet.inject(host, 'switch')
    plan = plan_mod.load(fleet.plan(stages=('compute-l2',),
                                    failure_threshold=2))
    runner, out = make(tmp_path)
    assert runner.run(plan) == views.STOPPED
    result = statuses(runner, 'compute-l2')
    assert all(result[f'cmp{i:03d}'] == 'done' for i in range(10))
    assert all(result[f'cmp{i:03d}'] == 'pending'
               for i in range(10, 50))
    p = runner.journal.runs()[-1]
    assert p.status == views.STOPPED and 'threshold 2' in p.note
    batch2 = {k: v for k, v in fleet.snapshot().items()
              if any(k.startswith(f'hosts/cmp{i:03d}/')
                     for i in range(10, 20))}
    assert batch2 == {k: v for k, v in before.items() if k in batch2}

    with pytest.raises(runner_mod.CutoverError, match='resume it or roll'):
        runner.run(plan)
    for host in ('cmp010', 'cmp011'):
        fleet.heal(host, 'switch')
    assert runner.resume() == views.DONE
    assert statuses(runner, 'compute-l2')['cmp012'] == 'done'
    assert runner.rollback() == views.ROLLED_BACK
    assert fleet.snapshot() == before


def test_stages_in_order_cell_by_cell_and_rollback_each(fleet, tmp_path):
    before = fleet.snapshot()
    plan = plan_mod.load(fleet.plan(stages=('proxy', 'compute-l2',
                                            'next-gen')))
    runner, _ = make(tmp_path)
    with pytest.raises(runner_mod.CutoverError, match='comes after proxy'):
        runner.run(plan, 'compute-l2')
    assert runner.run(plan, 'proxy') == views.DONE
    after_proxy = fleet.snapshot()
    assert runner.run(plan, 'compute-l2', ('cell2', None)) == views.DONE
    assert set(statuses(runner, 'compute-l2').values()) == {'done',
                                                             'pending'}
    with pytest.raises(runner_mod.CutoverError, match='partial'):
        runner.run(plan, 'next-gen')
    assert runner.run(plan) == views.DONE  # the rest: cell1, then next-gen
    assert set(statuses(runner, 'next-gen').values()) == {'done'}
    with pytest.raises(runner_mod.CutoverError, match='roll back next-gen'):
        runner.rollback('compute-l2')
    assert runner.rollback() == views.ROLLED_BACK          # next-gen
    assert runner.rollback() == views.ROLLED_BACK          # compute-l2, both
    assert fleet.snapshot() == after_proxy
    assert set(statuses(runner, 'compute-l2').values()) == {'pending'}
    assert runner.rollback() == views.ROLLED_BACK          # proxy
    assert fleet.snapshot() == before
    # Again (a rollback killed once it had finished): the same end.
    assert runner.rollback() == views.ROLLED_BACK
    assert runner.rollback('compute-l2') == views.ROLLED_BACK
    assert fleet.snapshot() == before
    with pytest.raises(runner_mod.CutoverError, match='nothing to roll'):
        runner.rollback('no-such-stage')
    with pytest.raises(runner_mod.CutoverError, match='nothing has run'):
        fresh = tmp_path / 'fresh'
        fresh.mkdir()
        make(fresh)[0].rollback()


def test_a_fallen_back_host_stays_out_of_later_stages(fleet, tmp_path):
    """cmp003 falls back in compute-l2: next-gen waits for a flag, then
    runs without it (skipped, and says why) until it is retried; cmp004,
    accepted by the operator, takes part again."""
    for host in ('cmp003', 'cmp004'):
        fleet.inject(host, 'switch')
    plan = plan_mod.load(fleet.plan(stages=('compute-l2', 'next-gen')))
    runner, out = make(tmp_path)
    assert runner.run(plan) == views.DONE_WITH_FALLBACKS
    assert 'event=done-with-fallbacks stage=compute-l2 hosts=2' in \
        out.getvalue()
    assert not runner.journal.runs()[-1].stage == 'next-gen'
    with pytest.raises(runner_mod.CutoverError, match='skip-fallen-back'):
        runner.run(plan, 'next-gen')
    fleet.heal('cmp004', 'switch')    # the operator sets it right by hand
    for step in plan.stage('compute-l2').steps:
        subprocess.run(['sh', '-c', plan.render(step.run, 'compute-l2',
                                                'cmp004')], check=True)
    assert runner.accept('compute-l2', ['cmp004']) == views.DONE
    with pytest.raises(runner_mod.CutoverError, match='not fallen back'):
        runner.accept('compute-l2', ['cmp005'])

    runner.skip_fallen = True
    assert runner.run(plan) == views.DONE_WITH_FALLBACKS
    assert fleet.completions('cmp003', 'ovs') == 0
    assert fleet.completions('cmp004', 'ovs') == 1  # accepted: taken again
    rows = {(r['host'], r['stage']): r for r in report.hosts(
        runner, runner.journal.runs(), runner.units())}
    assert rows['cmp003', 'next-gen']['status'] == 'skipped'
    assert rows['cmp003', 'next-gen']['why'] == 'fallen-back in compute-l2'
    assert rows['cmp004', 'compute-l2']['status'] == 'accepted'
    stages = {r['stage']: r for r in report.stages(
        runner, runner.journal.runs(), runner.units())}
    assert stages['next-gen']['status'] == 'done-with-fallbacks'
    assert stages['next-gen']['hosts'] == 'done 49, skipped 1'

    fleet.heal('cmp003', 'switch')
    runner.skip_fallen = False
    assert runner.run(plan, 'compute-l2', retry=True) == views.DONE
    assert runner.run(plan) == views.DONE   # next-gen: cmp003 now
    assert set(statuses(runner, 'next-gen').values()) == {'done'}
    assert all(fleet.completions(h, 'ovs') == 1 for h in fleet.hosts)
    assert runner.rollback_all() == views.ROLLED_BACK
    result = statuses(runner, 'compute-l2')
    assert result.pop('cmp004') == 'accepted'   # as the operator set it
    assert set(result.values()) == {'pending'}


def test_resume_goes_on_to_the_end_of_a_whole_run(fleet, tmp_path):
    """A run of ``run PLAN`` stopped (its batch threshold): once resumed,
    the run goes on to the next stage; killed between two stages, resume
    starts the next.  A run of ``run --stage S`` stays that one stage."""
    plan = plan_mod.load(fleet.plan(stages=('compute-l2', 'next-gen'),
                                    failure_threshold=2))
    runner, _ = make(tmp_path)

    def stopped(*args):
        for host in ('cmp010', 'cmp011'):
            fleet.inject(host, 'switch')
        assert runner.run(plan, *args) == views.STOPPED
        for host in ('cmp010', 'cmp011'):
            fleet.heal(host, 'switch')

    def stage_status(name):
        return runner.stage_status(plan, plan.stage(name),
                                   runner.journal.runs(), runner.units())
    stopped('compute-l2')
    assert runner.resume() == views.DONE
    assert stage_status('next-gen') == 'not-started'
    assert runner.rollback() == views.ROLLED_BACK
    stopped()
    assert runner.resume() == views.DONE
    assert stage_status('compute-l2') == stage_status('next-gen') == 'done'

    class Killed(Exception):
        pass

    class KilledAfterAStage(progress.Progress):
        def event(self, event, **fields):
            super().event(event, **fields)
            if event == 'stage-done' and fields['stage'] == 'compute-l2':
                raise Killed()       # between two stages of a whole run
    assert runner.rollback_all() == views.ROLLED_BACK
    killed = runner_mod.Runner(runner.journal, KilledAfterAStage(
        io.StringIO(), tty=False))
    with pytest.raises(Killed):
        killed.run(plan)
    assert stage_status('next-gen') == 'rolled-back'
    assert runner.resume() == views.DONE
    assert stage_status('next-gen') == 'done'


def test_rollback_dry_run_then_all(fleet, tmp_path):
    before = fleet.snapshot()
    plan = plan_mod.load(fleet.plan(stages=('proxy', 'compute-l2',
                                            'next-gen')))
    runner, _ = make(tmp_path)
    assert runner.run(plan) == views.DONE
    after = fleet.snapshot()
    last = runner.rollback_preview()
    assert [(r['stage'], r['step']) for r in last] == [
        ('next-gen', 'ovs')] * 50
    assert last[0]['revert'] == plan.render(plan.stage('next-gen').steps[0]
                                            .revert, 'next-gen', 'cmp000')
    every = runner.rollback_preview(every=True)
    assert [r['stage'] for r in every] == sorted(
        [r['stage'] for r in every], key=['next-gen', 'compute-l2',
                                          'proxy'].index)
    assert [r['step'] for r in every if r['unit'] == 'cmp007'] == [
        'ovs', 'l2-agent', 'switch']          # health has no revert
    assert [r['step'] for r in every if r['stage'] == 'proxy'] == [
        'start-proxy']
    assert fleet.snapshot() == after           # nothing ran
    assert runner.rollback_all() == views.ROLLED_BACK
    assert fleet.snapshot() == before
    assert runner.rollback_preview(every=True) == []


def test_a_command_that_never_ended_is_resolved_not_left_in_doubt(
        fleet, tmp_path):
    """The runner was killed before it let cmp001's switch through its
    gate: resume journals that row as lost, switches cmp001, and ``log
    --failed`` lists nothing."""
    plan = plan_mod.load(fleet.plan(stages=('compute-l2',)))
    runner, out = make(tmp_path)
    gone = subprocess.Popen(['true'])
    gone.wait()
    p = runner.journal.new_run('compute-l2', plan.text, plan.hosts,
                                list(plan.hosts))
    row = runner.journal.intent(p, 'compute-l2', 'cmp001', 'switch', 'do',
                                'never let through', gone.pid, 1.0,
                                str(tmp_path / 'never.log'))
    assert runner.resume() == views.DONE
    assert 'event=collected stage=compute-l2 unit=cmp001 step=switch ' \
        'op=do status=lost' in out.getvalue()
    assert set(statuses(runner, 'compute-l2').values()) == {'done'}
    assert fleet.completions('cmp001', 'switch') == 1
    rows = runner.journal.rows()
    assert next(r for r in rows if r.id == row).status == 'lost'
    assert report.log(rows, failed=True) == []


def test_a_failure_budget_stops_the_stage_across_batches(fleet, tmp_path):
    """One failure per batch never reaches the threshold (2); the stage's
    budget of 3 stops the run at the third, and reverts that batch."""
    for host in ('cmp001', 'cmp011', 'cmp021'):   # batches 1, 2 and 3
        fleet.inject(host, 'switch')
    text = yaml.safe_load(fleet.plan(stages=('compute-l2',),
                                     failure_threshold=2))
    text['defaults']['failure_budget'] = 3
    plan = plan_mod.load(yaml.safe_dump(text))
    runner, _ = make(tmp_path)
    assert runner.run(plan) == views.STOPPED
    p = runner.journal.runs()[-1]
    assert 'failure budget spent: 3 of the run\'s 50 hosts failed ' \
        '(budget 3): batch 3 is reverted' in p.note
    result = statuses(runner, 'compute-l2')
    assert [h for h, s in result.items() if s == 'done'] == [
        f'cmp{i:03d}' for i in range(20) if i not in (1, 11)]
    assert result['cmp025'] == result['cmp045'] == 'pending'


def test_no_log_directory_is_one_clear_line(tmp_path, monkeypatch, capsys):
    from freeze.cli import nova_cutover
    fleet = Fleet(tmp_path / 'fleet', size=2)     # its files are not needed
    (tmp_path / 'a-file').write_text('')
    monkeypatch.setenv('NOVA_CUTOVER_LOGS', str(tmp_path / 'a-file' / 'x'))
    plan = tmp_path / 'plan.yaml'
    plan.write_text(fleet.plan(stages=('proxy',)))
    journal = f"sqlite:///{tmp_path / 'j.sqlite'}"
    assert nova_cutover.main(['--journal', journal, 'run', str(plan)]) == 1
    err = capsys.readouterr().err
    assert err.startswith('nova-cutover: error: cannot make the log '
                          'directory') and err.count('\n') == 1
    monkeypatch.setenv('NOVA_CUTOVER_LOGS', str(tmp_path / 'logs'))
    journal = journal_mod.Journal(f"sqlite:///{tmp_path / 'j.sqlite'}")
    assert journal.runs() == []           # nothing started
    journal.acquire()                       # the lease was given back
    journal.release()


def test_status_says_when_the_freeze_cannot_be_read():
    def plan(command, freeze=True):
        stage = {'name': 'a', 'commands': [{'name': 'c', 'run': 'true'}]}
        if freeze:
            stage['freeze'] = {'mode': 'full'}
        return plan_mod.load(yaml.safe_dump({
            'name': 'x', 'freeze': {'command': command}, 'stages': [stage]}))
    runner = runner_mod.Runner(None, None)
    state = runner.freeze_now(plan('sh -c "echo etcd down >&2; exit 2" --'))
    assert report.freeze_line(state) == \
        'freeze: unknown (freeze-ctl status: etcd down)'
    assert runner.freeze_now(plan('false', freeze=False)) is None


def test_resume_goes_on_without_the_fallen_back(tmp_path, capsys):
    """``resume --skip-fallen-back-hosts``: a run of the whole plan killed in
    a stage where a host fell back goes on without that host, to the next
    point of no return and, once confirmed, to its end; without the flag it
    stops before the next stage, whatever ran since, as ``run`` does."""
    fleet = Fleet(tmp_path / 'fleet', size=4).create()
    journal = f"sqlite:///{tmp_path / 'journal.sqlite'}"
    try:
        plan = tmp_path / 'plan.yaml'
        plan.write_text(fleet.plan(
            stages=('compute-l2', 'translate', 'next-gen'),
            freeze_command=freeze_ctl_command(
                (tmp_path / 'state.json').as_uri()),
            batch_size=2, concurrency=2))
        fleet.inject('cmp000', 'switch')
        fleet.inject('cmp002', 'pause')   # holds the stage mid-way
        runner = subprocess.Popen(
            [sys.executable, '-m', 'freeze.cli.nova_cutover', '--journal',
             journal, 'run', str(plan)], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, env=dict(os.environ, PYTHONPATH=REPO))
        while not (fleet.dir('cmp002') / 'paused').exists():
            assert runner.poll() is None
            time.sleep(0.05)
        runner.send_signal(signal.SIGKILL)
        runner.wait()
        fleet.heal('cmp002', 'pause')

        def cutover(*args):
            return nova_cutover.main(['--journal', journal, *args])
        assert cutover('resume', '--skip-fallen-back-hosts') == 3
        # without the flag the rest of the plan waits, as run's would
        assert cutover('resume', '--confirm-point-of-no-return') == 1
        assert fleet.completions('cmp001', 'ovs') == 0
        capsys.readouterr()
        assert cutover('resume', '--skip-fallen-back-hosts') == 1  # one behind
        assert 'event=done-with-fallbacks stage=next-gen' in \
            capsys.readouterr().err
        assert [fleet.completions(h, 'ovs') for h in sorted(fleet.hosts)] \
            == [0, 1, 1, 1]
    finally:
        fleet.stop()
