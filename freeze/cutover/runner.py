"""Drive runs of stages: forward, resume, fallback, rollback.

A *run* is one stage over a set of hosts (the CLI's ``run``): freeze (as the stage
says), its stage-level commands, its hosts batch by batch, thaw.  Every
command goes through ``_act``: started behind its gate, intent journalled
with its pid and log file, gate opened, result journalled.  An action a
killed runner left without a result is first collected (``_resolve``):
waited for if its command still runs, its real status read from its files.
Decisions are taken from ``views`` over the journal's rows, the same way
after a crash as during a run.
"""

from __future__ import annotations

from collections.abc import Iterable
import concurrent.futures
import dataclasses
import json
import threading
import time
from typing import Any

from freeze.cutover import executor
from freeze.cutover import freezing
from freeze.cutover import journal as journal_mod
from freeze.cutover import plan as plan_mod
from freeze.cutover import progress
from freeze.cutover import views
from freeze.cutover.journal import Row
from freeze.state import document

EXIT = {views.DONE: 0, views.ROLLED_BACK: 0, views.STOPPED: 1,
        views.DONE_WITH_FALLBACKS: 1, views.AWAITING: 3}
HOST_END = ('done', views.MARK_FALLEN_BACK, views.MARK_STUCK)
#: timeout of the freeze's own actions (freeze-ctl)
STAGE_TIMEOUT = 120.0
#: how long ``status`` waits for freeze-ctl's answer
STATUS_TIMEOUT = 15.0


class CutoverError(Exception):
    """A refusal or failure explained to the operator; nothing half-done."""


def stage_actions(stage: plan_mod.Stage) -> tuple[list[str], list[str]]:
    """The stage-level actions of a run: (before the hosts, after them)."""
    pre = (['freeze-before', 'freeze'] if stage.freeze else []) + [
        c.name for c in stage.commands]
    return pre, ['thaw'] if stage.thaw else []


class Runner:
    def __init__(self, journal: journal_mod.Journal,
                 progress: progress.Progress | None, confirm: bool = False,
                 skip_fallen: bool = False) -> None:
        self.journal = journal
        self.progress = progress
        self.confirm = confirm
        #: go on past a stage whose hosts fell back, leaving them behind
        self.skip_fallen = skip_fallen
        self._plans = {}

    # -- what the journal says ------------------------------------------

    def plan_of(self, p: journal_mod.Run) -> plan_mod.Plan:
        if p.id not in self._plans:
            self._plans[p.id] = plan_mod.load(p.plan, hosts=p.inventory)
        return self._plans[p.id]

    def unfinished(self) -> list[journal_mod.Run]:
        return [p for p in self.journal.runs()
                if p.status in views.UNFINISHED]

    def stage_status(self, plan: plan_mod.Plan, stage: plan_mod.Stage,
                     runs: list[journal_mod.Run],
                     units: dict[tuple, list[Row]]) -> str:
        """not-started, rolled-back, an unfinished status, partial,
        done-with-fallbacks, done."""
        mine = [p for p in runs if p.stage == stage.name]
        if not mine:
            return 'not-started'
        mine = [p for p in mine if p.status != views.ROLLED_BACK]
        if not mine:
            return views.ROLLED_BACK
        if mine[-1].status in views.UNFINISHED:
            return mine[-1].status
        statuses = set(self.host_statuses(plan, stage, units).values())
        if 'pending' in statuses:
            return 'partial'
        if statuses & set(views.LEFT_BEHIND + (views.SKIPPED,)):
            return views.DONE_WITH_FALLBACKS
        return views.DONE

    def left_behind(self, plan: plan_mod.Plan, stage: plan_mod.Stage,
                    units: dict[tuple, list[Row]]) -> dict[str, str]:
        """host -> why, for the hosts an earlier stage left behind (fallen
        back, not retried successfully nor accepted): kept out of this
        stage."""
        behind = {}
        for earlier in plan.stages[:plan.stages.index(stage)]:
            names = _names(earlier.steps)
            for host in plan.hosts if earlier.has_hosts else ():
                status = _unit(units, earlier.name, host).status(names)
                if status in views.LEFT_BEHIND and host not in behind:
                    behind[host] = f'{status} in {earlier.name}'
        return behind

    def host_statuses(self, plan: plan_mod.Plan, stage: plan_mod.Stage,
                      units: dict[tuple, list[Row]]) -> dict[str, str]:
        """host -> its status in ``stage``; a pending host an earlier stage
        left behind is ``skipped``."""
        if not stage.has_hosts:
            return {}
        names, behind = _names(stage.steps), self.left_behind(plan, stage,
                                                              units)
        out = {}
        for host in plan.hosts:
            status = _unit(units, stage.name, host).status(names)
            out[host] = views.SKIPPED if status == 'pending' and \
                host in behind else status
        return out

    def freeze_now(self, plan: plan_mod.Plan) -> dict[str, Any] | None:
        """The freeze as freeze-ctl says it is now, not as the journal last
        left it (a runner killed mid-thaw): its status document, or
        ``{'error': why}``; None when no stage of the plan freezes."""
        if not any(s.freeze for s in plan.stages):
            return None
        state, error = _freeze_ctl(freezing.status(plan.freeze_command),
                                   'status', dict)
        return {'error': error} if error else state

    def freeze_history(self, plan: plan_mod.Plan) -> list[dict[str, Any]]:
        """freeze-ctl's audit history of the plan's freeze state (``report``
        folds it into freeze windows); [] when no stage of the plan
        freezes."""
        if not any(s.freeze for s in plan.stages):
            return []
        history, error = _freeze_ctl(freezing.history(plan.freeze_command),
                                     'history', list)
        if error:
            raise CutoverError(error)
        return history

    # -- run ------------------------------------------------------------

    def run(self, plan: plan_mod.Plan, stage_name: str | None = None,
            selection: tuple[str | None, list[str] | None] | None = None,
            retry: bool = False) -> str:
        """Start runs: one stage, or every stage not done, in order."""
        busy = self.unfinished()
        if busy:
            raise CutoverError(
                f'run {busy[-1].id} of stage {busy[-1].stage} is '
                f'{busy[-1].status}: resume it or roll it back first')
        stages = [plan.stage(stage_name)] if stage_name else plan.stages
        if selection is not None and not all(s.has_hosts for s in stages):
            raise CutoverError('--cell/--hosts choose hosts: give --stage '
                               'with a host stage')
        status, left = views.DONE, False
        for stage in stages:
            runs, units = self.journal.runs(), self.units()
            if retry and not stage.has_hosts:
                continue
            current = self.stage_status(plan, stage, runs, units)
            if current == views.DONE and not retry:
                if stage_name:
                    self.progress.event('stage-done', stage=stage.name,
                                        note='nothing to do')
                continue
            if current == views.DONE_WITH_FALLBACKS and not retry and \
                    not stage_name and not self._hosts_for(
                        plan, stage, units, None, False):
                # Run through: its fallen-back hosts wait for retry-hosts
                # or accept-hosts, whatever later stages have run since.
                left = True
                if not self.skip_fallen:
                    break
                continue
            self._check_order(plan, stage, runs, units, retry)
            hosts = self._hosts_for(plan, stage, units, selection, retry)
            if stage.has_hosts and not hosts:
                self.progress.event('stage-skipped', stage=stage.name,
                                    note='no host to run')
                if self._fallbacks(plan, stage):
                    left = True
                    if not self.skip_fallen:
                        break
                continue
            run_id = self.journal.new_run(
                stage.name, plan.text, plan.hosts, hosts,
                whole=stage_name is None and not retry)
            status = self._forward(self._run_by_id(run_id))
            if status != views.DONE:
                break
            if self._fallbacks(plan, stage):
                left = True
                if not self.skip_fallen:
                    break
        return views.DONE_WITH_FALLBACKS if status == views.DONE and left \
            else status

    def _check_order(self, plan: plan_mod.Plan, stage: plan_mod.Stage,
                     runs: list[journal_mod.Run],
                     units: dict[tuple, list[Row]],
                     retry: bool = False) -> None:
        """Stages run in plan order; fallen-back hosts may be retried
        later, once the stage after theirs has run."""
        for earlier in plan.stages[:plan.stages.index(stage)]:
            status = self.stage_status(plan, earlier, runs, units)
            if status == views.DONE_WITH_FALLBACKS and (
                    self.skip_fallen or retry):
                continue
            if status == views.DONE_WITH_FALLBACKS:
                raise CutoverError(
                    f'stage {stage.name} comes after {earlier.name}, which is '
                    f'{status}: retry-hosts, accept-hosts, or run '
                    '--skip-fallen-back-hosts to go on without them')
            if status != views.DONE:
                raise CutoverError(f'stage {stage.name} comes after '
                                   f'{earlier.name}, which is {status}')
        after = plan.stages[plan.stages.index(stage) + 1:]
        later = [] if retry else [
            s.name for s in after
            if self.stage_status(plan, s, runs, units)
            not in ('not-started', views.ROLLED_BACK)]
        if later:
            raise CutoverError(f"stage {', '.join(later)} has run after "
                               f'{stage.name}: roll it back first')

    def _hosts_for(self, plan: plan_mod.Plan, stage: plan_mod.Stage,
                   units: dict[tuple, list[Row]],
                   selection: tuple[str | None, list[str] | None] | None,
                   retry: bool) -> list[str]:
        if not stage.has_hosts:
            return []
        chosen = plan.select(*selection) if selection else list(plan.hosts)
        statuses = self.host_statuses(plan, stage, units)
        wanted = views.LEFT_BEHIND if retry else ('pending',)
        return [h for h in chosen if statuses[h] in wanted]

    def _fallbacks(self, plan: plan_mod.Plan, stage: plan_mod.Stage) -> bool:
        """After a run: did the stage leave hosts behind?  Says so."""
        units = self.units()
        status = self.stage_status(plan, stage, self.journal.runs(), units)
        if status != views.DONE_WITH_FALLBACKS:
            return False
        statuses = self.host_statuses(plan, stage, units)
        behind = [h for h, s in statuses.items()
                  if s in views.LEFT_BEHIND + (views.SKIPPED,)]
        self.progress.event(
            views.DONE_WITH_FALLBACKS, stage=stage.name, hosts=len(behind),
            note='left behind, and kept out of later stages: '
                 f"{', '.join(behind[:20])}. Then: retry-hosts, accept-hosts, "
                 'or run --skip-fallen-back-hosts')
        return True

    def accept(self, stage_name: str | None, hosts: list[str]) -> str:
        """The operator accepts fallen-back hosts as done in a stage (set
        right by hand): later stages take them again."""
        busy = self.unfinished()
        if busy:
            raise CutoverError(f'run {busy[-1].id} of stage {busy[-1].stage} '
                               f'is {busy[-1].status}: resume it or roll '
                               'it back first')
        runs = self.journal.runs()
        mine = [p for p in runs if p.stage == stage_name]
        if not mine:
            raise CutoverError(f'stage {stage_name} has not run')
        plan = self.plan_of(runs[-1])
        stage = plan.stage(stage_name)
        statuses = self.host_statuses(plan, stage, self.units(stage_name))
        for host in hosts:
            if statuses.get(host) not in views.LEFT_BEHIND:
                raise CutoverError(
                    f"host {host} is {statuses.get(host, 'not in the plan')} "
                    f'in stage {stage_name}, not fallen back')
        for host in hosts:
            self.journal.mark(mine[-1].id, stage_name, host,
                              views.MARK_ACCEPTED, 'accepted by the operator')
            self.progress.event('host-accepted', stage=stage_name, host=host)
        return views.DONE

    # -- resume -----------------------------------------------------------

    def resume(self) -> str:
        """Finish the unfinished run; when it was part of ``run PLAN``
        (the whole plan), go on to the plan's end (or its next
        confirmation)."""
        busy = self.unfinished()
        if not busy:
            runs = self.journal.runs()
            if runs and runs[-1].whole and \
                    runs[-1].status == views.DONE:
                # killed between two stages of a run of the whole plan
                return self.run(self.plan_of(runs[-1]))
            raise CutoverError('nothing to resume: no run is unfinished')
        p = busy[-1]
        if p.status == views.ROLLING_BACK:
            return self._rollback_run(p)
        status = self._forward(p)
        plan = self.plan_of(p)
        if status == views.DONE and self._fallbacks(
                plan, plan.stage(p.stage)) and not (p.whole and
                                                    self.skip_fallen):
            return views.DONE_WITH_FALLBACKS
        if status == views.DONE and p.whole:
            # The rest of the plan, as run would; a confirmation given
            # was for this run: a later point of no return asks again.
            self.confirm = False
            return self.run(plan)
        return status

    # -- forward ----------------------------------------------------------

    def _run_by_id(self, run_id: int) -> journal_mod.Run:
        return next(p for p in self.journal.runs() if p.id == run_id)

    def units(self,
              stage: plan_mod.Stage | None = None) -> dict[tuple, list[Row]]:
        """Journal rows by unit: (stage, host), or (run, '') for a run's
        stage-level actions."""
        rows = {}
        for row in self.journal.rows(stage):
            key = (row.stage, row.unit) if row.unit else (row.run_id, '')
            rows.setdefault(key, []).append(row)
        return rows

    def _forward(self, p: journal_mod.Run) -> str:
        plan = self.plan_of(p)
        stage = plan.stage(p.stage)
        self.journal.set_run(p.id, views.RUNNING)
        self.progress.event('stage-start', stage=stage.name, run=p.id,
                            hosts=len(p.hosts))
        rows = self.units(stage.name)
        pre, post = stage_actions(stage)
        stage_rows = rows.setdefault((p.id, ''), [])
        for name in pre:
            if not self._stage_action(p, plan, stage, stage_rows, name):
                return self._stop(p, f'stage action {name} failed')
        if stage.has_hosts:
            stopped = self._hosts(p, plan, stage, rows)
            if stopped:
                return self._stop(p, stopped, already=True)
        for name in post:
            view = views.unit_view(stage_rows)
            if stage.point_of_no_return and name not in view.completed \
                    and not view.confirmed:
                if not self.confirm:
                    note = point_of_no_return_text(stage)
                    self.journal.set_run(p.id, views.AWAITING, note)
                    self.progress.event('awaiting-confirmation',
                                        stage=stage.name, run=p.id,
                                        note=note)
                    return views.AWAITING
                self.journal.confirm(p.id, stage.name)
                stage_rows.append(Row(0, p.id, stage.name, '', name,
                                      journal_mod.CONFIRM, 'ok'))
                self.progress.event('confirmed', stage=stage.name, run=p.id)
            if not self._stage_action(p, plan, stage, stage_rows, name):
                return self._stop(p, f'stage action {name} failed')
        self.journal.set_run(p.id, views.DONE)
        self.progress.event('stage-done', stage=stage.name, run=p.id)
        return views.DONE

    def _stop(self, p: journal_mod.Run, note: str,
              already: bool = False) -> str:
        if not already:
            self.journal.set_run(p.id, views.STOPPED, note)
        self.progress.event('stage-stopped', stage=p.stage, run=p.id,
                            note=note)
        return views.STOPPED

    def _stage_command(self, plan: plan_mod.Plan, stage: plan_mod.Stage,
                       name: str, stage_rows: list[Row],
                       op: str = 'do') -> str | None:
        """The rendered command of a stage-level action (and its revert)."""
        base = plan.freeze_command
        if name == 'freeze-before':
            return (freezing.status(base), None)[op == 'revert']
        if name == 'freeze':
            if op == 'do':
                return freezing.on(base, stage.freeze)
            before = _last_ok(stage_rows, 'freeze-before')
            return freezing.restore(base, stage.freeze, before.output,
                                    document.utcnow())
        if name == 'thaw':
            return (freezing.off(base) if op == 'do'
                    else freezing.on(base, stage.freeze))
        step = stage.step(name)
        template = step.run if op == 'do' else step.revert
        return template and plan.render(template, stage.name)

    def _stage_action(self, p: journal_mod.Run, plan: plan_mod.Plan,
                      stage: plan_mod.Stage, stage_rows: list[Row],
                      name: str) -> bool:
        view = views.unit_view(stage_rows)
        if name in view.completed:
            return True
        step = stage.step(name) if name in _names(stage.commands) else None
        timeout = step.timeout if step else STAGE_TIMEOUT
        settled = self._settled_in_doubt(p, '', stage, step, view,
                                         stage_rows, plan)
        if settled is not None:
            self.progress.event('stage-action', stage=stage.name,
                                action=name, status=settled,
                                note='settled after a restart')
            return settled == 'ok'
        command = self._stage_command(plan, stage, name, stage_rows)
        outcome = self._act(p, stage.name, '', name, 'do', command, timeout,
                            stage_rows)
        self.progress.event('stage-action', stage=stage.name, action=name,
                            status=outcome.status, rc=outcome.rc,
                            seconds=f'{outcome.seconds:.2f}')
        return outcome.status == 'ok'

    def _settled_in_doubt(self, p: journal_mod.Run, unit: str,
                          stage: plan_mod.Stage, step: str,
                          view: views.UnitView, rows: list[Row],
                          plan: plan_mod.Plan) -> str | None:
        """An intent without a result: its real status ('ok', 'failed',
        'timeout') when its command ran to an end (collected, waited for if
        still running); else 'ok' when the step's check says it is done;
        None: do it again."""
        row = view.in_doubt
        if row is None:
            return None
        outcome = self._resolve(p, row, step.timeout if step
                                else STAGE_TIMEOUT, rows)
        if outcome is not None:
            return outcome.status
        if row.op != 'do' or step is None or step.check is None:
            return None
        check = plan.render(step.check, stage.name, unit or None)
        outcome = self._act(p, stage.name, unit, row.step, 'check', check,
                            step.timeout, rows)
        return 'ok' if outcome.status == 'ok' else None

    def _resolve(self, p: journal_mod.Run, row: Row, timeout: float,
                 rows: list[Row]) -> executor.Outcome:
        """A row a killed runner left without a result: wait for its
        command while it still runs (saying so), then journal what it
        really did.  None when it did not run to an end (never let through
        its gate, or killed): the row is then ``lost``, no longer in
        doubt, and the step's check or a new execution decides."""
        deadline = row.started + timeout
        proc = executor.find(row.pid, row.pid_started)
        if proc is not None:
            self.progress.event(
                'waiting', stage=row.stage, unit=row.unit or '-',
                step=row.step, op=row.op, pid=row.pid,
                since=progress.when(row.started),
                until=progress.when(deadline),
                command=row.command)
        outcome = executor.attach(proc, row.log, deadline)
        status, rc, output = (outcome.status, outcome.rc, outcome.output) \
            if outcome else (journal_mod.LOST, None, executor.tail(row.log)
                             + '\n[did not run to an end: its runner was '
                             'killed]')
        self.journal.result(row.id, status, rc, output)
        final = dataclasses.replace(row, status=status, rc=rc, output=output,
                                    finished=time.time())
        rows[next(i for i, r in enumerate(rows) if r is row)] = final
        self.progress.event('collected', stage=row.stage,
                            unit=row.unit or '-', step=row.step, op=row.op,
                            status=status, rc=rc)
        return outcome

    def _act(self, p: journal_mod.Run, stage: plan_mod.Stage, unit: str,
             step: str, op: str, command: str, timeout: float,
             rows: list[Row]) -> executor.Outcome:
        """One journalled command; its final row is appended to ``rows``."""
        try:
            gated = executor.Gated(command,
                                   self.journal.new_log(unit, step, op))
        except OSError as exc:  # its log file, or the fork
            raise CutoverError(f'cannot start {op} {step} of {unit or stage}: '
                               f'{exc}')
        started_at, started = gated.started_at(), time.time()
        try:
            row_id = self.journal.intent(p.id, stage, unit, step, op,
                                         command, gated.pid, started_at,
                                         gated.log, started)
        except BaseException:
            gated.abandon()
            raise
        outcome = gated.release(timeout)
        self.journal.result(row_id, outcome.status, outcome.rc,
                            outcome.output)
        rows.append(Row(row_id, p.id, stage, unit, step, op, outcome.status,
                        command, gated.pid, started_at, outcome.rc,
                        outcome.output, started, time.time(), gated.log))
        return outcome

    def _mark(self, p: journal_mod.Run, stage: plan_mod.Stage, host: str,
              mark: str, rows: list[Row], note: str = '') -> None:
        self.journal.mark(p.id, stage, host, mark, note)
        rows.append(Row(0, p.id, stage, host, '', 'mark', mark))

    # -- hosts ------------------------------------------------------------

    def _hosts(self, p: journal_mod.Run, plan: plan_mod.Plan,
               stage: plan_mod.Stage,
               rows: dict[tuple, list[Row]]) -> str | None:
        """Batches in order; returns why the run stopped, or None."""
        names = _names(stage.steps)
        hosts = list(p.hosts)
        host_rows = {h: rows.setdefault((stage.name, h), []) for h in hosts}
        counts = _Counts(stage.name, self.progress)
        for h in hosts:
            counts.add(views.unit_view(host_rows[h]).status(names), p.id,
                       views.unit_view(host_rows[h]))
        self.progress.begin(counts.done + counts.failed)
        with concurrent.futures.ThreadPoolExecutor(stage.concurrency) as pool:
            for number, batch in enumerate(plan.batches(stage, hosts), 1):
                stopped = self._batch(p, plan, stage, batch, host_rows, pool,
                                      counts, number)
                if stopped:
                    return stopped
        self.progress.hosts(stage.name, counts.done, counts.failed,
                            counts.remaining, final=True)
        return None

    def _batch(self, p: journal_mod.Run, plan: plan_mod.Plan,
               stage: plan_mod.Stage, batch: list[str],
               host_rows: dict[str, list[Row]],
               pool: concurrent.futures.Executor, counts: _Counts,
               number: int) -> str | None:
        """One batch; stops it at its threshold, or at a new failure that
        spends the stage's failure budget (failures in this run, every
        batch together)."""
        names = _names(stage.steps)
        limit = stage.threshold(len(batch))
        budget = stage.budget(len(p.hosts))
        failed = [h for h in batch if _failed_in(host_rows[h], p.id)]
        elsewhere = sum(_failed_in(host_rows[h], p.id) for h in p.hosts
                        if h not in batch)
        stop = threading.Event()
        if len(failed) >= limit:
            stop.set()
        todo = [h for h in batch if h not in failed and
                views.unit_view(host_rows[h]).status(names) != 'done']
        futures = {pool.submit(self._host, p, plan, stage, h, host_rows[h],
                               stop): h for h in todo}
        for future in concurrent.futures.as_completed(futures):
            host, result = futures[future], future.result()
            if result is None:
                continue
            counts.finish(result)
            if result != 'done':
                failed.append(host)
                self.progress.event('host-' + result, stage=stage.name,
                                    host=host,
                                    step=_failed_step(host_rows[host]))
                if len(failed) >= limit or budget is not None and \
                        elsewhere + len(failed) >= budget:
                    stop.set()
        self.progress.event('batch-done', stage=stage.name, batch=number,
                            hosts=len(batch), failed=len(failed),
                            done=counts.done, remaining=counts.remaining)
        if not stop.is_set():
            return None
        if len(failed) >= limit:
            note = (f'batch {number}: {len(failed)} of {len(batch)} hosts '
                    f'failed (threshold {limit}): the batch is reverted')
        else:
            note = (f'failure budget spent: {elsewhere + len(failed)} of the '
                    f'run\'s {len(p.hosts)} hosts failed '
                    f'(budget {budget}): batch {number} is reverted')
        self.journal.set_run(p.id, views.STOPPED, note)
        reverted = list(pool.map(
            lambda h: self._revert_host(p, plan, stage, h, host_rows[h],
                                        views.MARK_BATCH),
            [h for h in batch if views.unit_view(host_rows[h]).status(names)
             in ('done', 'running', views.MARK_FALLEN_BACK)]))
        stuck = reverted.count(views.MARK_STUCK)
        return note + ('' if not stuck else
                       f'; {stuck} host(s) could not be reverted')

    def _host(self, p: journal_mod.Run, plan: plan_mod.Plan,
              stage: plan_mod.Stage, host: str, rows: list[Row],
              stop: threading.Event) -> str | None:
        """Forward one host through every step; on failure fall back."""
        if stop.is_set():
            return None
        view = views.unit_view(rows)
        doubt = view.in_doubt
        if view.failed is None and doubt is not None:
            step = stage.step(doubt.step)
            if doubt.op == 'revert':  # a batch revert cut short: finish it
                if self._resolve(p, doubt, step.timeout, rows) is None:
                    self._act(p, stage.name, host, step.name, 'revert',
                              plan.render(step.revert, stage.name, host),
                              step.timeout, rows)
            else:
                self._settled_in_doubt(p, host, stage, step, view, rows,
                                       plan)
            view = views.unit_view(rows)
        if view.failed is None:
            for step in stage.steps:
                if step.name in view.completed:
                    continue
                command = plan.render(step.run, stage.name, host)
                outcome = self._act(p, stage.name, host, step.name, 'do',
                                    command, step.timeout, rows)
                if outcome.status != 'ok':
                    break
            else:
                return 'done'
        return self._revert_host(p, plan, stage, host, rows,
                                 views.MARK_FALLEN_BACK)

    def _revert_host(self, p: journal_mod.Run, plan: plan_mod.Plan,
                     stage: plan_mod.Stage, host: str, rows: list[Row],
                     mark: str) -> str:
        """Revert what the host has applied, last first; then mark it."""
        view = views.unit_view(rows)
        if view.in_doubt is not None:
            self._resolve(p, view.in_doubt,
                          stage.step(view.in_doubt.step).timeout, rows)
            view = views.unit_view(rows)
        for name in view.to_revert():
            step = stage.step(name)
            if step.revert is None:
                continue
            command = plan.render(step.revert, stage.name, host)
            outcome = self._act(p, stage.name, host, name, 'revert', command,
                                step.timeout, rows)
            if outcome.status != 'ok':
                self._mark(p, stage.name, host, views.MARK_STUCK, rows,
                           f'revert of {name} failed')
                return views.MARK_STUCK
        self._mark(p, stage.name, host, mark, rows)
        return mark

    # -- rollback ---------------------------------------------------------

    def rollback(self, stage_name: str | None = None) -> str:
        """Revert one stage (default: the last one run); every run of it,
        last first."""
        mine = self._rollback_runs(stage_name)
        if not mine:
            return views.ROLLED_BACK
        self._check_point_of_no_return(mine)
        status = views.ROLLED_BACK
        for p in reversed(mine):
            status = self._rollback_run(p)
            if status != views.ROLLED_BACK:
                break
        return status

    def rollback_all(self) -> str:
        """Revert every stage that ran, last first; stops where one stops
        (or asks for its point of no return)."""
        while any(p.status != views.ROLLED_BACK
                  for p in self.journal.runs()):
            status = self.rollback()
            if status != views.ROLLED_BACK:
                return status
        return views.ROLLED_BACK

    def rollback_preview(self, stage_name: str | None = None,
                         every: bool = False) -> list[dict[str, Any]]:
        """What ``rollback`` would revert, in order, as rows; runs nothing.
        A command left in doubt is listed as applied."""
        out, previewed = [], set()
        while True:
            # with every: the stage before, as if the last were reverted
            live = [p for p in self.journal.runs()
                    if p.status != views.ROLLED_BACK
                    and p.id not in previewed]
            mine = self._rollback_runs(stage_name, live, quiet=True)
            for p in reversed(mine):
                out += self._preview_run(p)
            previewed.update(p.id for p in mine)
            if not every or not mine:
                return out

    def _rollback_runs(self, stage_name: str | None = None,
                       live: list[journal_mod.Run] | None = None,
                       quiet: bool = False) -> list[journal_mod.Run]:
        """The runs a rollback of ``stage_name`` reverts, checked; [] when
        it is rolled back already."""
        runs = self.journal.runs()
        if live is None:
            live = [p for p in runs if p.status != views.ROLLED_BACK]
        busy = [p for p in live if p.status in views.UNFINISHED]
        if not runs:
            raise CutoverError('nothing to roll back: nothing has run')
        if stage_name is not None and all(p.stage != stage_name
                                          for p in runs):
            raise CutoverError(f'stage {stage_name} has nothing to roll back')
        if all(p.stage != stage_name for p in live) and (
                stage_name is not None or not live):
            # Rolled back already (say, a rollback killed just after it
            # finished, run again): the same end, nothing to do.
            if not quiet:
                self.progress.event('rolled-back-already',
                                    stage=stage_name or runs[-1].stage)
            return []
        plan = self.plan_of(live[-1])
        order = [s.name for s in plan.stages]
        started = [s for s in order if any(p.stage == s for p in live)]
        target = stage_name or started[-1]
        plan.stage(target)
        if target not in started:
            raise CutoverError(f'stage {target} has nothing to roll back')
        if started[-1] != target:
            raise CutoverError(f'roll back {started[-1]} first: it ran after '
                               f'{target}')
        if busy and busy[-1].stage != target:
            raise CutoverError(f'run {busy[-1].id} of stage {busy[-1].stage} '
                               f'is {busy[-1].status}: resume or roll '
                               'back that stage first')
        return [p for p in live if p.stage == target]

    def _past_point_of_no_return(self, p: journal_mod.Run) -> str | None:
        """What rolling back run ``p`` loses, when it was thawed after its
        point of no return; else None."""
        stage = self.plan_of(p).stage(p.stage)
        thawed = 'thaw' in views.unit_view(
            self.units(p.stage).get((p.id, ''), [])).completed
        return stage.point_of_no_return if thawed else None

    def _check_point_of_no_return(self, mine: list[journal_mod.Run]) -> None:
        for p in mine:
            loses = self._past_point_of_no_return(p)
            if loses and not self.confirm:
                raise CutoverError(
                    f'stage {p.stage} was thawed after its point of no '
                    f'return. Rolling it back loses: {loses}\nGive '
                    '--confirm-point-of-no-return to roll back anyway.')

    def _preview_run(self, p: journal_mod.Run) -> list[dict[str, Any]]:
        """``_rollback_run``'s reverts, listed in its order."""
        plan = self.plan_of(p)
        stage = plan.stage(p.stage)
        rows = self.units(stage.name)
        stage_rows = rows.get((p.id, ''), [])
        out = []

        def add(unit: str, step: str, command: str | None,
                note: str | None = None) -> None:
            out.append({'stage': stage.name, 'run': p.id, 'unit': unit or '-',
                        'step': step, 'revert': command, 'note': note})
        loses = self._past_point_of_no_return(p)
        if loses:
            add('', 'thaw', None, 'past the point of no return: loses '
                f'{loses}; needs --confirm-point-of-no-return')
        pre, post = stage_actions(stage)
        applied = views.unit_view(stage_rows).applied

        def revert(name: str) -> str | None:
            try:
                return self._stage_command(plan, stage, name, stage_rows,
                                           'revert')
            except freezing.FreezeStatusError as exc:
                raise CutoverError(f'stage {stage.name}: {exc}')
        for name in reversed(post):
            if name in applied:
                add('', name, revert(name))
        for host in p.hosts:
            host_rows = rows.get((stage.name, host), [])
            view = views.unit_view(host_rows)
            if view.run_id != p.id and not _failed_in(host_rows, p.id):
                continue
            for name in view.to_revert():
                step = stage.step(name)
                if step.revert is not None:
                    add(host, name, plan.render(step.revert, stage.name,
                                                host))
        for name in reversed(pre):
            if name in applied and revert(name) is not None:
                add('', name, revert(name))
        return out

    def _rollback_run(self, p: journal_mod.Run) -> str:
        plan = self.plan_of(p)
        stage = plan.stage(p.stage)
        self.journal.set_run(p.id, views.ROLLING_BACK)
        self.progress.event('rollback-start', stage=stage.name, run=p.id)
        rows = self.units(stage.name)
        stage_rows = rows.setdefault((p.id, ''), [])
        pre, post = stage_actions(stage)
        if not self._revert_stage_actions(p, plan, stage, stage_rows, post):
            return self._rollback_stuck(p, 'a stage action did not revert')
        hosts = [h for h in p.hosts
                 if views.unit_view(rows.get((stage.name, h), [])).run_id
                 == p.id or _failed_in(rows.get((stage.name, h), []), p.id)]
        if hosts:
            with concurrent.futures.ThreadPoolExecutor(
                    stage.concurrency) as pool:
                results = list(pool.map(
                    lambda h: self._revert_host(
                        p, plan, stage, h, rows.setdefault((stage.name, h),
                                                           []),
                        views.MARK_ROLLED_BACK), hosts))
            stuck = [h for h, r in zip(hosts, results)
                     if r == views.MARK_STUCK]
            if stuck:
                return self._rollback_stuck(
                    p, f"host(s) could not be reverted: {', '.join(stuck)}")
        if not self._revert_stage_actions(p, plan, stage, stage_rows, pre):
            return self._rollback_stuck(p, 'a stage action did not revert')
        self.journal.set_run(p.id, views.ROLLED_BACK)
        self.progress.event('rollback-done', stage=stage.name, run=p.id)
        return views.ROLLED_BACK

    def _rollback_stuck(self, p: journal_mod.Run, note: str) -> str:
        self.journal.set_run(p.id, views.ROLLING_BACK, note)
        self.progress.event('rollback-stopped', stage=p.stage, run=p.id,
                            note=note)
        return views.STOPPED

    def _revert_stage_actions(self, p: journal_mod.Run, plan: plan_mod.Plan,
                              stage: plan_mod.Stage, stage_rows: list[Row],
                              names: Iterable[str]) -> bool:
        for name in reversed(names):
            view = views.unit_view(stage_rows)
            if name not in view.applied:
                continue
            if view.in_doubt is not None:
                doubt = view.in_doubt
                self._resolve(p, doubt, stage.step(doubt.step).timeout
                              if doubt.step in _names(stage.commands)
                              else STAGE_TIMEOUT, stage_rows)
                view = views.unit_view(stage_rows)
                if name not in view.applied:
                    continue
            try:
                command = self._stage_command(plan, stage, name, stage_rows,
                                              'revert')
            except freezing.FreezeStatusError as exc:
                raise CutoverError(f'stage {stage.name}: {exc}')
            if command is None:
                stage_rows.append(Row(0, p.id, stage.name, '', name,
                                      'revert', 'ok'))
                continue
            step = stage.step(name) if name in _names(stage.commands) \
                else None
            outcome = self._act(p, stage.name, '', name, 'revert', command,
                                step.timeout if step else STAGE_TIMEOUT,
                                stage_rows)
            self.progress.event('stage-revert', stage=stage.name,
                                action=name, status=outcome.status,
                                rc=outcome.rc)
            if outcome.status != 'ok':
                return False
        return True


def point_of_no_return_text(stage: plan_mod.Stage) -> str:
    return (f'stage {stage.name} is verified and the API stays frozen '
            f'({stage.freeze.mode}). Thawing is the point of no return: a '
            f'rollback after it loses: {stage.point_of_no_return}. To thaw: '
            'nova-cutover resume --confirm-point-of-no-return')


class _Counts:
    """Hosts of a run: done, failed, remaining; feeds the progress line."""

    def __init__(self, stage: str, progress: progress.Progress) -> None:
        self.stage, self.progress = stage, progress
        self.done = self.failed = self.remaining = 0
        self._lock = threading.Lock()

    def add(self, status: str, run_id: int, view: views.UnitView) -> None:
        if status == 'done':
            self.done += 1
        elif view.mark_run == run_id and status in HOST_END:
            self.failed += 1
        else:
            self.remaining += 1

    def finish(self, result: str | None) -> None:
        with self._lock:
            self.remaining -= 1
            if result == 'done':
                self.done += 1
            else:
                self.failed += 1
            self.progress.hosts(self.stage, self.done, self.failed,
                                self.remaining)


def _freeze_ctl(command: str, what: str, kind: type) -> tuple[Any, str | None]:
    """(``kind`` of the JSON a read-only freeze-ctl command printed, None)
    or (None, why not)."""
    rc, out, err = executor.output_of(command, STATUS_TIMEOUT)
    try:
        data = json.loads(out) if rc == 0 else None
    except ValueError:
        data = None
    if isinstance(data, kind):
        return data, None
    lines = (err or out).strip().splitlines()
    last = lines[-1] if lines else f'exit {rc}'
    return None, f'freeze-ctl {what}: {last}'


def _names(steps: Iterable[plan_mod.Step]) -> list[str]:
    return [s.name for s in steps]


def _unit(units: dict[tuple, list[Row]], stage: str,
          host: str) -> views.UnitView:
    return views.unit_view(units.get((stage, host), []))


def _failed_in(rows: list[Row], run_id: int) -> bool:
    view = views.unit_view(rows)
    return view.mark in (views.MARK_FALLEN_BACK, views.MARK_STUCK) and \
        view.mark_run == run_id and view.run_id is None


def _failed_step(rows: list[Row]) -> str:
    for row in reversed(rows):
        if row.op == 'do' and row.status in ('failed', 'timeout'):
            return f'{row.step} ({row.status})'
    return ''


def _last_ok(rows: list[Row], step: str) -> Row:
    for row in reversed(rows):
        if row.step == step and row.op == 'do' and row.status == 'ok':
            return row
    raise CutoverError(f'the journal has no result for {step}')
