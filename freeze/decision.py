"""The freeze decision: request facts + freeze state -> pass or block, and why.

Pure functions of their arguments, so every case can be tested in isolation and
the middleware stays a thin adapter.  The freeze only takes away: a request it
passes still goes through nova's own policy.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from typing import TYPE_CHECKING

from freeze import routes

if TYPE_CHECKING:
    from freeze.state.document import FreezeState


@dataclasses.dataclass(frozen=True)
class RequestFacts:
    """What the decision needs to know about one request.

    ``method`` is the one nova's router will match (``routing``), None when
    it cannot be determined: a write to whatever the path names.
    ``path`` is normalised (see ``routes.normalise``); ``roles`` are lower-case
    and empty unless authtoken confirmed them; ``action`` is the server action
    name from the body, or None when it was not read or could not be parsed.
    """

    method: str
    path: str
    roles: frozenset
    action: str = None


@dataclasses.dataclass(frozen=True)
class AllowRule:
    """Always allowed, in every mode: one role, one method, a path pattern.

    Written ``ROLE:METHOD:REGEX`` in configuration; ``*`` as role or method
    matches any.  The regex matches the whole normalised path.
    """

    role: str
    method: str
    pattern: re.Pattern

    @classmethod
    def parse(cls, text: str) -> AllowRule:
        parts = text.split(':', 2)
        if len(parts) != 3 or not all(p.strip() for p in parts):
            raise ValueError('allow rule must be ROLE:METHOD:REGEX, not '
                             f'{text!r}')
        role, method, regex = (p.strip() for p in parts)
        try:
            pattern = re.compile(regex)
        except re.error as exc:
            raise ValueError(f'allow rule {text!r}: bad regex: {exc}')
        return cls(role.lower(), method.upper(), pattern)

    def matches(self, facts: RequestFacts) -> bool:
        return ((self.role == '*' or self.role in facts.roles)
                and (self.method == '*' or self.method == facts.method)
                and self.pattern.fullmatch(facts.path) is not None)

    def __str__(self) -> str:
        return f'{self.role}:{self.method}:{self.pattern.pattern}'


@dataclasses.dataclass(frozen=True)
class Rules:
    """Who the freeze lets through (from the ``[freeze]`` options)."""

    migration_roles: frozenset = frozenset({'migration'})
    reader_roles: frozenset = frozenset({'admin'})
    allow: tuple = ()


@dataclasses.dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str


def decide(facts: RequestFacts, state: FreezeState, rules: Rules,
           now: datetime.datetime) -> Decision:
    """Decide one request under ``state`` (a FreezeState) at time ``now``."""
    if not state.in_force(now):
        return Decision(True, 'thawed')
    if routes.is_version_document(facts.method, facts.path):
        return Decision(True, 'version document')
    for rule in rules.allow:
        if rule.matches(facts):
            return Decision(True, f'allow-list {rule}')
    if facts.roles & rules.migration_roles:
        return Decision(True, 'migration role')
    is_read = routes.is_read(facts.method, facts.path)
    if state.mode == 'writes':
        if is_read and facts.roles:
            return Decision(True, 'read during a writes freeze')
        return Decision(False, 'only migration roles may change anything')
    if state.mode == 'network':
        if routes.changes_network(facts.method, facts.path, facts.action):
            return Decision(False,
                            'only migration roles may change network state')
        return Decision(True, 'does not change network state')
    # 'full', and any mode this version does not know: fail closed.
    if is_read and facts.roles & rules.reader_roles:
        return Decision(True, 'reader role may read')
    return Decision(False, 'only migration roles may use the API'
                    + ('; reader roles may read' if rules.reader_roles else ''))
