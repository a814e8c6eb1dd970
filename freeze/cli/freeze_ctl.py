"""freeze-ctl: turn migration mode on and off, and see where it stands.

The state URL comes from ``--state``, then ``NOVA_FREEZE_STATE``, then
``[freeze] state_url`` in the nova.conf given with ``--config-file`` (or
/etc/nova/nova.conf when it exists).
"""

import argparse
import datetime
import difflib
import os
import re
import stat
import sys

from freeze import atomic
from freeze import control
from freeze import state as freeze_state
from freeze import window
from freeze.cli import auth
from freeze.cli import exits
from freeze.cli import lazy
from freeze.cli import output
from freeze.cli.exits import CommandError
from freeze.state import document

# oslo.config, oslo.policy, oslo.utils' masking, keystoneclient,
# openstacksdk, PasteDeploy: for the commands that use them (--help needs
# none of them).
cfg = lazy.module('oslo_config.cfg')
freeze_conf = lazy.module('freeze.conf')
keystone = lazy.module('freeze.keystone')
nova_policy = lazy.module('freeze.nova_policy')
redaction = lazy.module('freeze.redact')
pastefile = lazy.module('freeze.pastefile')
quiesce = lazy.module('freeze.quiesce')

DEFAULT_NOVA_CONF = '/etc/nova/nova.conf'
_DURATION = re.compile(r'^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$')


def parse_duration(text):
    """``90s``, ``30m``, ``2h``, ``1d``, or combined like ``1h30m``."""
    match = _DURATION.match(text.strip())
    if not text.strip() or not match or not any(match.groups()):
        raise argparse.ArgumentTypeError(
            'duration must look like 90s, 30m, 2h, 1d or 1h30m, not %r' % text)
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return datetime.timedelta(days=days, hours=hours, minutes=minutes,
                              seconds=seconds)


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError('must be a whole number of 1 or '
                                         'more, not %r' % text)
    return value


def parse_until(text):
    try:
        return document.parse_time(text, '--until')
    except document.StateError as exc:
        raise argparse.ArgumentTypeError(str(exc))


def load_nova_conf(args):
    """nova.conf with the ``[freeze]`` and ``[oslo_policy]`` options, the
    ``[freeze]`` values checked as the filter checks them at start-up."""
    config_files = args.config_file or (
        [DEFAULT_NOVA_CONF] if os.path.exists(DEFAULT_NOVA_CONF) else [])
    conf = cfg.ConfigOpts()
    freeze_conf.register_opts(conf)
    nova_policy.register_opts(conf)
    where = ', '.join(config_files)
    try:
        conf(args=[], project='nova', default_config_files=config_files)
    except cfg.Error as exc:
        raise CommandError('cannot read %s: %s' % (where, exc))
    try:
        freeze_conf.load_settings(conf)
    except (ValueError, cfg.Error) as exc:
        raise CommandError('[freeze] in %s: %s (nova-api would refuse it '
                           'too)' % (where, ' '.join(str(exc).split())))
    return conf


def resolve_state_url(args, environ=os.environ):
    """``(url, where it came from)``."""
    conf = load_nova_conf(args)
    if args.state:
        return args.state, '--state'
    if environ.get('NOVA_FREEZE_STATE'):
        return environ['NOVA_FREEZE_STATE'], '$NOVA_FREEZE_STATE'
    if conf.default_config_files:
        origin = '[freeze] state_url in %s' % ', '.join(
            conf.default_config_files)
        if conf.freeze.state_url == freeze_conf.DEFAULT_STATE_URL:
            origin += ' (its default)'
        return conf.freeze.state_url, origin
    return conf.freeze.state_url, ('the default: no --state, '
                                   '$NOVA_FREEZE_STATE or nova.conf')


def resolve_policy_dir(args):
    """The overlay's policy dir (--policy-dir, then [freeze] policy_dir)."""
    conf = load_nova_conf(args)
    directory = args.policy_dir or conf.freeze.policy_dir
    if not directory:
        return None
    target = nova_policy.PolicyDir(
        directory, nova_policy.layout_from_conf(conf, args.policy_file),
        freeze_conf.load_settings(conf).rules,
        conf.oslo_policy.enforce_new_defaults)
    if conf.default_config_files and not target.configured:
        print('freeze-ctl: warning: %s is not in [oslo_policy] policy_dirs '
              'of %s: nova does not read it'
              % (target.directory, ', '.join(conf.default_config_files)),
              file=sys.stderr)
    return target


def _show(state_dict, args):
    print(output.render(state_dict, args.format))


def _note(text):
    if text:
        print('freeze-ctl: %s' % text, file=sys.stderr)


WORKER_COLUMNS = ['host', 'pid', 'epoch', 'status', 'heartbeat_age_s',
                  'overlay', 'problem']


def _quiesce(nova, args):
    """None once nothing is in flight in nova, else what still is."""
    def show(items):
        if items:
            _note('waiting for %d in flight:\n%s' % (
                len(items), output.render([i.to_dict() for i in items],
                                          'table')))
    try:
        left = quiesce.wait_quiet(nova.in_flight, args.quiesce_timeout,
                                  on_change=show)
    except quiesce.QuiesceError as exc:
        return 'cannot check what is in flight: %s' % exc
    if left:
        return 'still in flight after %gs: %s' % (args.quiesce_timeout,
                                                  quiesce.describe(left))
    _note('nothing in flight: ready for the cut')
    return None


def _finish(backend, state, shown, args, nova=None):
    """Show ``shown`` once every live worker enforces ``state`` (and, with
    ``nova``, nothing is in flight in it); else show it and fail."""
    problem, note = control.wait_for_workers(backend, state.epoch, args.wait)
    _note(note and 'warning: ' + note)
    if problem is None and nova is not None:
        problem = _quiesce(nova, args)
    _show(shown, args)
    if problem:
        raise CommandError(problem)


def _nova_for_quiesce(args):
    """Nova, checked with one call before anything changes (so that a
    freeze is never left on for a quiesce that cannot run)."""
    try:
        nova = quiesce.Nova.from_config(auth.credentials(args))
        nova.check()
    except quiesce.QuiesceError as exc:
        raise CommandError('--quiesce: cannot check what is in flight: %s; '
                           'nothing was changed' % exc)
    return nova


def cmd_on(backend, args, now):
    freeze = control.plan_freeze(
        control.current(backend, args.force), args.mode, args.reason, now,
        until=args.until, length=args.duration, no_until=args.no_until,
        auto_thaw=args.auto_thaw)
    for note in freeze.notes:
        _note(note)
    target = resolve_policy_dir(args)
    if target is not None:
        control.check_overlay(freeze)
        _, text = target.prepare(args.mode)
        target.require_policy_file(args.create_policy_file)
    nova = _nova_for_quiesce(args) if args.quiesce else None
    _, new = control.turn_on(backend, freeze, control.operator(), now,
                             force=args.force, grants=_grants(args))
    shown = new.to_dict()
    if target is not None:
        target.write(text)
        shown['policy_overlay'] = str(target)
    _finish(backend, new, shown, args, nova)


def cmd_off(backend, args, now):
    target = resolve_policy_dir(args)
    who = control.operator()
    _, new, notes = control.thaw(backend, who, now, force=args.force)
    for note in notes:
        print(note, file=sys.stderr)
    shown = new.to_dict()
    if target is not None:
        shown['policy_overlay'] = '%s (%s)' % (
            target, 'removed' if target.remove() else 'absent')
    # Thawed first, then the role taken back: Keystone being down must not
    # keep the cloud frozen.  What cannot be revoked stays recorded.
    revoked = []
    if new.grants:
        try:
            revoked = control.revoke_window(
                backend, lambda: auth.keystone_or_none(args), who, now)
        except window.GrantsLeft as exc:
            _show(dict(shown, grants=[g.to_dict() for g in exc.stuck]), args)
            raise CommandError(str(exc))
    shown.update(grants=[], revoked=[window.describe(g) for g in revoked])
    _finish(backend, new, shown, args)


def cmd_status(backend, args, now):
    state = backend.read()
    shown = dict(control.status(state, now),
                 state_url=redaction.redact(backend),
                 state_url_from=args.state_origin)
    if not getattr(backend, 'directory_exists', lambda: True)():
        _note('warning: %s does not exist (state URL from %s): never frozen '
              'here, or a mistyped state URL'
              % (os.path.dirname(backend.path), args.state_origin))
    target = resolve_policy_dir(args)
    if target is not None:
        matches, detail = target.report(
            state.mode if state.in_force(now) else None)
        shown.update(policy_overlay=str(target),
                     policy_overlay_matches=matches,
                     policy_overlay_detail=detail)
    workers, problem = control.workers(backend, state, now)
    _note(problem and 'warning: ' + problem)
    if args.format != 'table':
        _show(dict(shown, workers=workers), args)
        return
    _show(shown, args)
    print(output.render(workers, 'table', WORKER_COLUMNS))


def _grants(args):
    """The grants the command line asks for, Keystone reached only when
    they are made."""
    targets = tuple(
        [window.Target.parse('user', t) for t in args.grant or ()]
        + [window.Target.parse('group', t) for t in args.grant_group or ()])
    return control.Grants(lambda: require_keystone(args), targets,
                          migration_role(args) if targets else None)


def migration_role(args):
    """The role to grant: --role, else the first of [freeze] migration_roles."""
    return args.role or load_nova_conf(args).freeze.migration_roles[0]


def require_keystone(args):
    try:
        return keystone.Keystone(auth.session(args))
    except auth.NoCredentials as exc:
        raise CommandError(str(exc))


GRANT_COLUMNS = ['role', 'kind', 'actor', 'project', 'status']


def _show_grants(grants, args):
    rows = [{column: getattr(g, column) for column in GRANT_COLUMNS}
            for g in grants]
    print(output.render(rows, args.format, GRANT_COLUMNS))


def cmd_grants(backend, args, now):
    _show_grants(backend.read().grants, args)


def cmd_grant(backend, args, now):
    new = control.grant(backend, _grants(args), control.operator(), now)
    _show_grants(new.grants, args)


def cmd_revoke(backend, args, now):
    new = control.revoke(backend, _grants(args), control.operator(), now)
    _show_grants(new.grants, args)


def _describe_changes(changes):
    return '; '.join(
        'corrupt document set aside as %s' % change if name == 'set_aside'
        else '%s %s -> %s' % (name, _plain(change[0]), _plain(change[1]))
        for name, change in changes.items())


def _plain(value):
    if value is None:
        return 'none'
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str) and (not value or ' ' in value):
        return repr(value)
    return str(value)


def cmd_history(backend, args, now):
    rows = []
    for entry in backend.history()[-args.limit if args.limit else 0:]:
        new = entry.get('new') or {}
        changes = document.changes(entry)
        rows.append({'when': entry.get('when'), 'who': entry.get('who'),
                     'epoch': new.get('epoch'), 'frozen': new.get('frozen'),
                     'mode': new.get('mode'),
                     'changes': (_describe_changes(changes)
                                 if args.format == 'table' else changes)})
    print(output.render(rows, args.format, HISTORY_COLUMNS))


HISTORY_COLUMNS = ['when', 'who', 'epoch', 'frozen', 'mode', 'changes']


def cmd_policy_generate(args):
    conf = load_nova_conf(args)
    layout = nova_policy.layout_from_conf(conf, args.policy_file)
    if args.policy_file and not os.path.isfile(layout.policy_file):
        raise CommandError('policy file %s does not exist'
                           % layout.policy_file)
    command = 'freeze-ctl policy generate --mode %s' % args.mode
    if args.policy_file:
        command += ' --policy-file %s' % args.policy_file
    rules, text = nova_policy.build(
        args.mode, freeze_conf.load_settings(conf).rules, layout.sources(),
        command, conf.oslo_policy.enforce_new_defaults)
    if not args.output:
        sys.stdout.write(text)
        return
    try:
        atomic.write_atomically(args.output, text)
    except OSError as exc:
        raise CommandError('cannot write %s: %s' % (args.output, exc))
    print('%s: %d rules for mode %s' % (args.output, len(rules), args.mode),
          file=sys.stderr)


def cmd_paste(args):
    try:
        with open(args.file, encoding='utf-8', newline='') as f:
            text = f.read()
        mode = stat.S_IMODE(os.stat(args.file).st_mode)
    except OSError as exc:
        raise CommandError('cannot read %s: %s' % (args.file, exc))
    try:
        new_text, changed = pastefile.insert_filter(text, args.file)
    except pastefile.PasteError as exc:
        raise CommandError('%s: %s' % (args.file, exc))
    target = args.output or args.file
    if not changed and target == args.file:
        print('%s already has the freeze filter; nothing changed.' % args.file)
        return
    if args.dry_run:
        sys.stdout.writelines(difflib.unified_diff(
            text.splitlines(keepends=True), new_text.splitlines(keepends=True),
            args.file, target))
        return
    try:
        written = atomic.write_atomically(target, new_text, mode=mode)
    except OSError as exc:
        raise CommandError('cannot write %s: %s' % (target, exc))
    print('%s: freeze filter added to %s' % (
        target if written == os.path.abspath(target) else '%s (-> %s)' % (
            target, written), ', '.join(changed)))


CREDENTIALS_NOTE = (
    "Keystone credentials (for --grant, --quiesce, and off in a window with "
    "grants): --os-cloud (clouds.yaml), OS_* variables or openstacksdk's "
    "--os-* options; 'freeze-ctl --os-cloud CLOUD --help' lists those.")


def build_parser(argv=(), credentials=True):
    """The parser; openstacksdk's ``--os-*`` options only with
    ``credentials`` (importing openstacksdk takes most of a second)."""
    parser = argparse.ArgumentParser(
        prog='freeze-ctl',
        description='Put the Nova compute API into migration mode.',
        epilog=None if credentials else CREDENTIALS_NOTE)
    if credentials:
        auth.register(parser, list(argv))
    exits.add_debug_option(parser)
    parser.add_argument('--state', metavar='URL',
                        help='state URL (default: $NOVA_FREEZE_STATE, then '
                             '[freeze] state_url)')
    parser.add_argument('--config-file', action='append', metavar='PATH',
                        help='nova.conf to read [freeze] from (repeatable)')
    sub = parser.add_subparsers(dest='command', required=True)

    def with_grants(p):
        p.add_argument('--grant', action='append', metavar='USER:PROJECT',
                       help='grant the migration role for the window: '
                            'USER[@DOMAIN]:PROJECT[@DOMAIN] (repeatable)')
        p.add_argument('--grant-group', action='append',
                       metavar='GROUP:PROJECT',
                       help='the same for a group (repeatable)')
        p.add_argument('--role', help='role to grant (default: the first of '
                                      '[freeze] migration_roles)')
        return p

    def with_format(p):
        p.add_argument('-f', '--format', choices=output.FORMATS,
                       default='table', help='output format')
        return p

    def with_wait(p):
        p.add_argument('--wait', type=float, default=30.0, metavar='SECONDS',
                       help='return once every live nova-api worker enforces '
                            'the change, or fail after this long naming the '
                            'workers that lag (default: 30)')
        return p

    def with_policy_file(p):
        p.add_argument('--policy-file', metavar='PATH',
                       help="nova's policy file (default: [oslo_policy] "
                            "policy_file of nova.conf)")
        return p

    def with_policy_dir(p):
        p.add_argument('--policy-dir', metavar='DIR',
                       help="also keep the freeze as an oslo.policy overlay "
                            "in this one of nova's policy_dirs (default: "
                            "[freeze] policy_dir)")
        return with_policy_file(p)

    on = with_policy_dir(with_format(sub.add_parser('on',
                                                    help='freeze the API')))
    on.add_argument('--create-policy-file', action='store_true',
                    help="create nova's policy file, empty, when it is "
                         "missing (oslo.policy documents that it searches "
                         "policy_dirs only when it exists)")
    on.add_argument('--mode', choices=document.MODES, required=True)
    on.add_argument('--reason', required=True,
                    help='shown to every blocked caller')
    end = on.add_mutually_exclusive_group()
    end.add_argument('--until', type=parse_until, metavar='ISO8601',
                     help='expected end (UTC unless an offset is given; '
                          'default: the end of the window already on)')
    end.add_argument('--for', dest='duration', type=parse_duration,
                     metavar='DURATION', help='expected length, e.g. 2h')
    end.add_argument('--no-until', action='store_true',
                     help='drop the expected end of the window already on '
                          '(and its auto-thaw)')
    on.add_argument('--auto-thaw', action=argparse.BooleanOptionalAction,
                    help='thaw by itself at the end time (never the default: '
                         'thawing mid-translation corrupts data; default: '
                         'as the window already on)')
    on.add_argument('--force', action='store_true',
                    help='replace a corrupt state document (kept aside)')
    on.add_argument('--create', action='store_true',
                    help="create the state file's directory when it is "
                         "missing (else refused: a mistyped path is not a "
                         "new state)")
    with_grants(with_wait(on))
    on.add_argument('--quiesce', action='store_true',
                    help='then wait until no server has a task_state and no '
                         'migration is in progress (needs Nova admin '
                         'credentials: --os-cloud or OS_* variables)')
    on.add_argument('--quiesce-timeout', type=float, default=600.0,
                    metavar='SECONDS',
                    help='fail after this long, listing what is still in '
                         'flight (default: 600)')

    off = with_wait(with_policy_dir(with_format(sub.add_parser(
        'off', help='thaw the API'))))
    off.add_argument('--force', action='store_true',
                     help='replace a corrupt state document (kept aside)')
    with_policy_dir(with_format(sub.add_parser('status',
                                               help='show the freeze state')))
    with_format(sub.add_parser('grants',
                               help="list the window's role grants"))
    with_grants(with_format(sub.add_parser(
        'grant', help='grant the migration role in a window that is on')))
    with_grants(with_format(sub.add_parser(
        'revoke', help='revoke grants this window made')))
    history = with_format(sub.add_parser('history',
                                         help='show the audit history'))
    history.add_argument('--limit', type=positive_int, metavar='N',
                         help='only the last N changes')

    policy_parser = sub.add_parser('policy',
                                   help='the freeze as an oslo.policy overlay')
    policy_sub = policy_parser.add_subparsers(dest='policy_command',
                                              required=True)
    generate = with_policy_file(policy_sub.add_parser(
        'generate', help="the overlay for a mode, over nova's effective "
                         "policy"))
    generate.add_argument('--mode', choices=document.MODES, required=True)
    generate.add_argument('-o', '--output', metavar='FILE',
                          help='write it here (atomically), not to stdout')

    paste = sub.add_parser('paste', help='add the filter to an api-paste.ini')
    paste.add_argument('file')
    paste.add_argument('-o', '--output', help='write here instead of FILE')
    paste.add_argument('--dry-run', action='store_true',
                       help='show the change as a unified diff; write '
                            'nothing')
    return parser


COMMANDS = {'on': cmd_on, 'off': cmd_off, 'status': cmd_status,
            'history': cmd_history, 'grants': cmd_grants, 'grant': cmd_grant,
            'revoke': cmd_revoke}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = auth.parse_args(
        lambda credentials: build_parser(argv, credentials), argv)
    exits.configure_logging(args.debug)
    return exits.run('freeze-ctl', args.debug, lambda: _run(args), (
        ValueError, freeze_state.StateUnavailable,
        freeze_state.StateConflict, OSError))


def _run(args):
    try:
        return _dispatch(args)
    except control.Invalid as exc:
        raise exits.UsageError(str(exc)) from exc
    except control.Failed as exc:
        raise CommandError(str(exc)) from exc
    except nova_policy.OverlayError as exc:  # (imported on errors only)
        raise CommandError(str(exc)) from exc


def _dispatch(args):
    if args.command == 'paste':
        cmd_paste(args)
        return exits.DONE
    if args.command == 'policy':
        cmd_policy_generate(args)
        return exits.DONE
    url, args.state_origin = resolve_state_url(args)
    try:
        backend = freeze_state.open_backend(
            url, create=getattr(args, 'create', False))
        COMMANDS[args.command](backend, args, document.utcnow())
    except (freeze_state.StateUnavailable, freeze_state.StateConflict,
            document.StateError) as exc:
        message = str(exc)
        if isinstance(exc, document.StateError):
            message += ('; the state document is corrupt: check it, or '
                        'use --force with on/off to set it aside and write a '
                        'new one')
        raise CommandError('%s [state URL from %s]'
                           % (message, args.state_origin))
    return exits.DONE


if __name__ == '__main__':
    sys.exit(main())
