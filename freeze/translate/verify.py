"""verify: nova-network against Neutron, resource by resource.

The comparison is the translation's own diff (desired from nova's data
against what Neutron holds, every compared field: MAC, IPs, device, host,
groups, rules, floating IPs), printed for people: an empty list means they
agree. The
same diff compares two Neutron APIs (the read-only proxy against the Neutron
the translation filled): ``compare``.
"""

from __future__ import annotations

from typing import Any

from freeze.translate import keys
from freeze.translate.held import Actual
from freeze.translate.changes import Changes, diff
from freeze.translate.desired import Desired, Resource

_WHAT = {'create': 'missing in Neutron', 'delete': 'extra in Neutron',
         'tag': 'not tagged in Neutron'}


def mismatches(changes: Changes) -> list[str]:
    lines = []
    for c in changes:
        if c.op in _WHAT:
            lines.append(f'{_WHAT[c.op]}: {c.kind} {c.key}'
                         + ('' if c.op == 'tag' else
                            f' {_fmt(c.want or c.have)}'))
            continue
        for f in c.fields:
            lines.append(f'{c.kind} {c.key}: {f}: nova {_fmt(c.want[f])} '
                         f'!= neutron {_fmt(c.have.get(f))}')
    return lines


def _fmt(value: Any) -> str:
    if isinstance(value, dict):
        return '{' + ', '.join(f'{k}={_fmt(v)}' for k, v in value.items()) + '}'
    if isinstance(value, (frozenset, set)):
        return '[' + ', '.join(sorted(map(_fmt, value))) + ']'
    if isinstance(value, tuple):
        return '(' + ', '.join(map(_fmt, value)) + ')'
    return str(value) if value is not None else '-'


def as_desired(actual: Actual) -> Desired:
    """What one Neutron API shows, as the state another should hold: all of
    it but what Neutron picks by itself: the MAC of the ports nova had
    none for (reserved host addresses), and with it their SLAAC address."""
    def wanted(key: str, body: dict) -> dict:
        if not keys.is_reserved(key):
            return body
        fixed = frozenset(p for p in body['fixed_ips']
                          if not keys.is_slaac(p[0].key))
        return {f: v for f, v in dict(body, fixed_ips=fixed).items()
                if f != 'mac_address'}
    return Desired({kind: {key: Resource(kind, key, wanted(key, body))
                           for key, body in items.items()}
                    for kind, items in actual.items.items()}, [])


def compare(expected: Actual, actual: Actual) -> list[str]:
    """Two Neutron APIs (e.g. the read-only proxy and the Neutron the
    translation filled), resource by resource, with verify's own diff:
    'missing in Neutron' is in ``expected`` only, 'extra' in ``actual``."""
    return mismatches(diff(as_desired(expected), actual))
