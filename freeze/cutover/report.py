"""Pure: what ``plan``, ``status``, ``hosts`` and ``report`` print."""

from __future__ import annotations

from collections.abc import Iterable
from freeze.cutover import freezing
from freeze.cutover import progress
from freeze.cutover import timeline as timeline_mod
from freeze.cutover import views
from typing import Any, TYPE_CHECKING

if TYPE_CHECKING:
    from freeze.cutover.journal import Row, Run
    from freeze.cutover.plan import Plan, Stage
    from freeze.cutover.runner import Runner


def dry_run(plan: Plan, stages: list[Stage],
            hosts: list[str]) -> dict[str, Any]:
    """Every action of a run, in order, as data (``plan -f json|yaml``)."""
    base = plan.freeze_command
    out = {'plan': plan.name, 'hosts': len(plan.hosts),
           'cells': len(plan.cells()), 'stages': []}
    for stage in stages:
        actions = []

        def add(action: str, run: str, revert: str | None = None,
                **more: Any) -> None:
            actions.append(dict(n=len(actions) + 1, action=action, run=run,
                                revert=revert or None, **more))
        if stage.freeze:
            add('freeze-before', freezing.status(base))
            add('freeze', freezing.on(base, stage.freeze),
                'put the freeze back as freeze-before showed it')
        for command in stage.commands:
            add(command.name, plan.render(command.run, stage.name),
                command.revert and plan.render(command.revert, stage.name))
        if stage.has_hosts:
            batches = plan.batches(stage, hosts)
            for number, batch in enumerate(batches, 1):
                add('batch', None, batch=number, batches=len(batches),
                    cell=plan.hosts[batch[0]], hosts=list(batch),
                    concurrency=stage.concurrency,
                    stops_at_failed=stage.threshold(len(batch)),
                    steps=[{'host': host, 'step': step.name,
                            'run': plan.render(step.run, stage.name, host)}
                           for host in batch for step in stage.steps])
        if stage.thaw:
            add('thaw', freezing.off(base),
                f'freeze again: {freezing.on(base, stage.freeze)}')
        out['stages'].append({'stage': stage.name, 'actions': actions,
                              'failure_budget': stage.budget(len(hosts))
                              if stage.has_hosts else None,
                              'point_of_no_return': stage.thaw and (
                                  stage.point_of_no_return) or None})
    return out


def describe(plan: Plan, stages: list[Stage], hosts: list[str]) -> list[str]:
    """The dry run as text lines."""
    run = dry_run(plan, stages, hosts)
    lines = [f"plan {run['plan']}: {run['hosts']} host(s) in "
             f"{run['cells']} cell(s)"]
    for stage in run['stages']:
        lines += ['', f"stage {stage['stage']}"]
        if stage['failure_budget']:
            lines.append(f"       stops when {stage['failure_budget']} "
                         'host(s) of the run have failed (failure budget)')
        for a in stage['actions']:
            if a['action'] == 'batch':
                lines.append(f"  {a['n']:3d}. batch {a['batch']}/"
                             f"{a['batches']}, cell {a['cell']}: "
                             f"{len(a['hosts'])} host(s), {a['concurrency']} "
                             f"at a time, stops at {a['stops_at_failed']} "
                             'failed')
                lines += [f"         {s['host']} {s['step']}: {s['run']}"
                          for s in a['steps']]
                continue
            lines.append(f"  {a['n']:3d}. {a['action']}: {a['run']}")
            if a['revert']:
                lines.append(f"       revert: {a['revert']}")
        if stage['point_of_no_return']:
            lines.append('       point of no return: needs '
                         '--confirm-point-of-no-return; a rollback '
                         f"after it loses: {stage['point_of_no_return']}")
    return lines


def stages(runner: Runner, runs: list[Run],
           units: dict[tuple, list[Row]]) -> list[dict[str, Any]]:
    """One row per stage of the latest plan, with its hosts counted."""
    if not runs:
        return []
    plan = runner.plan_of(runs[-1])
    alive = runner.journal.runner()
    rows = []
    for stage in plan.stages:
        mine = [p for p in runs if p.stage == stage.name]
        note = mine[-1].note if mine else None
        if mine and mine[-1].status in (views.RUNNING, views.ROLLING_BACK) \
                and alive is None:
            note = 'interrupted: no nova-cutover is running; resume'
        counts = {}
        for status in runner.host_statuses(plan, stage, units).values():
            counts[status] = counts.get(status, 0) + 1
        rows.append({
            'stage': stage.name,
            'status': runner.stage_status(plan, stage, runs, units),
            'runs': len(mine),
            'hosts': ', '.join(f'{status} {count}'
                               for status, count in sorted(counts.items())),
            'note': note,
            'updated': progress.when(mine[-1].updated) if mine else None})
    return rows


def freeze_line(state: dict[str, Any] | None) -> str:
    """``nova-cutover status``'s last line: the freeze as it is now."""
    if state is None:
        return 'freeze: no stage of the plan freezes'
    if 'error' in state:
        return f"freeze: unknown ({state['error']})"
    if not state.get('frozen'):
        return 'freeze (freeze-ctl status now): thawed'
    return ('freeze (freeze-ctl status now): frozen, mode '
            f"{state.get('mode')}, reason {state.get('reason')!r}")


def hosts(runner: Runner, runs: list[Run], units: dict[tuple, list[Row]],
          stage_filter: str | None = None) -> list[dict[str, Any]]:
    """One row per host and stage that has run for it."""
    if not runs:
        return []
    plan = runner.plan_of(runs[-1])
    out = []
    for stage in plan.stages:
        if stage_filter not in (None, stage.name) or not stage.has_hosts:
            continue
        statuses = runner.host_statuses(plan, stage, units)
        behind = runner.left_behind(plan, stage, units)
        for host, cell in plan.hosts.items():
            rows = units.get((stage.name, host), [])
            view = views.unit_view(rows)
            last = next((r for r in reversed(rows) if r.op != 'mark'), None)
            out.append({
                'host': host, 'cell': cell, 'stage': stage.name,
                'status': statuses[host],
                'why': behind.get(host) if statuses[host] == views.SKIPPED
                else None,
                'done': ','.join(view.completed),
                'last': last and f'{last.op} {last.step} {last.status}',
                'rc': last and last.rc,
                'when': last and progress.when(last.finished or last.started)})
    return out


def log(rows: Iterable[Row], host: str | None = None,
        failed: bool = False) -> list[dict[str, Any]]:
    """The journal's rows; ``failed``: actions that failed, timed out or
    are still in doubt (a check answering "not done yet" is no failure)."""
    return [{'id': r.id, 'run': r.run_id, 'stage': r.stage,
             'unit': r.unit or '-', 'op': r.op, 'step': r.step,
             'status': r.status, 'rc': r.rc, 'when': progress.when(r.started),
             'command': r.command, 'output': r.output}
            for r in rows
            if (host is None or r.unit == host)
            and (not failed or r.op != 'check' and r.status in (
                'failed', 'timeout', 'intent'))]


def timeline(runner: Runner, runs: list[Run], rows: list[Row],
             history: list[dict[str, Any]]) -> dict[str, Any]:
    """``report``'s data: the journal and the freeze history folded, with
    each stage's and host's status as ``status`` and ``hosts`` say them."""
    plan = runner.plan_of(runs[-1])
    units = runner.units()
    return timeline_mod.build(
        plan, runner.plan_of, runs, rows, history,
        {s.name: runner.stage_status(plan, s, runs, units)
         for s in plan.stages},
        {s.name: runner.host_statuses(plan, s, units) for s in plan.stages})
