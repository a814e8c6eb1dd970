"""nova-cutover: run the nova-network -> Neutron cutover plan, stage by stage.

Argument parsing and output only; the runbook is in ``freeze.cutover``.
Exit codes (freeze.cli.exits): 0 done, 1 failed, stopped or done with
fallen-back hosts (see ``status``), 2 bad usage, 3 waiting for
``--confirm-point-of-no-return``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
import json
import sys
from typing import Any, TextIO

from freeze.cli import exits
from freeze.cli import lazy
from freeze.cli import output
from freeze.cli import shell
from freeze.cli.exits import CommandError
from freeze.cutover import paths

# SQLAlchemy (the journal) and the runbook: when a command runs, not for
# --help.
availability = lazy.module('freeze.cutover.availability')
inventory = lazy.module('freeze.cutover.inventory')
journal_mod = lazy.module('freeze.cutover.journal')
plan_mod = lazy.module('freeze.cutover.plan')
progress_mod = lazy.module('freeze.cutover.progress')
report = lazy.module('freeze.cutover.report')
runner_mod = lazy.module('freeze.cutover.runner')
timeline = lazy.module('freeze.cutover.timeline')
timeline_html = lazy.module('freeze.cutover.timeline_html')

NAME = 'nova-cutover'



def load_plan(path: str) -> plan_mod.Plan:
    try:
        with open(path, encoding='utf-8') as f:
            text = f.read()
    except OSError as exc:
        raise CommandError(f'cannot read plan {path}: {exc}')
    raw = plan_mod.inventory_settings(text)
    hosts = inventory.from_nova(raw) if raw is not None else None
    return plan_mod.load(text, hosts)


def selection(args: argparse.Namespace,
              ) -> tuple[str | None, list[str] | None] | None:
    if getattr(args, 'cell', None):
        return (args.cell, None)
    if getattr(args, 'hosts', None):
        return (None, [h for h in args.hosts.split(',') if h])
    return None


def hosts_list(text: str) -> list[str]:
    return [h for h in text.split(',') if h]


class _Runbook:
    """A command over the journal; the runbook's errors are the
    operator's to fix (exit 1, one line)."""

    def expected_errors(self) -> tuple[type[Exception], ...]:
        return (CommandError, plan_mod.PlanError, journal_mod.JournalError,
                runner_mod.CutoverError, timeline.TimelineError)

    def journal(self, create: bool = False) -> journal_mod.Journal:
        return journal_mod.Journal(
            self.app.options.journal or paths.default_url(), create=create)

    def runner(self, journal: journal_mod.Journal,
               args: argparse.Namespace | None = None) -> runner_mod.Runner:
        return runner_mod.Runner(
            journal, progress_mod.Progress(),
            confirm=getattr(args, 'confirm', False),
            skip_fallen=getattr(args, 'skip_fallen', False))

    def with_runner(self, args: argparse.Namespace,
                    action: Callable[[runner_mod.Runner], str],
                    create: bool = False) -> int:
        """Run a journal-changing command as the journal's one runner."""
        journal = self.journal(create=create)
        journal.acquire()
        try:
            status = action(self.runner(journal, args))
        finally:
            journal.release()
        return runner_mod.EXIT.get(status, exits.FAILED)


def _stage(parser: argparse.ArgumentParser,
           required: bool = False) -> argparse.ArgumentParser:
    parser.add_argument('--stage', required=required,
                        help='only this stage')
    return parser


def _selection(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    group = parser.add_mutually_exclusive_group()
    group.add_argument('--cell', help='only the hosts of this cell')
    group.add_argument('--hosts', metavar='H,...', help='only these hosts')
    return parser


def _confirm(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument('--confirm-point-of-no-return', dest='confirm',
                        action='store_true',
                        help='allow the thaw after a verified translation '
                             '(and a rollback past it)')
    return parser


def _skip_fallen(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument(
        '--skip-fallen-back-hosts', dest='skip_fallen', action='store_true',
        help='go on past a stage whose hosts fell back; they stay out of '
             'later stages until retried or accepted')
    return parser


def _document(parser: argparse.ArgumentParser, formats: Sequence[str],
              default: str) -> argparse.ArgumentParser:
    parser.add_argument('-f', '--format', choices=formats, default=default,
                        help='output format (default: %(default)s)')
    return parser


class Plan(_Runbook, shell.Command):
    """print every action of a run, in order; run nothing

    The dry run of ``run PLAN``: each stage's freeze, commands and batches
    of hosts with the commands each host gets, and where a stage stops.
    """

    example = '''
        nova-cutover plan cutover-plan.yaml
        nova-cutover plan cutover-plan.yaml --stage compute-l2 --cell cell1
        nova-cutover plan cutover-plan.yaml -f json
    '''

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = _document(_selection(_stage(super().get_parser(prog_name))),
                           ('text', 'json', 'yaml'), 'text')
        parser.add_argument('plan', metavar='PLAN', help='the runbook (YAML)')
        return parser

    def take_action(self, args: argparse.Namespace) -> int:
        plan = load_plan(args.plan)
        stages = [plan.stage(args.stage)] if args.stage else plan.stages
        hosts = plan.select(*selection(args)) if selection(args) else list(
            plan.hosts)
        if args.format == 'text':
            print('\n'.join(report.describe(plan, stages, hosts)))
        else:
            print(output.render(report.dry_run(plan, stages, hosts),
                                args.format))
        return exits.DONE


class Run(_Runbook, shell.Command):
    """run the stages not done yet, or one stage

    Exit 0 when done, 1 when stopped or done with fallen-back hosts, 3 at a
    point of no return that waits for --confirm-point-of-no-return.
    """

    example = '''
        nova-cutover run cutover-plan.yaml
        nova-cutover run cutover-plan.yaml --stage compute-l2 --cell cell1
        nova-cutover run cutover-plan.yaml --confirm-point-of-no-return
    '''

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = _confirm(_selection(_stage(super().get_parser(prog_name))))
        parser.add_argument('plan', metavar='PLAN', help='the runbook (YAML)')
        return _skip_fallen(parser)

    def take_action(self, args: argparse.Namespace) -> int:
        if selection(args) and not args.stage:
            raise exits.UsageError('--cell/--hosts need --stage')
        plan = load_plan(args.plan)
        return self.with_runner(args, lambda runner: runner.run(
            plan, args.stage, selection(args)), create=True)


class Resume(_Runbook, shell.Command):
    """finish the run a crash or a stop left unfinished

    After ``run PLAN``: then the rest of the plan.
    """

    example = '''
        nova-cutover resume
        nova-cutover resume --confirm-point-of-no-return
        nova-cutover resume --skip-fallen-back-hosts
    '''

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        return _skip_fallen(_confirm(super().get_parser(prog_name)))

    def take_action(self, args: argparse.Namespace) -> int:
        return self.with_runner(args, lambda runner: runner.resume())


class Rollback(_Runbook, shell.Lister):
    """revert a stage (default: the last one run), last action first

    Restores the stage's freeze and grants too.  With --dry-run, lists what
    would be reverted, in order, and runs nothing.
    """

    example = '''
        nova-cutover rollback --dry-run -f value -c stage -c step
        nova-cutover rollback --stage compute-l2
        nova-cutover rollback --all --confirm-point-of-no-return
    '''

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = _confirm(_stage(super().get_parser(prog_name)))
        parser.add_argument('--all', action='store_true',
                            help='every stage that ran, last first')
        parser.add_argument('--dry-run', action='store_true',
                            help='list what would be reverted, in order; '
                                 'run nothing')
        return parser

    def run(self, args: argparse.Namespace) -> int:
        if args.dry_run:
            return super().run(args)
        return self.guarded(lambda: self._rollback(args))

    def _check(self, args: argparse.Namespace) -> None:
        if args.all and args.stage:
            raise exits.UsageError('give --all or --stage, not both')

    def _rollback(self, args: argparse.Namespace) -> int:
        self._check(args)
        return self.with_runner(args, lambda runner: runner.rollback_all()
                                if args.all else runner.rollback(args.stage))

    def take_action(self,
                    args: argparse.Namespace) -> tuple[tuple, list[tuple]]:
        self._check(args)
        journal = self.journal()
        return shell.rows(
            ('stage', 'run', 'unit', 'step', 'revert', 'note'),
            self.runner(journal, args).rollback_preview(args.stage,
                                                        args.all))


class Status(_Runbook, shell.Lister):
    """where each stage stands, and the freeze now

    The table ends with the freeze as freeze-ctl reports it now (``freeze``
    shows it as data).
    """

    example = '''
        nova-cutover status
        nova-cutover status -f value -c stage -c status
        nova-cutover status -f json
    '''

    def take_action(self,
                    args: argparse.Namespace) -> tuple[tuple, list[tuple]]:
        journal = self.journal()
        runner = self.runner(journal)
        runs = journal.runs()
        self._freeze = runner.freeze_now(runner.plan_of(runs[-1])) \
            if runs else None
        return shell.rows(
            ('stage', 'status', 'runs', 'hosts', 'note', 'updated'),
            report.stages(runner, runs, runner.units()))

    def produce_output(self, args: argparse.Namespace, columns: Sequence[str],
                       data: Any) -> int:
        result = super().produce_output(args, columns, data)
        if args.formatter == 'table':
            print(report.freeze_line(self._freeze), file=self.app.stdout)
        return result


class Freeze(_Runbook, shell.ShowOne):
    """the freeze now, as freeze-ctl reports it for the plan last run"""

    example = '''
        nova-cutover freeze
        nova-cutover freeze -f value -c frozen
    '''

    def take_action(self, args: argparse.Namespace) -> tuple[tuple, tuple]:
        journal = self.journal()
        runner = self.runner(journal)
        runs = journal.runs()
        if not runs:
            raise CommandError('nothing has run yet: no plan, no freeze')
        state = runner.freeze_now(runner.plan_of(runs[-1]))
        if state is None:
            raise CommandError('no stage of the plan freezes')
        if 'error' in state:
            raise CommandError(f"freeze-ctl status: {state['error']}")
        return shell.show(state)


class Hosts(_Runbook, shell.Lister):
    """the state of each host in each stage"""

    example = '''
        nova-cutover hosts --stage compute-l2
        nova-cutover hosts -f value -c host -c status
    '''

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        return _stage(super().get_parser(prog_name))

    def take_action(self,
                    args: argparse.Namespace) -> tuple[tuple, list[tuple]]:
        journal = self.journal()
        runner = self.runner(journal)
        return shell.rows(
            ('host', 'cell', 'stage', 'status', 'why', 'done', 'last', 'rc',
             'when'),
            report.hosts(runner, journal.runs(), runner.units(),
                         args.stage))


class _LogText:
    """``log``'s reading form: each action, its command and its output."""

    def add_argument_group(self, parser: argparse.ArgumentParser) -> None:
        pass

    def emit_list(self, column_names: Sequence[str], data: Any, stdout: TextIO,
                  parsed_args: argparse.Namespace) -> None:
        for values in data:
            row = dict(zip(column_names, values))
            head = ' '.join(str(row[c]) for c in (
                'when', 'stage', 'unit', 'op') if c in row)
            stdout.write(f"#{row.get('id')} run {row.get('run')} {head} "
                         f"{row.get('step')}: {row.get('status')} "
                         f"rc={row.get('rc')}\n")
            if row.get('command') is not None:
                stdout.write(f"  $ {row['command']}\n")
            for line in (row.get('output') or '').splitlines():
                stdout.write(f'  | {line}\n')


class Log(_Runbook, shell.Lister):
    """the journal: every command and its output"""

    formatters = dict(shell.LIST_FORMATTERS, text=_LogText)
    formatter_default = 'text'
    example = '''
        nova-cutover log --failed
        nova-cutover log --stage compute-l2 --host cmp001
        nova-cutover log -f table -c id -c unit -c step -c status -c rc
    '''

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = _stage(super().get_parser(prog_name))
        parser.add_argument('--host', help='only this host')
        parser.add_argument('--failed', action='store_true',
                            help='only failed, timed out or unfinished '
                                 'actions')
        return parser

    def take_action(self,
                    args: argparse.Namespace) -> tuple[tuple, list[tuple]]:
        return shell.rows(
            ('id', 'run', 'when', 'stage', 'unit', 'op', 'step', 'status',
             'rc', 'command', 'output'),
            report.log(self.journal().rows(args.stage), args.host,
                       args.failed))


class RetryHosts(_Runbook, shell.Command):
    """run the fallen-back hosts again"""

    example = '''
        nova-cutover retry-hosts --stage compute-l2
        nova-cutover retry-hosts --hosts cmp001,cmp002 --plan fixed.yaml
    '''

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = _stage(super().get_parser(prog_name))
        parser.add_argument('--hosts', metavar='H,...',
                            help='only these hosts')
        parser.add_argument('--plan', metavar='PLAN',
                            help='a corrected plan (default: the last one '
                                 'run)')
        return parser

    def take_action(self, args: argparse.Namespace) -> int:
        plan = load_plan(args.plan) if args.plan else None
        chosen = (None, hosts_list(args.hosts)) if args.hosts else None

        def retry(runner: runner_mod.Runner) -> str:
            runs = runner.journal.runs()
            if not runs:
                raise CommandError('nothing has run yet')
            return runner.run(plan or runner.plan_of(runs[-1]), args.stage,
                              chosen, retry=True)
        return self.with_runner(args, retry)


class AcceptHosts(_Runbook, shell.Command):
    """accept fallen-back hosts as done in a stage

    For hosts set right by hand: later stages take them.
    """

    example = '''
        nova-cutover accept-hosts --stage compute-l2 --hosts cmp001,cmp002
    '''

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = _stage(super().get_parser(prog_name), required=True)
        parser.add_argument('--hosts', metavar='H,...', required=True,
                            help='the hosts, comma-separated')
        return parser

    def take_action(self, args: argparse.Namespace) -> int:
        return self.with_runner(args, lambda runner: runner.accept(
            args.stage, hosts_list(args.hosts)))


class Report(_Runbook, shell.Command):
    """the timeline: stages, freeze windows, hosts

    Built from the journal and freeze-ctl's history; printed as data, or
    written as a self-contained HTML page.
    """

    example = '''
        nova-cutover report --html cutover.html
        nova-cutover report -f yaml
    '''

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument('-f', '--format', choices=('json', 'yaml'),
                            help='print the data (default: json, unless '
                                 '--html)')
        parser.add_argument('--html', metavar='FILE',
                            help='write a self-contained HTML page with the '
                                 'timeline')
        parser.add_argument('--requests', metavar='FILE',
                            help="with --html: a client's record of its "
                                 'requests (JSON lines: start, end, actor, '
                                 'status, frozen), drawn as measured '
                                 'availability')
        return parser

    def take_action(self, args: argparse.Namespace) -> int:
        journal = self.journal()
        runner = self.runner(journal)
        runs = journal.runs()
        if not runs:
            raise CommandError('nothing has run yet: no report')
        data = report.timeline(
            runner, runs, journal.rows(),
            runner.freeze_history(runner.plan_of(runs[-1])))
        if args.html:
            measured = None
            if args.requests:
                measured = availability.measured(
                    read_requests(args.requests), *timeline_html.bounds(data))
            try:
                with open(args.html, 'w', encoding='utf-8') as f:
                    f.write(timeline_html.page(data, measured))
            except OSError as exc:
                raise CommandError(f'cannot write {args.html}: {exc}')
        if args.format or not args.html:
            print(output.render(data, args.format or 'json'))
        return exits.DONE


def read_requests(path: str) -> list[dict]:
    """A client's record of its requests: one JSON object a line."""
    try:
        with open(path, encoding='utf-8') as f:
            return [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError) as exc:
        raise CommandError(
            f'cannot read the requests record {path}: {exc}') from None


COMMANDS = {
    'plan': 'Plan', 'run': 'Run', 'resume': 'Resume',
    'rollback': 'Rollback', 'status': 'Status', 'freeze': 'Freeze',
    'hosts': 'Hosts', 'log': 'Log', 'retry-hosts': 'RetryHosts',
    'accept-hosts': 'AcceptHosts', 'report': 'Report',
}


class App(shell.App):
    """nova-cutover's commands: the runbook's here, the translation's and
    the proxy's in their modules."""

    def __init__(self, **streams: Any) -> None:
        commands = {name: f'freeze.cli.nova_cutover:{cls}'
                    for name, cls in COMMANDS.items()}
        commands.update(TRANSLATE_COMMANDS)
        commands['proxy serve'] = 'freeze.cli.cutover_proxy:Serve'
        super().__init__(
            NAME, 'Drive the nova-network -> Neutron cutover: staged, '
                  'journalled, resumable, revertible.',
            commands, deprecated={'translate plan': 'translate diff'},
            **streams)

    def add_global_options(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            '--journal', metavar='URL',
            help='SQLAlchemy URL of the journal (default: '
                 f'$NOVA_CUTOVER_JOURNAL, then {paths.DEFAULT_URL})')


TRANSLATE_COMMANDS = {
    f'translate {verb}': f'freeze.cli.cutover_translate:{cls}'
    for verb, cls in (('diff', 'Diff'), ('apply', 'Apply'),
                      ('verify', 'Verify'), ('rollback', 'Rollback'),
                      ('restore', 'Restore'))}


def main(argv: list[str] | None = None) -> int:
    return App().main(argv)


if __name__ == '__main__':
    sys.exit(main())
