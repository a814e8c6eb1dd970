"""Pure: the journal and the freeze history -> the cutover's timeline.

``nova-cutover report`` shows what happened, when, from the two records a
real cutover leaves (the journal's runs and rows, and the freeze state's
audit history as ``freeze-ctl history -f json`` prints it), so the same
report serves a real cutover and a rehearsal.  Nothing here runs anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
import datetime
from typing import Any, TYPE_CHECKING

from freeze.cutover import availability
from freeze.cutover import views
from freeze.state import document

if TYPE_CHECKING:
    from freeze.cutover.journal import Row, Run
    from freeze.cutover.plan import Plan

#: a host's outcome in one run, from the marks the runner journals
RUN_MARKS = (views.MARK_FALLEN_BACK, views.MARK_STUCK, views.MARK_BATCH,
             views.MARK_ROLLED_BACK)
#: a host's status (in a stage, or in one run) -> its outcome in the report
OUTCOMES = {'done': 'converted', 'failing': 'failed'}
#: a stage's host outcomes, always present (empty when none)
SUMMARY = ('converted', views.MARK_FALLEN_BACK, 'retried',
           views.MARK_ACCEPTED, views.SKIPPED)


class TimelineError(ValueError):
    """The freeze history cannot be read as freeze-ctl prints it."""


def iso(seconds: float | None) -> str | None:
    """A journal time (seconds since the epoch) as freeze-ctl writes times."""
    if seconds is None:
        return None
    return document.format_time(datetime.datetime.fromtimestamp(
        seconds, datetime.timezone.utc))


def seconds_of(text: str | None) -> float | None:
    """The inverse of :func:`iso`."""
    parsed = document.parse_time(text)
    return None if parsed is None else parsed.timestamp()


def windows(history: list[dict[str, Any]], start: str | None = None,
            end: str | None = None) -> list[dict[str, Any]]:
    """Freeze windows (mode, reason, who, start, end) from freeze-ctl's
    history rows, oldest first; ``end`` None: still frozen.  A change of
    mode or reason while frozen starts a new window.  Only windows that
    overlap [start, end] (the journal's span) are kept: a freeze of another
    day is not part of this cutover."""
    out, current, reason = [], None, ''
    try:
        for entry in history:
            when = seconds_of(entry['when'])
            changes = entry.get('changes') or {}
            if 'reason' in changes:
                reason = changes['reason'][1] or ''
            frozen, mode = bool(entry['frozen']), entry.get('mode')
            if current and (not frozen or (mode, reason) != (
                    current['mode'], current['reason'])):
                current['end'] = when
                current = None
            if frozen and current is None:
                current = {'mode': mode, 'reason': reason,
                           'who': entry.get('who'), 'start': when,
                           'end': None}
                out.append(current)
    except (KeyError, TypeError, IndexError, ValueError) as exc:
        raise TimelineError('freeze history: unexpected entry '
                            f'({type(exc).__name__}: {exc})')
    return [w for w in out
            if (end is None or w['start'] <= end)
            and (start is None or w['end'] is None or w['end'] >= start)]


def _span(rows: Iterable[Row]) -> tuple[float | None, float | None]:
    times = [t for r in rows for t in (r.started, r.finished) if t]
    return (min(times), max(times)) if times else (None, None)


def _host_outcome(rows: list[Row], steps: list[str]) -> str:
    """One host's outcome in one run, from that run's rows alone."""
    marks = [r.status for r in rows if r.op == 'mark'
             and r.status in RUN_MARKS]
    if marks:
        return marks[-1]
    status = views.unit_view([r for r in rows if r.op != 'mark']).status(
        steps)
    return 'not-run' if status == 'pending' else OUTCOMES.get(status, status)


def _run(p: Run, plan: Plan, rows: list[Row]) -> dict[str, Any]:
    """One run: its stage actions, its batches, each host's outcome."""
    stage = plan.stage(p.stage)
    steps = [s.name for s in stage.steps]
    mine = [r for r in rows if r.run_id == p.id and r.op != views.CONFIRM
            and not (r.op == 'mark' and r.status == views.MARK_ACCEPTED)]
    first, last = _span(mine)
    by_unit = {}
    for row in mine:
        by_unit.setdefault(row.unit, []).append(row)
    batches = []
    for number, batch in enumerate(plan.batches(stage, p.hosts), 1):
        hosts = []
        for host in batch:
            h_start, h_end = _span(by_unit.get(host, ()))
            hosts.append({'host': host, 'outcome': _host_outcome(
                by_unit.get(host, ()), steps), 'start': iso(h_start),
                'end': iso(h_end)})
        b_start, b_end = _span([r for h in batch for r in by_unit.get(h, ())])
        batches.append({'batch': number, 'cell': plan.hosts[batch[0]],
                        'start': iso(b_start), 'end': iso(b_end),
                        'hosts': hosts})
    return {
        'run': p.id, 'status': p.status, 'note': p.note,
        'start': iso(p.started),
        'end': iso(max(t for t in (p.updated, last) if t)),
        'actions': [{'action': r.step, 'op': r.op, 'status': r.status,
                     'start': iso(r.started), 'end': iso(r.finished)}
                    for r in mine if not r.unit],
        'batches': batches}


def _summary(runs: list[dict[str, Any]],
             final: dict[str, str]) -> dict[str, list[str]]:
    """Hosts of a stage by outcome: their final status, plus ``retried``
    (run again after falling back in an earlier run)."""
    out = {name: [] for name in SUMMARY}
    for host, status in final.items():
        out.setdefault(OUTCOMES.get(status, status), []).append(host)
    failed_before = set()
    for run in runs:
        for batch in run['batches']:
            for h in batch['hosts']:
                if h['host'] in failed_before and \
                        h['host'] not in out['retried']:
                    out['retried'].append(h['host'])
                if h['outcome'] in (views.MARK_FALLEN_BACK,
                                    views.MARK_STUCK):
                    failed_before.add(h['host'])
    return out


def build(plan: Plan, plan_of: Callable[[Run], Plan], runs: list[Run],
          rows: list[Row], history: list[dict[str, Any]],
          stage_status: Callable[..., str],
          host_status: Callable[..., dict[str, str]]) -> dict[str, Any]:
    """The report's data.

    ``plan``: the latest run's plan (its stages, in order); ``plan_of``:
    a run -> the plan it ran with; ``stage_status`` (stage -> status) and
    ``host_status`` (stage -> host -> status) as ``status`` and ``hosts``
    say them; ``history``: ``freeze-ctl history -f json``'s rows.
    """
    folded = [(p, _run(p, plan_of(p), rows)) for p in runs]
    start = min((p.started for p in runs), default=None)
    end = max((seconds_of(r['end']) for _, r in folded), default=None)
    unfinished = any(p.status in views.UNFINISHED for p in runs)
    found = windows(history, start, None if unfinished else end)
    stages = []
    for stage in plan.stages:
        mine = [r for p, r in folded if p.stage == stage.name]
        stages.append({
            'stage': stage.name, 'status': stage_status[stage.name],
            'start': mine[0]['start'] if mine else None,
            'end': max((r['end'] for r in mine), key=seconds_of)
            if mine else None,
            'runs': mine,
            'outcomes': _summary(mine, host_status.get(stage.name, {}))})
    first = found[0]['start'] if found else None
    last = found[-1]['end'] if found else None
    # the API as the freeze served it, over the journal's span and the
    # windows in it
    strip = availability.expected(
        found, min([start] + [w['start'] for w in found]),
        max([end] + [w['end'] for w in found if w['end']])) \
        if start is not None else []
    return {
        'plan': plan.name, 'start': iso(start), 'end': iso(end),
        'stages': stages,
        'windows': [dict(w, start=iso(w['start']), end=iso(w['end']),
                         seconds=None if w['end'] is None
                         else round(w['end'] - w['start'], 3))
                    for w in found],
        'availability': [dict(row, segments=[
            dict(seg, start=iso(seg['start']), end=iso(seg['end']))
            for seg in row['segments']]) for row in strip],
        'first_freeze': iso(first), 'last_thaw': iso(last),
        # None while the last window is still open
        'freeze_to_thaw_seconds': None if first is None or last is None
        else round(last - first, 3)}
