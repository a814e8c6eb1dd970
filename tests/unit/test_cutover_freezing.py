"""A freeze stage's undo: the freeze-ctl commands that bring back the freeze
found before the stage."""

import datetime
import json

import pytest

from freeze.cutover import freezing
from freeze.cutover import plan as plan_mod


def test_freeze_restore_commands():
    stage = plan_mod.Freeze('network', 'r', ('alice:ops', 'bob@ldap:ops'),
                            ())
    now = datetime.datetime(2026, 11, 25, 12, tzinfo=datetime.timezone.utc)
    assert freezing.restore('fc', stage, '{"frozen": false}', now) == \
        'fc off -f json'
    before = ('{"frozen": true, "mode": "full", "reason": "earlier", '
              '"grants": [{"kind": "user", "actor": "alice@Default", '
              '"project": "ops@Default"}]}')
    assert freezing.restore('fc', stage, before, now) == (
        "fc on --mode full --reason earlier --no-until --no-auto-thaw -f "
        "json && "
        "fc revoke --grant bob@ldap:ops -f json")
    with pytest.raises(freezing.FreezeStatusError):
        freezing.restore('fc', stage, 'Traceback ...', now)


@pytest.mark.parametrize('until, auto_thaw, expected', [
    ('2026-11-25T14:00:00Z', True, "fc on --mode writes --reason w "
     "--until 2026-11-25T14:00:00Z --auto-thaw -f json"),
    ('2026-11-25T14:00:00Z', False, "fc on --mode writes --reason w "
     "--until 2026-11-25T14:00:00Z --no-auto-thaw -f json"),
    ('2026-11-25T11:00:00Z', False, "fc on --mode writes --reason w "
     "--no-until --no-auto-thaw -f json"),
    ('2026-11-25T11:00:00Z', True, "fc off -f json"),
])
def test_freeze_restore_brings_back_the_end_time(until, auto_thaw, expected):
    stage = plan_mod.Freeze('network', 'r', (), ())
    now = datetime.datetime(2026, 11, 25, 12, tzinfo=datetime.timezone.utc)
    before = json.dumps({'frozen': True, 'mode': 'writes', 'reason': 'w',
                         'until': until, 'auto_thaw': auto_thaw})
    assert freezing.restore('fc', stage, before, now) == expected
