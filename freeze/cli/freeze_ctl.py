"""freeze-ctl: turn migration mode on and off, and see where it stands.

The state URL comes from ``--state``, then ``NOVA_FREEZE_STATE``, then
``[freeze] state_url`` in the nova.conf given with ``--config-file`` (or
/etc/nova/nova.conf when it exists).
"""

import argparse
import datetime
import getpass
import os
import re
import socket
import sys

from oslo_config import cfg

from freeze import conf as freeze_conf
from freeze import pastefile
from freeze import state as freeze_state
from freeze.cli import output
from freeze.state import document

DEFAULT_NOVA_CONF = '/etc/nova/nova.conf'
_DURATION = re.compile(r'^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$')


class CommandError(Exception):
    """A clear, expected failure: printed without a traceback."""


def parse_duration(text):
    """``90s``, ``30m``, ``2h``, ``1d``, or combined like ``1h30m``."""
    match = _DURATION.match(text.strip())
    if not text.strip() or not match or not any(match.groups()):
        raise argparse.ArgumentTypeError(
            'duration must look like 90s, 30m, 2h, 1d or 1h30m, not %r' % text)
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return datetime.timedelta(days=days, hours=hours, minutes=minutes,
                              seconds=seconds)


def parse_until(text):
    try:
        return document.parse_time(text, '--until')
    except document.StateError as exc:
        raise argparse.ArgumentTypeError(str(exc))


def resolve_state_url(args, environ=os.environ):
    if args.state:
        return args.state
    if environ.get('NOVA_FREEZE_STATE'):
        return environ['NOVA_FREEZE_STATE']
    config_files = args.config_file or (
        [DEFAULT_NOVA_CONF] if os.path.exists(DEFAULT_NOVA_CONF) else [])
    conf = cfg.ConfigOpts()
    freeze_conf.register_opts(conf)
    try:
        conf(args=[], project='nova', default_config_files=config_files)
    except cfg.Error as exc:
        raise CommandError('cannot read %s: %s' % (', '.join(config_files), exc))
    return conf.freeze.state_url


def _who():
    return '%s@%s' % (getpass.getuser(), socket.gethostname())


def _show(state_dict, args):
    print(output.render(state_dict, args.format))


def cmd_on(backend, args, now):
    until = args.until
    if args.duration is not None:
        until = now + args.duration
    if until is not None and until <= now:
        raise CommandError('--until %s is in the past'
                           % document.format_time(until))
    if args.auto_thaw and until is None:
        raise CommandError('--auto-thaw needs --until or --for')
    who = _who()

    def change(old):
        new = document.FreezeState(
            epoch=old.epoch + 1, frozen=True, mode=args.mode,
            reason=args.reason, until=until, auto_thaw=args.auto_thaw,
            started_at=old.started_at if old.frozen else now,
            started_by=old.started_by if old.frozen else who)
        same = (old.frozen and (old.mode, old.reason, old.until, old.auto_thaw)
                == (new.mode, new.reason, new.until, new.auto_thaw))
        return None if same else new
    _, new = backend.update(change, who, now, force=args.force)
    _show(new.to_dict(), args)


def cmd_off(backend, args, now):
    def change(old):
        if not old.frozen:
            return None
        return document.FreezeState(epoch=old.epoch + 1, frozen=False)
    old, new = backend.update(change, _who(), now, force=args.force)
    if old == new:
        print('The API was not frozen; nothing changed.', file=sys.stderr)
    _show(new.to_dict(), args)


def cmd_status(backend, args, now):
    state = backend.read()
    _show(dict(state.to_dict(), in_force=state.in_force(now),
               state_url=str(backend)), args)


def cmd_history(backend, args, now):
    rows = [{'when': e.get('when'), 'who': e.get('who'),
             'epoch': (e.get('new') or {}).get('epoch'),
             'frozen': (e.get('new') or {}).get('frozen'),
             'mode': (e.get('new') or {}).get('mode'),
             'reason': (e.get('new') or {}).get('reason')}
            for e in backend.history()]
    print(output.render(rows[-args.limit:] if args.limit else rows,
                        args.format))


def cmd_paste(args):
    try:
        with open(args.file, encoding='utf-8') as f:
            text = f.read()
    except OSError as exc:
        raise CommandError('cannot read %s: %s' % (args.file, exc))
    try:
        new_text, changed = pastefile.insert_filter(text)
    except pastefile.PasteError as exc:
        raise CommandError('%s: %s' % (args.file, exc))
    target = args.output or args.file
    if not changed and target == args.file:
        print('%s already has the freeze filter; nothing changed.' % args.file)
        return
    if args.dry_run:
        sys.stdout.write(new_text)
        return
    tmp = target + '.freeze-tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
        f.write(new_text)
    os.replace(tmp, target)
    print('%s: freeze filter added to %s' % (target, ', '.join(changed)))


def build_parser():
    parser = argparse.ArgumentParser(
        prog='freeze-ctl',
        description='Put the Nova compute API into migration mode.')
    parser.add_argument('--state', metavar='URL',
                        help='state URL (default: $NOVA_FREEZE_STATE, then '
                             '[freeze] state_url)')
    parser.add_argument('--config-file', action='append', metavar='PATH',
                        help='nova.conf to read [freeze] from (repeatable)')
    sub = parser.add_subparsers(dest='command', required=True)

    def with_format(p):
        p.add_argument('-f', '--format', choices=output.FORMATS,
                       default='table', help='output format')
        return p

    on = with_format(sub.add_parser('on', help='freeze the API'))
    on.add_argument('--mode', choices=document.MODES, required=True)
    on.add_argument('--reason', required=True,
                    help='shown to every blocked caller')
    end = on.add_mutually_exclusive_group()
    end.add_argument('--until', type=parse_until, metavar='ISO8601',
                     help='expected end (UTC unless an offset is given)')
    end.add_argument('--for', dest='duration', type=parse_duration,
                     metavar='DURATION', help='expected length, e.g. 2h')
    on.add_argument('--auto-thaw', action='store_true',
                    help='thaw by itself at the end time (never the default: '
                         'thawing mid-translation corrupts data)')
    on.add_argument('--force', action='store_true',
                    help='replace a corrupt state document (kept aside)')

    off = with_format(sub.add_parser('off', help='thaw the API'))
    off.add_argument('--force', action='store_true',
                     help='replace a corrupt state document (kept aside)')
    with_format(sub.add_parser('status', help='show the freeze state'))
    history = with_format(sub.add_parser('history',
                                         help='show the audit history'))
    history.add_argument('--limit', type=int, default=0,
                         help='only the last N changes')

    paste = sub.add_parser('paste', help='add the filter to an api-paste.ini')
    paste.add_argument('file')
    paste.add_argument('-o', '--output', help='write here instead of FILE')
    paste.add_argument('--dry-run', action='store_true',
                       help='print the result instead of writing it')
    return parser


COMMANDS = {'on': cmd_on, 'off': cmd_off, 'status': cmd_status,
            'history': cmd_history}


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        if args.command == 'paste':
            cmd_paste(args)
            return 0
        backend = freeze_state.open_backend(resolve_state_url(args))
        COMMANDS[args.command](backend, args, document.utcnow())
    except (CommandError, ValueError, freeze_state.StateUnavailable) as exc:
        message = str(exc)
        if isinstance(exc, document.StateError):
            message += ('\nThe state document is corrupt. Check it, or use '
                        '--force with on/off to set it aside and write a new '
                        'one.')
        print('freeze-ctl: error: %s' % message, file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
