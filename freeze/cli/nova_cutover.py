"""nova-cutover: run the nova-network -> Neutron cutover plan, stage by stage.

Argument parsing and output only; the runbook is in ``freeze.cutover``.
Exit codes (freeze.cli.exits): 0 done, 1 failed, stopped or done with
fallen-back hosts (see
``status``), 2 bad usage, 3 waiting for ``--confirm-point-of-no-return``.
"""

import argparse
import json
import sys

from freeze.cli import cutover_proxy
from freeze.cli import cutover_translate
from freeze.cli import exits
from freeze.cli import output
from freeze.cutover import availability
from freeze.cutover import inventory
from freeze.cutover import journal as journal_mod
from freeze.cutover import plan as plan_mod
from freeze.cutover import progress as progress_mod
from freeze.cutover import report
from freeze.cutover import runner as runner_mod
from freeze.cutover import timeline
from freeze.cutover import timeline_html

class CommandError(Exception):
    """A clear, expected failure: printed without a traceback."""


def load_plan(path):
    try:
        with open(path, encoding='utf-8') as f:
            text = f.read()
    except OSError as exc:
        raise CommandError('cannot read plan %s: %s' % (path, exc))
    raw = plan_mod.inventory_settings(text)
    hosts = inventory.from_nova(raw) if raw is not None else None
    return plan_mod.load(text, hosts)


def selection(args):
    if getattr(args, 'cell', None):
        return (args.cell, None)
    if getattr(args, 'hosts', None):
        return (None, [h for h in args.hosts.split(',') if h])
    return None


def open_journal(args, create=False):
    return journal_mod.Journal(args.journal or journal_mod.default_url(),
                               create=create)


def make_runner(args, journal):
    return runner_mod.Runner(journal, progress_mod.Progress(),
                             confirm=getattr(args, 'confirm', False),
                             skip_fallen=getattr(args, 'skip_fallen', False))


def with_runner(args, action, create=False):
    """Run a journal-changing command as the journal's one runner."""
    journal = open_journal(args, create=create)
    journal.acquire()
    try:
        status = action(make_runner(args, journal))
    finally:
        journal.release()
    return runner_mod.EXIT.get(status, 1)


def cmd_plan(args):
    plan = load_plan(args.plan)
    stages = [plan.stage(args.stage)] if args.stage else plan.stages
    hosts = plan.select(*selection(args)) if selection(args) else list(
        plan.hosts)
    if args.format == 'table':
        print('\n'.join(report.describe(plan, stages, hosts)))
    else:
        print(output.render(report.dry_run(plan, stages, hosts),
                            args.format))
    return 0


def cmd_run(args):
    if selection(args) and not args.stage:
        raise exits.UsageError('--cell/--hosts need --stage')
    plan = load_plan(args.plan)
    return with_runner(args, lambda runner: runner.run(
        plan, args.stage, selection(args)), create=True)


def cmd_resume(args):
    return with_runner(args, lambda runner: runner.resume())


def cmd_rollback(args):
    if args.all and args.stage:
        raise CommandError('give --all or --stage, not both')
    if args.dry_run:
        journal = open_journal(args)
        rows = make_runner(args, journal).rollback_preview(args.stage,
                                                           args.all)
        print(output.render(rows, args.format, ['stage', 'run', 'unit',
                                                'step', 'revert', 'note']))
        return 0
    return with_runner(args, lambda runner: runner.rollback_all()
                       if args.all else runner.rollback(args.stage))


def cmd_retry_hosts(args):
    plan = load_plan(args.plan) if args.plan else None
    chosen = (None, args.hosts.split(',')) if args.hosts else None

    def retry(runner):
        passes = runner.journal.passes()
        if not passes:
            raise CommandError('nothing has run yet')
        return runner.run(plan or runner.plan_of(passes[-1]), args.stage,
                          chosen, retry=True)
    return with_runner(args, retry)


def cmd_accept_hosts(args):
    return with_runner(args, lambda runner: runner.accept(
        args.stage, [h for h in args.hosts.split(',') if h]))


def cmd_status(args):
    journal = open_journal(args)
    runner = make_runner(args, journal)
    passes = journal.passes()
    rows = report.stages(runner, passes, runner.units())
    freeze = runner.freeze_now(runner.plan_of(passes[-1])) if passes \
        else None
    if args.format == 'table':
        print(output.render(rows, 'table', ['stage', 'status', 'runs',
                                            'hosts', 'note', 'updated']))
        print(report.freeze_line(freeze))
    else:
        print(output.render({'journal': str(journal), 'stages': rows,
                             'freeze': freeze}, args.format))
    return 0


def cmd_hosts(args):
    journal = open_journal(args)
    runner = make_runner(args, journal)
    rows = report.hosts(runner, journal.passes(), runner.units(),
                        args.stage)
    print(output.render(rows, args.format, ['host', 'cell', 'stage',
                                            'status', 'why', 'done', 'last',
                                            'rc', 'when']))
    return 0


def cmd_log(args):
    rows = report.log(open_journal(args).rows(args.stage), args.host,
                      args.failed)
    if args.format != 'table':
        print(output.render(rows, args.format))
        return 0
    for row in rows:
        print('#%(id)s run %(run)s %(when)s %(stage)s %(unit)s %(op)s '
              '%(step)s: %(status)s rc=%(rc)s' % row)
        print('  $ %s' % row['command'])
        for line in (row['output'] or '').splitlines():
            print('  | %s' % line)
    return 0


def cmd_report(args):
    journal = open_journal(args)
    runner = make_runner(args, journal)
    passes = journal.passes()
    if not passes:
        raise CommandError('nothing has run yet: no report')
    data = report.timeline(runner, passes, journal.rows(),
                           runner.freeze_history(runner.plan_of(passes[-1])))
    if args.html:
        measured = None
        if args.requests:
            measured = availability.measured(read_requests(args.requests),
                                             *timeline_html.bounds(data))
        try:
            with open(args.html, 'w', encoding='utf-8') as f:
                f.write(timeline_html.page(data, measured))
        except OSError as exc:
            raise CommandError('cannot write %s: %s' % (args.html, exc))
    if args.format or not args.html:
        print(output.render(data, args.format or 'json'))
    return 0


def read_requests(path):
    """A client's record of its requests: one JSON object a line."""
    try:
        with open(path, encoding='utf-8') as f:
            return [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError) as exc:
        raise CommandError('cannot read the requests record %s: %s'
                           % (path, exc))


def build_parser():
    parser = argparse.ArgumentParser(
        prog='nova-cutover',
        description='Drive the nova-network -> Neutron cutover: staged, '
                    'journalled, resumable, revertible.')
    parser.add_argument('--journal', metavar='URL',
                        help='SQLAlchemy URL of the journal (default: '
                             '$NOVA_CUTOVER_JOURNAL, then %s)'
                        % journal_mod.DEFAULT_URL)
    exits.add_debug_option(parser)
    sub = parser.add_subparsers(dest='command', required=True)

    def with_selection(p):
        group = p.add_mutually_exclusive_group()
        group.add_argument('--cell', help='only the hosts of this cell')
        group.add_argument('--hosts', metavar='H,...',
                           help='only these hosts')
        return p

    def with_stage(p):
        p.add_argument('--stage', help='only this stage')
        return p

    def with_skip(p):
        p.add_argument('--skip-fallen-back-hosts', dest='skip_fallen',
                       action='store_true',
                       help='go on past a stage whose hosts fell back; they '
                            'stay out of later stages until retried or '
                            'accepted')
        return p

    def with_confirm(p):
        p.add_argument('--confirm-point-of-no-return', dest='confirm',
                       action='store_true',
                       help='allow the thaw after a verified translation '
                            '(and a rollback past it)')
        return p

    p = output.add_format_option(with_selection(with_stage(sub.add_parser(
        'plan', help='print every action of a run, in order; run nothing'))))
    p.add_argument('plan', metavar='PLAN')
    p.set_defaults(func=cmd_plan)
    p = with_skip(with_confirm(with_selection(with_stage(sub.add_parser(
        'run', help='run the stages not done yet, or one stage')))))
    p.add_argument('plan', metavar='PLAN')
    p.set_defaults(func=cmd_run)
    output.add_format_option(sub.add_parser(
        'status', help='where each stage stands')).set_defaults(func=cmd_status)
    with_skip(with_confirm(sub.add_parser(
        'resume', help='finish the pass a crash or a stop left unfinished '
                       '(after run PLAN: then the rest of the plan)'))
    ).set_defaults(func=cmd_resume)
    p = output.add_format_option(with_confirm(with_stage(sub.add_parser(
        'rollback', help='revert a stage (default: the last one run), last '
                         'action first, and restore its freeze and grants'))))
    p.add_argument('--all', action='store_true',
                   help='every stage that ran, last first')
    p.add_argument('--dry-run', action='store_true',
                   help='list what would be reverted, in order; run nothing')
    p.set_defaults(func=cmd_rollback)
    output.add_format_option(with_stage(sub.add_parser(
        'hosts', help='the state of each host in each stage'))
    ).set_defaults(func=cmd_hosts)
    p = with_stage(sub.add_parser(
        'retry-hosts', help='run the fallen-back hosts again'))
    p.add_argument('--hosts', metavar='H,...', help='only these hosts')
    p.add_argument('--plan', metavar='PLAN',
                   help='a corrected plan (default: the last one run)')
    p.set_defaults(func=cmd_retry_hosts)
    p = sub.add_parser(
        'accept-hosts', help='accept fallen-back hosts as done in a stage '
                             '(set right by hand): later stages take them')
    p.add_argument('--stage', required=True)
    p.add_argument('--hosts', metavar='H,...', required=True)
    p.set_defaults(func=cmd_accept_hosts)
    p = output.add_format_option(with_stage(sub.add_parser(
        'log', help="the journal: every command and its output")))
    p.add_argument('--host', help='only this host')
    p.add_argument('--failed', action='store_true',
                   help='only failed, timed out or unfinished actions')
    p.set_defaults(func=cmd_log)
    p = sub.add_parser(
        'report', help='the timeline from the journal and the freeze '
                       'history: stages, freeze windows, hosts')
    p.add_argument('-f', '--format', choices=('json', 'yaml'),
                   help='print the data (default: json, unless --html)')
    p.add_argument('--html', metavar='FILE',
                   help='write a self-contained HTML page with the timeline')
    p.add_argument('--requests', metavar='FILE',
                   help="with --html: a client's record of its requests "
                        '(JSON lines: start, end, actor, status, frozen), '
                        'drawn as measured availability')
    p.set_defaults(func=cmd_report)
    cutover_translate.register(sub)
    cutover_proxy.register(sub)
    return parser


def main(argv=None):
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    exits.configure_logging(args.debug)
    return exits.run('nova-cutover', args.debug, lambda: args.func(args), (
        CommandError, plan_mod.PlanError, journal_mod.JournalError,
        runner_mod.CutoverError, timeline.TimelineError))


if __name__ == '__main__':
    sys.exit(main())
