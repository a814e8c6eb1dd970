"""The freeze as an oslo.policy overlay over nova's effective rules.

Defence in depth, and a freeze for deployments that cannot change their paste
pipeline: every documented rule R becomes ``(ROLES) and (R)``, where ROLES are
the roles the freeze filter would let make R's operations.  Who is admitted is
asked of ``decision.decide`` itself, so the filter and the overlay cannot
drift apart, and ANDing with the effective R means the overlay only takes
away.

Pure functions of rule strings; reading nova's defaults and the deployment's
files, and writing the overlay, is ``freeze.nova_policy``'s job.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
import datetime
import re
from typing import Any

from oslo_policy import policy as oslo_policy
import yaml

from freeze import decision
from freeze import routes
from freeze.state import document

ANYONE = None
"""A guard that admits every caller: the rule is left as it is."""

# An allow rule admits its role to an operation only when its regex matches
# the operation's path whatever the identifiers in it: tried with these two.
IDENTIFIERS = ('0b7e3c52-9d4f-4a8e-b1c6-2f5a8d9e7c10', 'x')
# A role no caller has: what ``decide`` admits with it, it admits anyone to.
_NOBODY = '\x00'
# A freeze without auto_thaw is in force at any time.
_ANY_TIME = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
# What oslo.policy can read back as the match of a ``role:`` check.
_ROLE_NAME = re.compile(r'^[^\s()%\'"]+$')


class PolicyError(ValueError):
    """The rules cannot be turned into an overlay (cycle, bad role name)."""


def admitted(request: tuple[str, str, str | None], mode: str,
             freeze_rules: decision.Rules) -> frozenset[str] | None:
    """The roles the filter lets make ``request`` in ``mode``, or ANYONE.

    ``decide`` admits a caller when one of its roles is admitted (allow-list,
    migration or reader role) or whatever its roles are, so asking once per
    configured role and once for a role nobody has tells the whole answer.
    """
    method, path, action = request
    state = document.FreezeState(frozen=True, mode=mode)

    def allows(role: str) -> bool:
        facts = decision.RequestFacts(method=method, path=path,
                                      roles=frozenset({role}), action=action)
        return decision.decide(facts, state, freeze_rules, _ANY_TIME).allowed

    if allows(_NOBODY):
        return ANYONE
    candidates = (freeze_rules.migration_roles | freeze_rules.reader_roles
                  | {allow.role for allow in freeze_rules.allow}) - {'*'}
    return frozenset(role for role in candidates if allows(role))


def guard(operations: Iterable[dict[str, str]], mode: str,
          freeze_rules: decision.Rules) -> frozenset[str] | None:
    """The roles admitted to every one of a rule's operations, or ANYONE.

    A rule that guards several operations (nova has rules for a read and a
    write at once) gets the strictest guard: the overlay may deny a call the
    filter passes, never the reverse.
    """
    limited = [roles for roles in (
        admitted(routes.operation_request(operation, identifier), mode,
                 freeze_rules)
        for operation in operations for identifier in IDENTIFIERS)
        if roles is not ANYONE]
    return frozenset.intersection(*limited) if limited else ANYONE


def generate(rules: dict[str, str], operations: dict[str, tuple], mode: str,
             freeze_rules: decision.Rules) -> dict[str, str]:
    """The overlay for ``mode``: ``{name: rule}`` for the rules it changes.

    ``rules`` maps every effective rule name to its check string (nova's
    defaults with the deployment's overrides applied), in the order to write
    them; ``operations`` maps documented rule names to their operations.  A
    reference to a wrapped rule is replaced by that rule's effective text, and
    a rule whose meaning would change through such a reference is written out
    the same way, so that every rule keeps exactly its effective meaning,
    ANDed with its own guard.
    """
    if mode not in document.MODES:
        raise PolicyError(f'unknown mode {mode!r} (known: '
                          f"{', '.join(document.MODES)})")
    checks = {name: oslo_policy.RuleDefault(name, text).check
              for name, text in rules.items()}
    guards = {}
    for name, ops in operations.items():
        roles = guard(ops, mode, freeze_rules) if name in checks else ANYONE
        if roles is not ANYONE:
            guards[name] = roles
    referring = _reaching(checks, set(guards)) - set(guards)
    overlay = {}
    for name, check in checks.items():
        if name in guards:
            overlay[name] = _wrap(guards[name],
                                  _inline(check, checks, guards, (name,)),
                                  freeze_rules)
        elif name in referring:
            overlay[name] = _text(_inline(check, checks, guards, (name,)))
    return overlay


#: The header's first line; ``header_mode`` reads the mode back from it.
_FIRST_LINE = 'nova-freeze policy overlay, mode %s. Do not edit: regenerate it.'
_FIRST_LINE_MODE = re.compile('# ' + re.escape(_FIRST_LINE.split('%s')[0])
                              + r'(\w+)\.')


def header(mode: str, nova_version: str, command: str, sources: Iterable[str],
           freeze_rules: decision.Rules) -> list[str]:
    """Comment lines naming what made an overlay, for operators and audits."""
    migration_roles = ','.join(sorted(freeze_rules.migration_roles))
    reader_roles = ','.join(sorted(freeze_rules.reader_roles))
    allow = ','.join(str(allow) for allow in freeze_rules.allow)
    return [
        _FIRST_LINE % mode,
        f'Generated against nova {nova_version} by: {command}',
        'Wraps the effective rules of: nova defaults'
        + ''.join(f' + {source}' for source in sources),
        f'[freeze] migration_roles={migration_roles} '
        f'reader_roles={reader_roles} allow={allow}',
        'Each rule R with operations the freeze restricts is "(ROLES) and '
        '(R)": the overlay only takes away.',
    ]


def header_mode(first_line: str) -> str | None:
    """The mode an overlay's first line (as ``render`` writes ``header``)
    names, or None when it is not such a line."""
    found = _FIRST_LINE_MODE.match(first_line)
    return found.group(1) if found else None


def render(overlay: dict[str, str], header_lines: Iterable[str]) -> str:
    """The overlay as a YAML policy file, ``header_lines`` as comments."""
    comments = ''.join(f'# {line}\n' for line in header_lines)
    return comments + yaml.safe_dump(overlay, default_style='"',
                                     sort_keys=False, width=float('inf'))


def _references(check: Any) -> Iterator[str]:
    if isinstance(check, oslo_policy.RuleCheck):
        yield check.match
    for child in getattr(check, 'rules', ()):
        yield from _references(child)
    if isinstance(check, oslo_policy.NotCheck):
        yield from _references(check.rule)


def _reaching(checks: dict[str, Any], targets: set[str]) -> set[str]:
    """Names of the rules that are, or refer (transitively) to, ``targets``."""
    refs = {name: set(_references(check)) for name, check in checks.items()}
    reaching = set(targets)
    while True:
        more = {name for name, used in refs.items()
                if name not in reaching and used & reaching}
        if not more:
            return reaching
        reaching |= more


def _inline(check: Any, checks: dict[str, Any], names: Iterable[str],
            seen: tuple[str, ...] = ()) -> Any:
    """``check`` with every reference to ``names`` replaced by its rule."""
    if isinstance(check, oslo_policy.RuleCheck) and check.match in names:
        if check.match in seen:
            raise PolicyError('rules refer to each other in a cycle: '
                              + ' -> '.join(seen + (check.match,)))
        return _inline(checks[check.match], checks, names,
                       seen + (check.match,))
    if isinstance(check, (oslo_policy.AndCheck, oslo_policy.OrCheck)):
        return type(check)([_inline(child, checks, names, seen)
                            for child in check.rules])
    if isinstance(check, oslo_policy.NotCheck):
        return oslo_policy.NotCheck(_inline(check.rule, checks, names, seen))
    return check


def _text(check: Any) -> str:
    """A check's rule string, without the brackets oslo.policy adds."""
    text = str(check)
    if isinstance(check, (oslo_policy.AndCheck, oslo_policy.OrCheck)):
        text = text[1:-1]
    return text


def _wrap(roles: frozenset[str], check: Any,
          freeze_rules: decision.Rules) -> str:
    """``(role:a or role:b) and (R)``, migration roles first; nobody: ``!``."""
    if not roles:
        return '!'
    for role in roles:
        if not _ROLE_NAME.match(role):
            raise PolicyError(f'role {role!r} cannot be written in an '
                              'oslo.policy rule')
    ordered = sorted(roles,
                     key=lambda r: (r not in freeze_rules.migration_roles, r))
    either = ' or '.join(f'role:{r}' for r in ordered)
    return f'({either}) and ({_text(check)})'
