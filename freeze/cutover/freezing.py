"""The freeze around a stage, as freeze-ctl command lines (pure).

freeze-ctl is driven as a black box through its documented options, so the
runner journals each toggle like any other command and the freeze tool can
evolve on its own.  What a stage changes is undone from what ``status``
said before it: the mode, reason, expected end and auto-thaw, and the
grants it added.
"""

from __future__ import annotations

import datetime
import json
import shlex
from typing import TYPE_CHECKING

from freeze.state import document

if TYPE_CHECKING:
    from freeze.cutover.plan import Freeze


class FreezeStatusError(ValueError):
    """freeze-ctl status output that cannot be understood."""


def status(base: str) -> str:
    return f'{base} status -f json'


def history(base: str) -> str:
    return f'{base} history -f json'


def on(base: str, freeze: Freeze) -> str:
    words = ['on', '--mode', freeze.mode, '--reason', freeze.reason]
    for grant in freeze.grants:
        words += ['--grant', grant]
    for grant in freeze.grant_groups:
        words += ['--grant-group', grant]
    return f'{base} {shlex.join(words)} -f json'


def off(base: str) -> str:
    return f'{base} off -f json'


def restore(base: str, freeze: Freeze, before_output: str,
            now: datetime.datetime) -> str:
    """Commands that put the freeze back as ``before_output`` showed it.

    An end time already past cannot be given again (freeze-ctl refuses it):
    with auto-thaw that earlier freeze would have ended by now, so it stays
    off; without, it comes back with no expected end.
    """
    try:
        before = json.loads(before_output)
        frozen = bool(before['frozen'])
        existing = {(g['kind'], g['actor'], g['project'])
                    for g in before.get('grants') or ()}
        until = document.parse_time(before.get('until'), 'until')
        auto_thaw = bool(before.get('auto_thaw'))
    except (ValueError, KeyError, TypeError) as exc:
        raise FreezeStatusError('cannot read the freeze state saved before '
                                f'the stage: {exc}')
    ended = until is not None and until <= now
    if not frozen or (auto_thaw and ended):
        return off(base)
    words = ['on', '--mode', before['mode'], '--reason',
             before.get('reason') or '']
    if until is not None and not ended:
        words += ['--until', document.format_time(until)]
    else:
        words.append('--no-until')  # on keeps the stage's end otherwise
    words.append('--auto-thaw' if auto_thaw and not ended else
                 '--no-auto-thaw')
    commands = [f'{base} {shlex.join(words)} -f json']
    added = ([('user', g) for g in freeze.grants]
             + [('group', g) for g in freeze.grant_groups])
    for kind, grant in added:
        actor, project = (_qualified(part) for part in grant.split(':'))
        if (kind, actor, project) not in existing:
            option = '--grant' if kind == 'user' else '--grant-group'
            commands.append(
                f'{base} revoke {option} {shlex.quote(grant)} -f json')
    return ' && '.join(commands)


def _qualified(name: str) -> str:
    """``name`` as the state document writes it: with its domain."""
    return name if '@' in name else name + '@Default'
