"""``resume --skip-fallen-back-hosts``: a run of the whole plan that went on
past a fallen-back host, stopped at a point of no return, goes on to its end
without that host once confirmed, as ``run --skip-fallen-back-hosts`` did;
without the flag it stops before the next stage, whatever ran since."""

from fleet import Fleet, freeze_ctl_command

from freeze.cli import nova_cutover


def test_resume_after_the_point_of_no_return_skips_the_fallen(tmp_path,
                                                               capsys):
    fleet = Fleet(tmp_path / 'fleet', size=4).create()
    try:
        plan = tmp_path / 'plan.yaml'
        plan.write_text(fleet.plan(
            stages=('compute-l2', 'translate', 'next-gen'),
            freeze_command=freeze_ctl_command(
                (tmp_path / 'state.json').as_uri()),
            batch_size=2, concurrency=2))
        fleet.inject('cmp001', 'switch')

        def cutover(*args):
            return nova_cutover.main(['--journal', 'sqlite:///%s' % (
                tmp_path / 'journal.sqlite'), *args])
        assert cutover('run', str(plan), '--skip-fallen-back-hosts') == 3
        # without the flag the rest of the plan waits, as run's would
        assert cutover('resume', '--confirm-point-of-no-return') == 1
        assert fleet.completions('cmp000', 'ovs') == 0
        capsys.readouterr()
        assert cutover('resume', '--skip-fallen-back-hosts') == 1  # one behind
        assert 'event=done-with-fallbacks stage=next-gen' in \
            capsys.readouterr().err
        assert [fleet.completions(h, 'ovs') for h in sorted(fleet.hosts)] \
            == [1, 0, 1, 1]
    finally:
        fleet.stop()
