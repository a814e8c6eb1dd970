"""Journal rows -> host state: the same answer during a run and after a
crash."""

from freeze.cutover import views
from freeze.cutover.journal import Row

STEPS = ['switch', 'l2', 'health']


def row(op, step, status, run_id=1):
    return Row(0, run_id, 's', 'h', step, op, status)


def test_pending_done_and_in_doubt():
    assert views.unit_view([]).status(STEPS) == 'pending'
    done = [row('do', s, 'ok') for s in STEPS]
    assert views.unit_view(done).status(STEPS) == 'done'
    doubt = views.unit_view(done[:1] + [row('do', 'l2', 'intent')])
    assert doubt.status(STEPS) == 'running'
    assert doubt.in_doubt.step == 'l2'
    assert doubt.to_revert() == ['l2', 'switch']  # may have run: revert it


def test_a_check_settles_or_leaves_the_doubt():
    base = [row('do', 'switch', 'intent')]
    settled = views.unit_view(base + [row('check', 'switch', 'ok')])
    assert settled.completed == ['switch'] and settled.in_doubt is None
    still = views.unit_view(base + [row('check', 'switch', 'failed')])
    assert still.in_doubt.step == 'switch' and still.completed == []


def test_a_failure_stays_failing_until_marked():
    rows = [row('do', 'switch', 'ok'), row('do', 'l2', 'timeout'),
            row('revert', 'l2', 'ok')]
    view = views.unit_view(rows)
    # cut short mid-fallback: still failing, switch still to revert
    assert view.status(STEPS) == 'failing'
    assert view.to_revert() == ['switch']
    rows += [row('revert', 'switch', 'ok'),
             row('mark', '', views.MARK_FALLEN_BACK)]
    view = views.unit_view(rows)
    assert view.status(STEPS) == 'fallen-back' and view.mark_run == 1


def test_pending_again_after_batch_revert_or_rollback():
    for mark in views.PENDING_MARKS:
        rows = [row('do', 'switch', 'ok'), row('revert', 'switch', 'ok'),
                row('mark', '', mark)]
        assert views.unit_view(rows).status(STEPS) == 'pending'


def test_a_stuck_revert_keeps_what_is_applied():
    rows = [row('do', 'switch', 'ok'), row('do', 'l2', 'failed'),
            row('revert', 'l2', 'failed'),
            row('mark', '', views.MARK_STUCK)]
    view = views.unit_view(rows)
    assert view.status(STEPS) == 'revert-failed'
    assert view.to_revert() == ['l2', 'switch']


def test_a_lost_action_is_no_longer_in_doubt_but_may_have_applied():
    lost = views.unit_view([row('do', 'switch', 'ok'),
                            row('do', 'l2', 'lost')])
    assert lost.in_doubt is None and lost.failed is None
    assert lost.completed == ['switch'] and lost.to_revert() == ['l2',
                                                                 'switch']
    assert lost.status(STEPS) == 'running'
