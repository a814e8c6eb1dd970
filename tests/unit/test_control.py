"""The freeze's operations (freeze.control) where they decide alone: the
window's end, and the refusals that change nothing.  freeze-ctl runs them
end to end in test_freeze_ctl.py."""

import datetime

import pytest

from freeze import control
from freeze import window
from freeze.state import document
from freeze.state import open_backend

NOW = datetime.datetime(2026, 12, 1, 8, tzinfo=datetime.timezone.utc)
HOUR = datetime.timedelta(hours=1)
ON = document.FreezeState(epoch=3, frozen=True, mode='full', reason='cut',
                          until=NOW + HOUR, auto_thaw=True, started_at=NOW)


def test_a_window_keeps_its_end_and_auto_thaw_unless_told():
    kept = control.plan_freeze(ON, 'writes', 'cut', NOW)
    assert (kept.until, kept.auto_thaw, kept.notes) == (NOW + HOUR, True, ())
    dropped = control.plan_freeze(ON, 'writes', 'cut', NOW, no_until=True)
    assert (dropped.until, dropped.auto_thaw) == (None, False)
    assert dropped.notes == ('the expected end 2026-12-01T09:00:00Z and '
                             'auto-thaw is dropped (--no-until)',)
    passed = control.plan_freeze(ON, 'writes', 'cut', NOW + 2 * HOUR)
    assert passed.until is None and 'has passed' in passed.notes[0]
    longer = control.plan_freeze(ON, 'writes', 'cut', NOW, length=2 * HOUR)
    assert (longer.until, longer.auto_thaw) == (NOW + 2 * HOUR, True)


@pytest.mark.parametrize('kwargs, message', [
    (dict(reason=' '), '--reason must say why'),
    (dict(length=datetime.timedelta(0)), '--for 0s'),
    (dict(until=NOW - HOUR), 'is in the past'),
    (dict(auto_thaw=True), '--auto-thaw needs --until'),
])
def test_requests_that_cannot_be_are_invalid(kwargs, message):
    arguments = dict(dict(reason='cut'), **kwargs)
    with pytest.raises(control.Invalid, match=message):
        control.plan_freeze(document.THAWED, 'full', now=NOW, **arguments)


def test_an_overlay_refuses_auto_thaw():
    control.check_overlay(control.Freeze('full', 'cut'))
    with pytest.raises(control.Invalid, match='policy overlay'):
        control.check_overlay(control.plan_freeze(ON, 'full', 'cut', NOW))


def test_turn_on_then_thaw_each_raise_the_epoch_once(tmp_path):
    backend = open_backend(str(tmp_path / 'state.json'))
    freeze = control.plan_freeze(document.THAWED, 'network', 'cut', NOW)
    old, new = control.turn_on(backend, freeze, 'ops@h', NOW)
    assert (old.epoch, new.epoch, new.mode) == (0, 1, 'network')
    assert control.turn_on(backend, freeze, 'ops@h', NOW) == (new, new)
    _, thawed, notes = control.thaw(backend, 'ops@h', NOW)
    assert (thawed.epoch, thawed.frozen, notes) == (2, False, ())
    assert control.thaw(backend, 'ops@h', NOW)[2] == (
        'The API was not frozen; nothing changed.',)


def test_grants_need_a_window_and_a_target(tmp_path):
    backend = open_backend(str(tmp_path / 'state.json'))

    def no_keystone():
        raise AssertionError('Keystone is not reached for a refusal')
    nothing = control.Grants(no_keystone, (), 'migration')
    with pytest.raises(control.Invalid, match='nothing to grant'):
        control.grant(backend, nothing, 'ops@h', NOW)
    ann = control.Grants(no_keystone, (window.Target.parse('user', 'a:p'),),
                         'migration')
    with pytest.raises(control.Failed, match='not frozen'):
        control.grant(backend, ann, 'ops@h', NOW)
    assert backend.history() == []
