"""Pure: the timeline (``timeline.build``) as one self-contained HTML page.

Inline CSS and one inline SVG, no script and nothing fetched: the page
opens anywhere, offline, and can be attached to a change record.  Each
drawn element carries its data (``data-start``, ``data-end``, ...) and a
``<title>`` (shown on hover), so the picture can be checked by parsing it.
"""

from __future__ import annotations

from collections.abc import Iterable
import datetime
import html
from typing import Any

from freeze.cutover import timeline

LABEL, PLOT, ROW, SQUARE = 230, 900, 22, 11
COLOURS = {
    # freeze modes
    'full': '#d9534f', 'writes': '#f0ad4e', 'network': '#f7d774',
    # runs, batches and hosts
    'done': '#5cb85c', 'converted': '#5cb85c', 'accepted': '#8fbc8f',
    'done-with-fallbacks': '#a3c15a', 'fallen-back': '#e8743b',
    'revert-failed': '#b52b27', 'failed': '#b52b27', 'stopped': '#b52b27',
    'running': '#5bc0de', 'rolling-back': '#9b59b6', 'rolled-back': '#9b9b9b',
    'batch-reverted': '#9b9b9b', 'awaiting-confirmation': '#337ab7',
    'not-run': '#e6e6e6', 'pending': '#e6e6e6', 'skipped': '#cccccc',
    # the API's availability
    'served': '#7fc97f', 'refused': '#fdae61', 'error': '#000000'}
CSS = """
body { font: 14px sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: .5em 0 1.5em; }
td, th { border: 1px solid #ccc; padding: 2px 8px; text-align: left; }
"""
#: inside the drawing, so that it stands alone too (the README's picture)
SVG_CSS = """
text { font: 11px sans-serif; }
.axis { stroke: #ddd; }
.label { font-weight: bold; }
"""


def _a(**attrs: Any) -> str:
    return ''.join(
        f''' {k.rstrip('_').replace('_', '-')}="{html.escape(str(v))}"'''
        for k, v in attrs.items() if v is not None)


def _colour(status: str | None) -> str:
    return COLOURS.get(status, '#999999')


class _Svg:
    """The drawing: rows top to bottom on a common time axis."""

    def __init__(self, t0: float, t1: float, squares: int) -> None:
        self.t0, self.t1 = t0, max(t1, t0 + 1)
        self.squares_x = LABEL + PLOT + 20
        self.per_row = max(squares, 10)
        self.width = self.squares_x + self.per_row * SQUARE + 20
        self.y, self.parts = 30, []

    def x(self, seconds: float) -> float:
        return round(LABEL + (seconds - self.t0) / (self.t1 - self.t0)
                     * PLOT, 2)

    def text(self, x: float, y: float, words: str,
             cls: str | None = None) -> None:
        self.parts.append(
            f'<text{_a(x=x, y=y, class_=cls)}>{html.escape(words)}</text>')

    def bar(self, cls: str | None, start: str, end: str | None,
            status: str | None, title: str, label: str | None = None,
            **data: Any) -> None:
        """A rect from ``start`` to ``end`` (None: not ended, drawn to the
        axis' end) on the current row."""
        t_start = timeline.seconds_of(start)
        t_end = timeline.seconds_of(end) if end else self.t1
        x = self.x(t_start)
        width = max(self.x(t_end) - x, 1)
        rect = _a(class_=cls, x=x, y=self.y, width=width, height=ROW - 6,
                  fill=_colour(status), data_start=start, data_end=end,
                  **data)
        self.parts.append(
            f'<rect{rect}><title>{html.escape(title)}</title></rect>')
        if label:  # clipped to its bar by a nested svg
            clip = _a(x=x, y=self.y, width=width, height=ROW - 6)
            self.parts.append(f'<svg{clip}><text{_a(x=3, y=ROW - 10)}>'
                              f'{html.escape(label)}</text></svg>')

    def square(self, n: int, status: str | None, title: str,
               **data: Any) -> None:
        rect = _a(x=self.squares_x + n * SQUARE, y=self.y + 2,
                  width=SQUARE - 2, height=ROW - 10, fill=_colour(status),
                  **data)
        self.parts.append(
            f'<rect{rect}><title>{html.escape(title)}</title></rect>')

    def row(self, label: str | None, cls: str | None = None) -> None:
        self.text(4, self.y + ROW - 10, label, cls)

    def axis(self) -> str:
        top, bottom = 20, self.y + 6
        for n in range(9):
            t = self.t0 + (self.t1 - self.t0) * n / 8
            x = self.x(t)
            line = _a(class_='axis', x1=x, x2=x, y1=top, y2=bottom)
            self.parts.append(f'<line{line}/>')
            self.text(x - 24, bottom + 14, _clock(t))
            self.text(x - 24, 14, _clock(t))
        svg = _a(width=self.width, height=bottom + 24, data_t0=self.t0,
                 data_t1=self.t1, data_x0=LABEL, data_plot=PLOT)
        parts = '\n'.join(self.parts)
        return (f'<svg xmlns="http://www.w3.org/2000/svg"{svg}>'
                f'<style>{SVG_CSS}</style>{parts}</svg>')


def _clock(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(
        seconds, datetime.timezone.utc).strftime('%H:%M:%S')


def bounds(data: dict[str, Any]) -> tuple[float, float]:
    """The time axis: the journal's span and every window."""
    times = [timeline.seconds_of(t) for t in [data['start'], data['end']] + [
        w[k] for w in data['windows'] for k in ('start', 'end')] if t]
    return min(times), max(times)


def _availability(d: _Svg, data: dict[str, Any],
                  measured: list[dict[str, Any]] | None) -> None:
    """The API above the timeline: each audience as the freeze served
    it (from the windows), then what a recorded client got, if given."""
    d.row('API availability', 'label')
    d.y += ROW
    for row in data.get('availability', ()):
        d.row('  ' + row['audience'])
        for seg in row['segments']:
            mode = f", freeze {seg['mode']}" if seg['mode'] else ''
            d.bar('availability', seg['start'], seg['end'], seg['state'],
                  f"{row['audience']}: {seg['state']} "
                  f"({seg['start']} - {seg['end']}){mode}",
                  data_audience=row['audience'], data_state=seg['state'],
                  data_mode=seg['mode'])
        d.y += ROW
    for row in measured or ():
        d.row(f"  {row['actor']} (measured)")
        for b in row['bins']:
            d.bar('measured', timeline.iso(b['start']), timeline.iso(b['end']),
                  b['state'], f"{row['actor']}: {b['served']} served, "
                  f"{b['refused']} refused by the freeze, {b['error']} errors",
                  data_actor=row['actor'], data_state=b['state'],
                  data_served=b['served'], data_refused=b['refused'],
                  data_error=b['error'])
        d.y += ROW
    d.y += 8


def svg(data: dict[str, Any],
        measured: list[dict[str, Any]] | None = None) -> str:
    """``measured``: availability.measured rows, or None."""
    squares = max([len(b['hosts']) for s in data['stages'] for r in s['runs']
                   for b in r['batches']] or [0])
    d = _Svg(*bounds(data), squares)
    _availability(d, data, measured)
    d.row('freeze windows', 'label')
    for w in data['windows']:
        d.bar('window', w['start'], w['end'], w['mode'],
              f"freeze {w['mode']}: {w['reason']} "
              f"({w['start']} - {w['end'] or 'still frozen'})",
              f"{w['mode']}: {w['reason']}", data_mode=w['mode'],
              data_reason=w['reason'])
    d.y += ROW + 8
    for stage in data['stages']:
        d.row(f"{stage['stage']} ({stage['status']})", 'label')
        for run in stage['runs']:
            note = f": {run['note']}" if run['note'] else ''
            d.bar('run', run['start'], run['end'], run['status'],
                  f"run {run['run']} of {stage['stage']}: {run['status']} "
                  f"({run['start']} - {run['end']}){note}",
                  f"run {run['run']}", data_stage=stage['stage'],
                  data_run=run['run'], data_status=run['status'])
        d.y += ROW
        for run in stage['runs']:
            for batch in run['batches']:
                d.row(f"  run {run['run']} batch {batch['batch']} "
                      f"({batch['cell']})")
                if batch['start']:
                    d.bar('batch', batch['start'], batch['end'], None,
                          f"batch {batch['batch']} of run {run['run']}: "
                          f"{len(batch['hosts'])} host(s)",
                          data_stage=stage['stage'], data_run=run['run'],
                          data_batch=batch['batch'])
                for n, host in enumerate(batch['hosts']):
                    d.square(n, host['outcome'],
                             f"{host['host']}: {host['outcome']}",
                             class_='host', data_host=host['host'],
                             data_stage=stage['stage'], data_run=run['run'],
                             data_outcome=host['outcome'])
                d.y += ROW
        _final(d, stage)
        d.y += 8
    return d.axis()


def _final(d: _Svg, stage: dict[str, Any]) -> None:
    """A stage's hosts by final outcome, rows of squares; a retried host
    is outlined."""
    hosts = [(host, outcome) for outcome, names in stage['outcomes'].items()
             if outcome != 'retried' for host in names]
    retried = set(stage['outcomes']['retried'])
    for start in range(0, len(hosts), d.per_row):
        d.row('  hosts now' if start == 0 else '')
        for n, (host, outcome) in enumerate(hosts[start:start + d.per_row]):
            again = ', retried' if host in retried else ''
            d.square(n, outcome, f'{host}: {outcome}{again}',
                     class_='final', data_host=host,
                     data_stage=stage['stage'], data_outcome=outcome,
                     data_retried=host in retried or None,
                     stroke='#000' if host in retried else None)
        d.y += ROW


def _legend() -> str:
    keys = ' '.join(
        f'<span style="background:{colour}">&nbsp;&nbsp;&nbsp;</span> '
        f'{html.escape(name)}' for name, colour in COLOURS.items())
    return f'<p class="legend">{keys}</p>'


def _table(headers: list[str], rows: Iterable[Iterable[Any]], cls: str) -> str:
    def cell(value: Any) -> str:
        return f"<td>{html.escape('' if value is None else str(value))}</td>"
    head = ''.join(f'<th>{html.escape(h)}</th>' for h in headers)
    body = ''.join(f"<tr>{''.join(cell(c) for c in r)}</tr>" for r in rows)
    return f'<table{_a(class_=cls)}><tr>{head}</tr>{body}</table>'


def page(data: dict[str, Any],
         measured: list[dict[str, Any]] | None = None) -> str:
    """The whole page, as text; ``measured``: availability.measured rows
    (a client's record of its requests), or None."""
    span = data['freeze_to_thaw_seconds']
    summary = _table(['', ''], [
        ['plan', data['plan']], ['journal from', data['start']],
        ['to', data['end']], ['first freeze', data['first_freeze']],
        ['last thaw', data['last_thaw'] or 'still frozen'],
        ['first freeze to last thaw',
         f'{span:.1f} s' if span is not None else '']], 'summary')
    windows = _table(['mode', 'reason', 'start', 'end', 'seconds', 'who'], [
        [w['mode'], w['reason'], w['start'], w['end'] or 'still frozen',
         w['seconds'], w['who']] for w in data['windows']], 'windows')
    stages = _table(['stage', 'status', 'start', 'end', 'runs'] + list(
        timeline.SUMMARY), [
        [s['stage'], s['status'], s['start'], s['end'], len(s['runs'])] + [
            ', '.join(s['outcomes'][k]) for k in timeline.SUMMARY]
        for s in data['stages']], 'stages')
    title = html.escape(f"nova-cutover report: {data['plan']}")
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<title>{title}</title><style>{CSS}</style></head><body>\n'
            f'<h1>{title}</h1>\n{summary}\n<h2>Timeline (UTC)</h2>\n'
            f'{svg(data, measured)}\n{_legend()}\n'
            f'<h2>Freeze windows</h2>\n{windows}\n'
            f'<h2>Stages and hosts</h2>\n{stages}\n'
            '</body></html>\n')
