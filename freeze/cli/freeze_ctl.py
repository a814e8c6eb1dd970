"""freeze-ctl: turn migration mode on and off, and see where it stands.

The state URL comes from ``--state``, then ``NOVA_FREEZE_STATE``, then
``[freeze] state_url`` in the nova.conf given with ``--config-file`` (or
/etc/nova/nova.conf when it exists).
"""

import argparse
import datetime
import difflib
import getpass
import os
import re
import socket
import stat
import sys

from freeze import atomic
from freeze import state as freeze_state
from freeze.cli import auth
from freeze.cli import exits
from freeze.cli import lazy
from freeze.cli import output
from freeze.state import acks
from freeze.state import document

# oslo.config, oslo.policy, oslo.utils' masking, keystoneclient,
# openstacksdk, PasteDeploy: for the commands that use them (--help needs
# none of them).
cfg = lazy.module('oslo_config.cfg')
freeze_conf = lazy.module('freeze.conf')
keystone = lazy.module('freeze.keystone')
overlay = lazy.module('freeze.overlay')
redaction = lazy.module('freeze.redact')
pastefile = lazy.module('freeze.pastefile')
quiesce = lazy.module('freeze.quiesce')
window = lazy.module('freeze.window')

DEFAULT_NOVA_CONF = '/etc/nova/nova.conf'
_DURATION = re.compile(r'^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$')


class CommandError(Exception):
    """A clear, expected failure: printed without a traceback (exit 1)."""


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
    overlay.register_opts(conf)
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
    target = overlay.PolicyDir(
        directory, overlay.layout_from_conf(conf, args.policy_file),
        freeze_conf.load_settings(conf).rules,
        conf.oslo_policy.enforce_new_defaults)
    if conf.default_config_files and not target.configured:
        print('freeze-ctl: warning: %s is not in [oslo_policy] policy_dirs '
              'of %s: nova does not read it'
              % (target.directory, ', '.join(conf.default_config_files)),
              file=sys.stderr)
    return target


def _who():
    return '%s@%s' % (getpass.getuser(), socket.gethostname())


def _show(state_dict, args):
    print(output.render(state_dict, args.format))


WORKER_COLUMNS = ['host', 'pid', 'epoch', 'status', 'heartbeat_age_s',
                  'overlay', 'problem']


def _wait_for_workers(backend, epoch, wait):
    """None once every live worker enforces ``epoch``, else why not."""
    store = backend.ack_store()
    try:
        records, behind = acks.wait_for_epoch(store, epoch, wait)
    except freeze_state.StateUnavailable as exc:
        return ('epoch %d is recorded, but the workers cannot be checked: %s'
                % (epoch, exc))
    if not records:
        print('freeze-ctl: warning: no nova-api worker reports to %s: is '
              'the freeze filter in nova\'s pipeline, with this state URL?'
              % store, file=sys.stderr)
    if behind:
        return ('epoch %d is recorded, but after %gs these workers do not '
                'enforce it: %s' % (epoch, wait, ', '.join(
                    acks.describe(a) for a in behind)))
    return None


def _quiesce(nova, args):
    """None once nothing is in flight in nova, else what still is."""
    def show(items):
        if items:
            print('freeze-ctl: waiting for %d in flight:\n%s' % (
                len(items), output.render([i.to_dict() for i in items],
                                          'table')), file=sys.stderr)
    try:
        left = quiesce.wait_quiet(nova.in_flight, args.quiesce_timeout,
                                  on_change=show)
    except quiesce.QuiesceError as exc:
        return 'cannot check what is in flight: %s' % exc
    if left:
        return 'still in flight after %gs: %s' % (args.quiesce_timeout,
                                                  quiesce.describe(left))
    print('freeze-ctl: nothing in flight: ready for the cut', file=sys.stderr)
    return None


def _finish(backend, state, shown, args, nova=None):
    """Show ``shown`` once every live worker enforces ``state`` (and, with
    ``nova``, nothing is in flight in it); else show it and fail."""
    problem = _wait_for_workers(backend, state.epoch, args.wait)
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


def _window_end(old, args, now):
    """The window's ``(until, auto_thaw)``: as given, else what the window
    that is on already has (an end already past is dropped, and said)."""
    until = args.until
    if args.duration is not None:
        if not args.duration:
            raise exits.UsageError('--for 0s would end the window as it '
                                   'starts: give a length, or leave --for '
                                   'out')
        until = now + args.duration
    if until is not None and until <= now:
        raise exits.UsageError('--until %s is in the past'
                               % document.format_time(until))
    kept = old.frozen and until is None and old.until is not None
    if kept and args.no_until:
        print('freeze-ctl: the expected end %s%s is dropped (--no-until)' % (
            document.format_time(old.until),
            ' and auto-thaw' if old.auto_thaw else ''), file=sys.stderr)
    elif kept and old.until <= now:
        print('freeze-ctl: the expected end %s has passed: dropped%s' % (
            document.format_time(old.until),
            ', with auto-thaw' if old.auto_thaw else ''), file=sys.stderr)
    elif kept:
        until = old.until
    auto_thaw = args.auto_thaw
    if auto_thaw is None:
        auto_thaw = old.frozen and old.auto_thaw and until is not None
    if auto_thaw and until is None:
        raise exits.UsageError('--auto-thaw needs --until or --for')
    return until, auto_thaw


def _current(backend, args):
    """The state before ``on`` (a corrupt one counts as thawed with
    --force, which sets it aside; a vanished one is its history's last)."""
    try:
        return backend.read()
    except freeze_state.StateMissing as exc:
        return exc.recorded
    except document.StateError:
        if args.force:
            return document.THAWED
        raise


def cmd_on(backend, args, now):
    if not args.reason.strip():
        raise exits.UsageError('--reason must say why (every blocked caller '
                               'sees it)')
    until, auto_thaw = _window_end(_current(backend, args), args, now)
    target = resolve_policy_dir(args)
    if target is not None:
        if auto_thaw:
            raise exits.UsageError(
                '--auto-thaw cannot be used with a policy overlay: nothing '
                'would remove it at the end (--no-auto-thaw turns it off)')
        _, text = target.prepare(args.mode)
        target.require_policy_file(args.create_policy_file)
    nova = _nova_for_quiesce(args) if args.quiesce else None
    who = _who()

    def change(old):
        new = document.FreezeState(
            epoch=old.epoch + 1, frozen=True, mode=args.mode,
            reason=args.reason, until=until, auto_thaw=auto_thaw,
            started_at=old.started_at if old.frozen else now,
            started_by=old.started_by if old.frozen else who,
            grants=old.grants)
        same = (old.frozen and (old.mode, old.reason, old.until, old.auto_thaw)
                == (new.mode, new.reason, new.until, new.auto_thaw))
        return None if same else new
    targets = grant_targets(args)
    if targets:
        _, new = _add_grants(backend, args, targets, who, now, change,
                             force=args.force)
    else:
        _, new = backend.update(change, who, now, force=args.force)
    shown = new.to_dict()
    if target is not None:
        target.write(text)
        shown['policy_overlay'] = str(target)
    _finish(backend, new, shown, args, nova)


def cmd_off(backend, args, now):
    def change(old):
        if not old.frozen:
            return None
        return document.FreezeState(epoch=old.epoch + 1, frozen=False,
                                    grants=old.grants)
    target = resolve_policy_dir(args)
    who = _who()
    old, new = backend.update(change, who, now, force=args.force)
    if old == new and not new.grants:
        print('The API was not frozen; nothing changed.', file=sys.stderr)
    shown = new.to_dict()
    if target is not None:
        shown['policy_overlay'] = '%s (%s)' % (
            target, 'removed' if target.remove() else 'absent')
    # Thawed first, then the role taken back: Keystone being down must not
    # keep the cloud frozen.  What cannot be revoked stays recorded.
    revoked = _revoke_all(backend, args, shown, who, now) if new.grants \
        else []
    shown.update(grants=[], revoked=[keystone.describe(g) for g in revoked])
    _finish(backend, new, shown, args)


def _revoke_all(backend, args, shown, who, now):
    """The window's grants, revoked (Keystone's client and openstacksdk are
    imported only for a window that has some)."""
    try:
        return window.revoke_window_grants(
            backend, auth.keystone_or_none(args), who, now)
    except window.GrantsLeft as exc:
        _show(dict(shown, grants=[g.to_dict() for g in exc.stuck]), args)
        raise CommandError(str(exc))


def cmd_status(backend, args, now):
    state = backend.read()
    shown = dict(state.to_dict(), in_force=state.in_force(now),
                 state_url=redaction.redact(backend),
                 state_url_from=args.state_origin)
    if not getattr(backend, 'directory_exists', lambda: True)():
        print('freeze-ctl: warning: %s does not exist (state URL from %s): '
              'never frozen here, or a mistyped state URL'
              % (os.path.dirname(backend.path), args.state_origin),
              file=sys.stderr)
    target = resolve_policy_dir(args)
    if target is not None:
        matches, detail = target.report(
            state.mode if state.in_force(now) else None)
        shown.update(policy_overlay=str(target),
                     policy_overlay_matches=matches,
                     policy_overlay_detail=detail)
    _show_status(shown, _worker_rows(backend, state, now), args)


def _worker_rows(backend, state, now):
    """The workers and how they stand against ``state``."""
    try:
        records = backend.ack_store().records(detail=True)
    except freeze_state.StateUnavailable as exc:
        print('freeze-ctl: warning: cannot list the workers: %s' % exc,
              file=sys.stderr)
        return []
    return acks.rows(records, state, now)


def _show_status(shown, workers, args):
    if args.format != 'table':
        _show(dict(shown, workers=workers), args)
        return
    _show(shown, args)
    print(output.render(workers, 'table', WORKER_COLUMNS))


def grant_targets(args):
    return ([keystone.Target.parse('user', t) for t in args.grant or ()]
            + [keystone.Target.parse('group', t)
               for t in args.grant_group or ()])


def migration_role(args):
    """The role to grant: --role, else the first of [freeze] migration_roles."""
    return args.role or load_nova_conf(args).freeze.migration_roles[0]


def require_keystone(args):
    try:
        return keystone.Keystone(auth.session(args))
    except auth.NoCredentials as exc:
        raise CommandError(str(exc))


def _add_grants(backend, args, targets, who, now, change=None, force=False):
    """window.add_grants, Keystone's refusals as CommandError (so that
    keystoneclient is imported by the commands that grant only)."""
    try:
        return window.add_grants(backend, require_keystone(args), targets,
                                 migration_role(args), who, now, change,
                                 force=force)
    except keystone.GrantError as exc:
        raise CommandError(str(exc)) from exc


GRANT_COLUMNS = ['role', 'kind', 'actor', 'project', 'status']


def _show_grants(grants, args):
    rows = [{column: getattr(g, column) for column in GRANT_COLUMNS}
            for g in grants]
    print(output.render(rows, args.format, GRANT_COLUMNS))


def cmd_grants(backend, args, now):
    _show_grants(backend.read().grants, args)


def cmd_grant(backend, args, now):
    targets = grant_targets(args)
    if not targets:
        raise exits.UsageError('nothing to grant: give --grant or '
                               '--grant-group')
    if not backend.read().frozen:
        raise CommandError('the API is not frozen: grants belong to a freeze '
                           'window (freeze-ctl on --grant ...)')
    _, new = _add_grants(backend, args, targets, _who(), now)
    _show_grants(new.grants, args)


def cmd_revoke(backend, args, now):
    client = require_keystone(args)
    role = migration_role(args)
    wanted = {(t.kind, '%s@%s' % (t.name, t.domain),
               '%s@%s' % (t.project, t.project_domain), role)
              for t in grant_targets(args)}
    if not wanted:
        raise exits.UsageError('nothing to revoke: give --grant or '
                               '--grant-group')
    grants = backend.read().grants
    chosen = [g for g in grants
              if (g.kind, g.actor, g.project, g.role) in wanted]
    found = {(g.kind, g.actor, g.project, g.role) for g in chosen}
    if wanted - found:
        raise CommandError('not granted by this window: %s' % ', '.join(
            '%s %s on %s' % (kind, actor, project)
            for kind, actor, project, _ in sorted(wanted - found)))
    try:
        window.revoke_window_grants(backend, client, _who(), now, only=chosen)
    except window.GrantsLeft as exc:
        raise CommandError(str(exc))
    _show_grants(backend.read().grants, args)


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
    layout = overlay.layout_from_conf(conf, args.policy_file)
    if args.policy_file and not os.path.isfile(layout.policy_file):
        raise CommandError('policy file %s does not exist'
                           % layout.policy_file)
    command = 'freeze-ctl policy generate --mode %s' % args.mode
    if args.policy_file:
        command += ' --policy-file %s' % args.policy_file
    rules, text = overlay.build(
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
        CommandError, ValueError, freeze_state.StateUnavailable,
        freeze_state.StateConflict, OSError))


def _run(args):
    try:
        return _dispatch(args)
    except overlay.OverlayError as exc:  # (evaluated, so imported, on errors)
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
