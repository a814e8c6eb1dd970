"""Pure: what ``plan``, ``status`` and ``hosts`` print."""

import datetime

from freeze.cutover import freezing
from freeze.cutover import views


def describe(plan, stages, hosts):
    """Every action of a run, in order, as text lines (the dry run)."""
    lines = ['plan %s: %d host(s) in %d cell(s)'
             % (plan.name, len(plan.hosts), len(plan.cells()))]
    base = plan.freeze_command
    for stage in stages:
        lines.append('')
        lines.append('stage %s' % stage.name)
        n = 0

        def say(text, revert=None):
            nonlocal n
            n += 1
            lines.append('  %3d. %s' % (n, text))
            if revert:
                lines.append('       revert: %s' % revert)
        if stage.freeze:
            say('freeze-before: %s' % freezing.status(base))
            say('freeze: %s' % freezing.on(base, stage.freeze),
                'put the freeze back as freeze-before showed it')
        for command in stage.commands:
            say('%s: %s' % (command.name, plan.render(command.run,
                                                      stage.name)),
                command.revert and plan.render(command.revert, stage.name))
        if stage.has_hosts:
            batches = plan.batches(stage, hosts)
            for number, batch in enumerate(batches, 1):
                say('batch %d/%d, cell %s: %d host(s), %d at a time, stops '
                    'at %d failed' % (number, len(batches),
                                      plan.hosts[batch[0]], len(batch),
                                      stage.concurrency,
                                      stage.threshold(len(batch))))
                for host in batch:
                    for step in stage.steps:
                        lines.append('         %s %s: %s' % (
                            host, step.name,
                            plan.render(step.run, stage.name, host)))
        if stage.thaw:
            say('thaw: %s' % freezing.off(base),
                'freeze again: %s' % freezing.on(base, stage.freeze))
            if stage.point_of_no_return:
                lines.append('       point of no return: needs '
                             '--confirm-point-of-no-return; a rollback '
                             'after it loses: %s' % stage.point_of_no_return)
    return lines


def stages(runner, passes, units):
    """One row per stage of the latest plan, with its hosts counted."""
    if not passes:
        return []
    plan = runner.plan_of(passes[-1])
    rows = []
    for stage in plan.stages:
        mine = [p for p in passes if p.stage == stage.name]
        names = [s.name for s in stage.steps]
        counts = {}
        if stage.has_hosts:
            for host in plan.hosts:
                status = views.unit_view(units.get((stage.name, host),
                                                   [])).status(names)
                counts[status] = counts.get(status, 0) + 1
        rows.append({
            'stage': stage.name,
            'status': runner.stage_status(plan, stage, passes, units),
            'runs': len(mine),
            'hosts': ', '.join('%s %d' % kv for kv in sorted(counts.items())),
            'note': mine[-1].note if mine else None,
            'updated': _when(mine[-1].updated) if mine else None})
    return rows


def hosts(runner, passes, units, stage_filter=None):
    """One row per host and stage that has run for it."""
    if not passes:
        return []
    plan = runner.plan_of(passes[-1])
    out = []
    for stage in plan.stages:
        if stage_filter not in (None, stage.name) or not stage.has_hosts:
            continue
        names = [s.name for s in stage.steps]
        for host, cell in plan.hosts.items():
            rows = units.get((stage.name, host), [])
            view = views.unit_view(rows)
            last = next((r for r in reversed(rows) if r.op != 'mark'), None)
            out.append({
                'host': host, 'cell': cell, 'stage': stage.name,
                'status': view.status(names),
                'done': ','.join(view.completed),
                'last': last and '%s %s %s' % (last.op, last.step,
                                               last.status),
                'rc': last and last.rc,
                'when': last and _when(last.finished or last.started)})
    return out


def log(rows, host=None, failed=False):
    return [{'id': r.id, 'run': r.pass_id, 'stage': r.stage,
             'unit': r.unit or '-', 'op': r.op, 'step': r.step,
             'status': r.status, 'rc': r.rc, 'when': _when(r.started),
             'command': r.command, 'output': r.output}
            for r in rows
            if (host is None or r.unit == host)
            and (not failed or r.status in ('failed', 'timeout', 'intent'))]


def _when(epoch):
    return datetime.datetime.fromtimestamp(
        epoch, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')

