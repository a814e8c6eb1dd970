"""``resume --skip-fallen-back-hosts``: a run of the whole plan killed in a
stage where a host fell back goes on without that host, to the next point
of no return and, once confirmed, to its end; without the flag it stops
before the next stage, whatever ran since, as ``run`` does."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tools.fleet import Fleet, freeze_ctl_command

from freeze.cli import nova_cutover

REPO = str(Path(__file__).resolve().parents[2])


def test_resume_goes_on_without_the_fallen_back(tmp_path, capsys):
    fleet = Fleet(tmp_path / 'fleet', size=4).create()
    journal = 'sqlite:///%s' % (tmp_path / 'journal.sqlite')
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
