"""Pure: the API's availability during a cutover, for the report's strip.

``expected`` needs nothing but the freeze windows (from the freeze
history): for each kind of caller and call, when the freeze served it and
when it refused it, as the freeze's own decision (freeze.decision) rules
for a window's mode.  It holds for a real cutover as for the demo.

``measured`` adds what a client actually got, when there is a record of
it (the demo's load generator, tools/loadgen.py; ``nova-cutover report
--requests FILE``): one JSON object per request with ``start`` and ``end``
(epoch seconds), ``actor``, ``status`` (0: no answer) and ``frozen`` (a
503 that was the freeze's own), binned along the time axis.
"""

from __future__ import annotations

from freeze import decision, routes
from typing import Any

#: (label, roles, method, path, action): one representative call each
AUDIENCES = (
    ("admins' reads", {'admin'}, 'GET', '/servers', None),
    ("tenants' reads", {'member', 'reader'}, 'GET', '/servers', None),
    ("tenants' writes", {'member', 'reader'}, 'POST', '/os-keypairs', None),
    ('network changes', {'member', 'reader'}, 'POST', '/servers/x/action',
     'migrate'),
    ('migration role', {'migration'}, 'POST', '/servers/x/action',
     'migrate'),
)
SERVED, REFUSED, ERROR = 'served', 'refused', 'error'


class _InForce:
    """A freeze in force in ``mode``, as the decision reads a state."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def in_force(self, now: Any) -> bool:
        return True


def refuses(mode: str, roles: frozenset[str], method: str, path: str,
            action: str | None = None) -> bool:
    """Does a freeze in ``mode`` refuse this call (with the default rules:
    ``[freeze]`` options an operator may change are not in the history)?"""
    facts = decision.RequestFacts(method, routes.normalise(path),
                                  frozenset(r.lower() for r in roles), action)
    return not decision.decide(facts, _InForce(mode), decision.Rules(),
                               None).allowed


def expected(windows: list[dict], start: float, end: float) -> list[dict]:
    """One row per audience: segments (start, end, served|refused, mode)
    covering [start, end]; ``windows`` with epoch seconds, end None while
    frozen."""
    rows = []
    for label, roles, method, path, action in AUDIENCES:
        segments, t = [], start
        for w in windows:
            w_start = max(w['start'], start)
            w_end = end if w['end'] is None else min(w['end'], end)
            if w_end <= w_start:
                continue
            if w_start > t:
                segments.append(_segment(t, w_start, SERVED, None))
            state = REFUSED if refuses(w['mode'], roles, method, path,
                                       action) else SERVED
            segments.append(_segment(w_start, w_end, state, w['mode']))
            t = w_end
        if end > t:
            segments.append(_segment(t, end, SERVED, None))
        rows.append({'audience': label, 'segments': segments})
    return rows


def _segment(start: str, end: str | None, state: str,
             mode: str | None) -> dict[str, Any]:
    return {'start': start, 'end': end, 'state': state, 'mode': mode}


def measured(records: list[dict], start: float, end: float,
             bins: int = 150) -> list[dict]:
    """One row per actor: the requests sent in [start, end], each time bin
    counted by what they got (served, refused by the freeze, error: another
    5xx or no answer); empty bins left out."""
    width = max(end - start, 1e-6) / bins
    rows = {}
    for r in records:
        if not start <= r['start'] <= end:
            continue
        n = min(bins - 1, max(0, int((r['start'] - start) / width)))
        row = rows.setdefault(r['actor'], {})
        counts = row.setdefault(n, {SERVED: 0, REFUSED: 0, ERROR: 0})
        if r.get('frozen'):
            counts[REFUSED] += 1
        elif r['status'] == 0 or r['status'] >= 500:
            counts[ERROR] += 1
        else:
            counts[SERVED] += 1
    return [{'actor': actor, 'bins': [
        dict(counts, start=start + n * width, end=start + (n + 1) * width,
             state=ERROR if counts[ERROR] else REFUSED if counts[REFUSED]
             else SERVED)
        for n, counts in sorted(row.items())]}
        for actor, row in sorted(rows.items())]
