"""The demo's figures (tools/loadgen.py): a request counts as inside a freeze
window only once the freeze is in force on every worker, which is when the
freeze-ctl command that made it returned, as the journal timed it."""

from freeze.cutover.timeline import iso
from tools import loadgen

T = 1_800_000_000.0   # any moment


def report(windows, commands):
    """``report -f json`` reduced to what the figures read: the windows
    (start, end after T) and the stage's freeze/thaw commands ((action,
    start, end) after T)."""
    return {
        'windows': [{'mode': mode, 'reason': 'test', 'start': iso(T + start),
                     'end': None if end is None else iso(T + end),
                     'seconds': None} for mode, start, end in windows],
        'stages': [{'stage': 'compute', 'outcomes': {}, 'runs': [{
            'actions': [{'action': action, 'op': 'do', 'status': 'ok',
                         'start': iso(T + start), 'end': iso(T + end)}
                        for action, start, end in commands]}]}],
        'freeze_to_thaw_seconds': None}


def keypair(sent, answered, frozen):
    """The tenant's keypair creation: a write every freeze mode refuses."""
    return {'start': T + sent, 'end': T + answered, 'actor': 'tenant',
            'api': 'nova', 'backend': 'nova', 'method': 'POST',
            'path': '/v2.1/os-keypairs', 'action': None,
            'status': 503 if frozen else 200, 'frozen': frozen,
            'error': None if not frozen else 'frozen'}


def test_a_window_is_in_force_when_freeze_ctl_returned():
    # freeze-ctl on ran 10-14 s and wrote the state at 11; off ran 30-33
    # and wrote it at 30.5: a worker slow to see either is no failure.
    got = loadgen.figures([
        keypair(12.0, 12.1, False),   # frozen, not yet everywhere: edge
        keypair(14.1, 14.2, True),    # inside
        keypair(30.0, 30.2, True),    # inside, ended before the thaw
        keypair(31.0, 31.1, True),    # thawed, not yet everywhere: edge
        keypair(33.5, 33.6, False),   # outside
    ], report([('full', 11.0, 30.5)],
              [('freeze', 10.0, 14.0), ('thaw', 30.0, 33.0)]))
    writes = got['tenant_writes']
    assert writes['inside_refused_by_mode'] == {'refused': 2, 'total': 2}
    assert writes['at_window_edges'] == 2
    assert writes['outside_windows'] == {'served': 1, 'total': 1}
    assert got['refused_outside_windows'] == 0


def test_a_change_no_command_made_is_in_force_a_second_later():
    got = loadgen.figures([
        keypair(0.5, 0.6, False),     # edge
        keypair(1.1, 1.2, False),     # inside, served: counted as such
        keypair(25.0, 25.1, True),    # still open: inside
    ], report([('full', 0.0, None)], []))
    assert got['tenant_writes']['inside_refused_by_mode'] == {
        'refused': 1, 'total': 2}
    assert got['tenant_writes']['at_window_edges'] == 1
