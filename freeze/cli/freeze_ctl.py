"""freeze-ctl: turn migration mode on and off, and see where it stands.

Parse and print: the operations are ``freeze.control``'s, the shell (cliff,
exit codes, errors, logging) ``freeze.cli.shell``'s.  The state URL comes
from ``--state``, then ``NOVA_FREEZE_STATE``, then ``[freeze] state_url`` in
the nova.conf given with ``--config-file`` (or /etc/nova/nova.conf when it
exists).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping, Sequence
import datetime
import difflib
import json
import os
import re
import stat
import sys
from typing import Any, TYPE_CHECKING

from cliff import columns
from cliff.formatters import table

from freeze import atomic
from freeze import control
from freeze import state as freeze_state
from freeze import window
from freeze.cli import auth
from freeze.cli import exits
from freeze.cli import lazy
from freeze.cli import output
from freeze.cli import shell
from freeze.cli.exits import CommandError
from freeze.state import document

if TYPE_CHECKING:
    from freeze.keystone import Keystone
    from freeze.state.backend import Backend
    from freeze.state.document import FreezeState

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


def parse_duration(text: str) -> datetime.timedelta:
    """``90s``, ``30m``, ``2h``, ``1d``, or combined like ``1h30m``."""
    match = _DURATION.match(text.strip())
    if not text.strip() or not match or not any(match.groups()):
        raise argparse.ArgumentTypeError(
            f'duration must look like 90s, 30m, 2h, 1d or 1h30m, not {text!r}')
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return datetime.timedelta(days=days, hours=hours, minutes=minutes,
                              seconds=seconds)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError('must be a whole number of 1 or '
                                         f'more, not {text!r}')
    return value


def parse_until(text: str) -> datetime.datetime:
    try:
        return document.parse_time(text, '--until')
    except document.StateError as exc:
        raise argparse.ArgumentTypeError(str(exc))


def load_nova_conf(args: argparse.Namespace) -> cfg.ConfigOpts:
    """nova.conf with the ``[freeze]`` and ``[oslo_policy]`` options, the
    ``[freeze]`` values checked as the filter checks them at start-up."""
    config_files = args.config_file or (
        [DEFAULT_NOVA_CONF] if os.path.exists(DEFAULT_NOVA_CONF) else [])
    conf = cfg.ConfigOpts()
    freeze_conf.register_opts(conf)
    freeze_conf.register_policy_opts(conf)
    where = ', '.join(config_files)
    try:
        conf(args=[], project='nova', default_config_files=config_files)
    except cfg.Error as exc:
        raise CommandError(f'cannot read {where}: {exc}')
    try:
        freeze_conf.load_settings(conf)
    except (ValueError, cfg.Error) as exc:
        why = ' '.join(str(exc).split())
        raise CommandError(f'[freeze] in {where}: {why} (nova-api would '
                           'refuse it too)')
    return conf


def resolve_state_url(
        args: argparse.Namespace,
        environ: Mapping[str, str] = os.environ) -> tuple[str, str]:
    """``(url, where it came from)``."""
    conf = load_nova_conf(args)
    if args.state:
        return args.state, '--state'
    if environ.get('NOVA_FREEZE_STATE'):
        return environ['NOVA_FREEZE_STATE'], '$NOVA_FREEZE_STATE'
    if conf.default_config_files:
        origin = ('[freeze] state_url in '
                  + ', '.join(conf.default_config_files))
        if conf.freeze.state_url == freeze_conf.DEFAULT_STATE_URL:
            origin += ' (its default)'
        return conf.freeze.state_url, origin
    return conf.freeze.state_url, ('the default: no --state, '
                                   '$NOVA_FREEZE_STATE or nova.conf')


def resolve_policy_dir(
        args: argparse.Namespace) -> nova_policy.PolicyDir | None:
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
        files = ', '.join(conf.default_config_files)
        print(f'freeze-ctl: warning: {target.directory} is not in '
              f'[oslo_policy] policy_dirs of {files}: nova does not read it',
              file=sys.stderr)
    return target


def _note(text: str | None) -> None:
    if text:
        print(f'freeze-ctl: {text}', file=sys.stderr)


def _quiesce(nova: quiesce.Nova, args: argparse.Namespace) -> str | None:
    """None once nothing is in flight in nova, else what still is."""
    def show(items: list[quiesce.InFlight]) -> None:
        if items:
            table = output.render([i.to_dict() for i in items], 'table')
            _note(f'waiting for {len(items)} in flight:\n{table}')
    try:
        left = quiesce.wait_quiet(nova.in_flight, args.quiesce_timeout,
                                  on_change=show)
    except quiesce.QuiesceError as exc:
        return f'cannot check what is in flight: {exc}'
    if left:
        return (f'still in flight after {args.quiesce_timeout:g}s: '
                f'{quiesce.describe(left)}')
    _note('nothing in flight: ready for the cut')
    return None


def _finish(
        backend: Backend, state: FreezeState, shown: dict[str, Any],
        args: argparse.Namespace,
        nova: quiesce.Nova | None = None) -> tuple[dict[str, Any], str | None]:
    """``(shown, problem)``: problem is None once every live worker
    enforces ``state`` (and, with ``nova``, nothing is in flight in it),
    else why not (``shown`` is shown all the same)."""
    problem, note = control.wait_for_workers(backend, state.epoch, args.wait)
    _note(note and 'warning: ' + note)
    if problem is None and nova is not None:
        problem = _quiesce(nova, args)
    return shown, problem


class Cell(columns.FormattableColumn):
    """A value shown one way in a table and as it is in json or yaml:
    lists and dicts as JSON in a table, unless a text is given."""

    def __init__(self, value: Any, text: str | None = None) -> None:
        super().__init__(value)
        self._text = text

    def human_readable(self) -> str:
        if self._text is not None:
            return self._text
        return json.dumps(self._value, sort_keys=True)

    def machine_readable(self) -> Any:
        return self._value


def _record(fields: dict[str, Any]) -> tuple[tuple, tuple]:
    """A dict as a ShowOne's ``(names, values)``."""
    return shell.show({name: Cell(value) if isinstance(value, (dict, list))
                       else value for name, value in fields.items()})


def _nova_for_quiesce(args: argparse.Namespace) -> quiesce.Nova | None:
    """Nova, checked with one call before anything changes (so that a
    freeze is never left on for a quiesce that cannot run)."""
    try:
        nova = quiesce.Nova.from_config(auth.credentials(args))
        nova.check()
    except quiesce.QuiesceError as exc:
        raise CommandError('--quiesce: cannot check what is in flight: '
                           f'{exc}; nothing was changed')
    return nova




#: The operator's to fix: one line, exit 1 (CommandError too).
EXPECTED = (ValueError, freeze_state.StateUnavailable,
            freeze_state.StateConflict, OSError)


class StateCommand:
    """A command on the freeze state: the state URL resolved, the backend
    opened, the operation's refusals in the CLI's terms, and the state's
    errors said with where the URL came from.  ``act`` returns what to
    show; a show command's ``(shown, problem)`` shows ``shown``, then
    fails with ``problem`` if there is one."""

    expected = EXPECTED
    #: ``on --create`` may create a file state's directory
    creates = False
    _problem = None

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        args = argparse.Namespace(**vars(self.app.options),
                                  **vars(parsed_args))
        url, args.state_origin = resolve_state_url(args)
        try:
            backend = freeze_state.open_backend(
                url, create=self.creates and args.create)
            result = self.act(backend, args, document.utcnow())
        except (freeze_state.StateUnavailable, freeze_state.StateConflict,
                document.StateError) as exc:
            message = str(exc)
            if isinstance(exc, document.StateError):
                message += ('; the state document is corrupt: check it, or '
                            'use --force with on/off to set it aside and '
                            'write a new one')
            raise CommandError(
                f'{message} [state URL from {args.state_origin}]')
        except control.Invalid as exc:
            raise exits.UsageError(str(exc)) from exc
        except control.Failed as exc:
            raise CommandError(str(exc)) from exc
        except Exception as exc:
            if isinstance(exc, nova_policy.OverlayError):  # (imported on
                raise CommandError(str(exc)) from exc       # errors only)
            raise
        if isinstance(result, tuple) and len(result) == 2 and isinstance(
                result[0], dict):
            shown, self._problem = result
            return _record(shown)
        return result

    def produce_output(self, parsed_args: argparse.Namespace,
                       column_names: Sequence[str], data: Any) -> int:
        super().produce_output(parsed_args, column_names, data)
        if self._problem:
            raise CommandError(self._problem)


def _add_wait(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--wait', type=float, default=30.0, metavar='SECONDS',
                        help='return once every live nova-api worker enforces '
                             'the change, or fail after this long naming the '
                             'workers that lag (default: 30)')


def _add_policy_file(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--policy-file', metavar='PATH',
                        help="nova's policy file (default: [oslo_policy] "
                             "policy_file of nova.conf)")


def _add_policy_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--policy-dir', metavar='DIR',
                        help="also keep the freeze as an oslo.policy overlay "
                             "in this one of nova's policy_dirs (default: "
                             "[freeze] policy_dir)")
    _add_policy_file(parser)


def _add_force(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--force', action='store_true',
                        help='replace a corrupt state document (kept aside)')


def add_grant_options(parser: argparse.ArgumentParser, role_help: str) -> None:
    """``--grant``, ``--grant-group`` and ``--role`` (both CLIs)."""
    parser.add_argument('--grant', action='append', metavar='USER:PROJECT',
                        help='grant the migration role for the window: '
                             'USER[@DOMAIN]:PROJECT[@DOMAIN] (repeatable)')
    parser.add_argument('--grant-group', action='append',
                        metavar='GROUP:PROJECT',
                        help='the same for a group (repeatable)')
    parser.add_argument('--role', help=role_help)


def _add_grants(parser: argparse.ArgumentParser) -> None:
    add_grant_options(parser, 'role to grant (default: the first of '
                              '[freeze] migration_roles)')


class On(StateCommand, shell.ShowOne):
    """Freeze the compute API, or change the freeze that is on."""

    example = '''
        freeze-ctl on --mode writes --reason "db surgery" --for 2h
        freeze-ctl on --mode full --reason "neutron cut" --grant alice:ops --quiesce
        freeze-ctl on --mode network --reason cut -f value -c epoch  (the epoch only)
    '''
    creates = True

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument('--mode', choices=document.MODES, required=True)
        parser.add_argument('--reason', required=True,
                            help='shown to every blocked caller')
        end = parser.add_mutually_exclusive_group()
        end.add_argument('--until', type=parse_until, metavar='ISO8601',
                         help='expected end (UTC unless an offset is given; '
                              'default: the end of the window already on)')
        end.add_argument('--for', dest='duration', type=parse_duration,
                         metavar='DURATION', help='expected length, e.g. 2h')
        end.add_argument('--no-until', action='store_true',
                         help='drop the expected end of the window already '
                              'on (and its auto-thaw)')
        parser.add_argument('--auto-thaw',
                            action=argparse.BooleanOptionalAction,
                            help='thaw by itself at the end time (never the '
                                 'default: thawing mid-translation corrupts '
                                 'data; default: as the window already on)')
        _add_force(parser)
        parser.add_argument('--create', action='store_true',
                            help="create the state file's directory when it "
                                 "is missing (else refused: a mistyped path "
                                 "is not a new state)")
        _add_policy_dir(parser)
        parser.add_argument('--create-policy-file', action='store_true',
                            help="create nova's policy file, empty, when it "
                                 "is missing (oslo.policy documents that it "
                                 "searches policy_dirs only when it exists)")
        _add_grants(parser)
        _add_wait(parser)
        parser.add_argument('--quiesce', action='store_true',
                            help='then wait until no server has a task_state '
                                 'and no migration is in progress (needs '
                                 'Nova admin credentials: --os-cloud or OS_* '
                                 'variables)')
        parser.add_argument('--quiesce-timeout', type=float, default=600.0,
                            metavar='SECONDS',
                            help='fail after this long, listing what is '
                                 'still in flight (default: 600)')
        return parser

    def act(self, backend: Backend, args: argparse.Namespace,
            now: datetime.datetime) -> tuple[Any, str | None]:
        freeze = control.plan_freeze(
            control.current(backend, args.force), args.mode, args.reason,
            now, until=args.until, length=args.duration,
            no_until=args.no_until, auto_thaw=args.auto_thaw)
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
        return _finish(backend, new, shown, args, nova)


class Off(StateCommand, shell.ShowOne):
    """Thaw the compute API, then revoke what its window granted."""

    example = '''
        freeze-ctl off
        freeze-ctl off --policy-dir /etc/nova/policy.d --wait 60
    '''

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        _add_force(parser)
        _add_policy_dir(parser)
        _add_wait(parser)
        return parser

    def act(self, backend: Backend, args: argparse.Namespace,
            now: datetime.datetime) -> tuple[Any, str | None]:
        target = resolve_policy_dir(args)
        who = control.operator()
        _, new, notes = control.thaw(backend, who, now, force=args.force)
        for note in notes:
            print(note, file=sys.stderr)
        shown = new.to_dict()
        if target is not None:
            gone = 'removed' if target.remove() else 'absent'
            shown['policy_overlay'] = f'{target} ({gone})'
        # Thawed first, then the role taken back: Keystone being down must
        # not keep the cloud frozen.  What cannot be revoked stays recorded.
        revoked = []
        if new.grants:
            try:
                revoked = control.revoke_window(
                    backend, lambda: auth.keystone_or_none(args), who, now)
            except window.GrantsLeft as exc:
                return dict(shown, grants=[g.to_dict() for g in exc.stuck]), \
                    str(exc)
        shown.update(grants=[], revoked=[window.describe(g) for g in revoked])
        return _finish(backend, new, shown, args)


WORKER_COLUMNS = ('host', 'pid', 'epoch', 'status', 'heartbeat_age_s',
                  'overlay', 'problem')


class Status(StateCommand, shell.ShowOne):
    """Show the freeze, where its state URL came from, and the workers."""

    example = '''
        freeze-ctl status
        freeze-ctl status -f value -c mode
        freeze-ctl status -f json --policy-dir /etc/nova/policy.d
    '''

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        _add_policy_dir(parser)
        return parser

    def act(self, backend: Backend, args: argparse.Namespace,
            now: datetime.datetime) -> tuple[Any, str | None]:
        state = backend.read()
        shown = dict(control.status(state, now),
                     state_url=redaction.redact(backend),
                     state_url_from=args.state_origin)
        if not getattr(backend, 'directory_exists', lambda: True)():
            _note(f'warning: {os.path.dirname(backend.path)} does not exist '
                  f'(state URL from {args.state_origin}): never frozen here, '
                  'or a mistyped state URL')
        target = resolve_policy_dir(args)
        if target is not None:
            matches, detail = target.report(
                state.mode if state.in_force(now) else None)
            shown.update(policy_overlay=str(target),
                         policy_overlay_matches=matches,
                         policy_overlay_detail=detail)
        workers, problem = control.workers(backend, state, now)
        _note(problem and 'warning: ' + problem)
        self.workers = workers
        if args.formatter != 'table':
            shown['workers'] = workers
        return shown, None

    def produce_output(self, parsed_args: argparse.Namespace,
                       column_names: Sequence[str], data: Any) -> int:
        """In a table, the workers follow as a table of their own."""
        super().produce_output(parsed_args, column_names, data)
        if parsed_args.formatter == 'table' and not parsed_args.columns:
            options = argparse.Namespace(**dict(vars(parsed_args),
                                                print_empty=True))
            table.TableFormatter().emit_list(
                WORKER_COLUMNS, [[w[c] for c in WORKER_COLUMNS]
                                 for w in self.workers],
                self.app.stdout, options)


def _grants(args: argparse.Namespace) -> control.Grants:
    """The grants the command line asks for; Keystone reached only when
    they are made."""
    targets = tuple(
        [window.Target.parse('user', t) for t in args.grant or ()]
        + [window.Target.parse('group', t) for t in args.grant_group or ()])
    return control.Grants(lambda: require_keystone(args), targets,
                          migration_role(args) if targets else None)


def migration_role(args: argparse.Namespace) -> str:
    """The role to grant: --role, else the first of [freeze] migration_roles."""
    return args.role or load_nova_conf(args).freeze.migration_roles[0]


def require_keystone(args: argparse.Namespace) -> Keystone:
    try:
        return keystone.Keystone(auth.session(args))
    except auth.NoCredentials as exc:
        raise CommandError(str(exc))


GRANT_COLUMNS = ('role', 'kind', 'actor', 'project', 'status')


def _grant_rows(grants: Iterable[document.Grant],
                ) -> tuple[tuple[str, ...], list[list[str]]]:
    return GRANT_COLUMNS, [[getattr(g, c) for c in GRANT_COLUMNS]
                           for g in grants]


class Grants(StateCommand, shell.Lister):
    """List the window's role grants (created, existing, pending)."""

    example = '''
        freeze-ctl grants -f value -c actor -c status
    '''

    def act(self, backend: Backend, args: argparse.Namespace,
            now: datetime.datetime) -> tuple[tuple[str, ...], list[list[str]]]:
        return _grant_rows(backend.read().grants)


class Grant(StateCommand, shell.Lister):
    """Grant the migration role in the window that is on."""

    example = '''
        freeze-ctl grant --grant carol:ops --grant-group cutover:ops
    '''
    operation = staticmethod(control.grant)

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        _add_grants(parser)
        return parser

    def act(self, backend: Backend, args: argparse.Namespace,
            now: datetime.datetime) -> tuple[tuple[str, ...], list[list[str]]]:
        return _grant_rows(self.operation(
            backend, _grants(args), control.operator(), now).grants)


class Revoke(Grant):
    """Revoke grants this window made."""

    example = '''
        freeze-ctl revoke --grant carol:ops
    '''
    operation = staticmethod(control.revoke)


def _describe_changes(changes: dict[str, Any]) -> str:
    return '; '.join(
        f'corrupt document set aside as {change}' if name == 'set_aside'
        else f'{name} {_plain(change[0])} -> {_plain(change[1])}'
        for name, change in changes.items())


def _plain(value: Any) -> str:
    if value is None:
        return 'none'
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str) and (not value or ' ' in value):
        return repr(value)
    return str(value)


HISTORY_COLUMNS = ('when', 'who', 'epoch', 'frozen', 'mode', 'changes')


class History(StateCommand, shell.Lister):
    """Show the audit history: who changed what, when."""

    example = '''
        freeze-ctl history --limit 5
        freeze-ctl history -f json   (changes as {field: [old, new]})
    '''

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument('--limit', type=positive_int, metavar='N',
                            help='only the last N changes')
        return parser

    def act(self, backend: Backend, args: argparse.Namespace,
            now: datetime.datetime) -> tuple[tuple[str, ...], list[list[Any]]]:
        rows = []
        for entry in backend.history()[-args.limit if args.limit else 0:]:
            new = entry.get('new') or {}
            changes = document.changes(entry)
            rows.append([entry.get('when'), entry.get('who'),
                         new.get('epoch'), new.get('frozen'),
                         new.get('mode'),
                         Cell(changes, _describe_changes(changes))])
        return HISTORY_COLUMNS, rows


class PolicyGenerate(shell.Command):
    """The freeze as an oslo.policy overlay over nova's effective policy."""

    def expected_errors(self) -> tuple[type[Exception], ...]:
        return EXPECTED + (nova_policy.OverlayError,)

    example = '''
        freeze-ctl policy generate --mode writes
        freeze-ctl --config-file /etc/nova/nova.conf policy generate --mode full -o /etc/nova/policy.d/zz-nova-freeze.yaml
    '''

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        _add_policy_file(parser)
        parser.add_argument('--mode', choices=document.MODES, required=True)
        parser.add_argument('-o', '--output', metavar='FILE',
                            help='write it here (atomically), not to stdout')
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        args = argparse.Namespace(**vars(self.app.options), **vars(parsed_args))
        conf = load_nova_conf(args)
        layout = nova_policy.layout_from_conf(conf, args.policy_file)
        if args.policy_file and not os.path.isfile(layout.policy_file):
            raise CommandError(
                f'policy file {layout.policy_file} does not exist')
        command = f'freeze-ctl policy generate --mode {args.mode}'
        if args.policy_file:
            command += f' --policy-file {args.policy_file}'
        rules, text = nova_policy.build(
            args.mode, freeze_conf.load_settings(conf).rules,
            layout.sources(), command, conf.oslo_policy.enforce_new_defaults)
        if not args.output:
            sys.stdout.write(text)
            return exits.DONE
        try:
            atomic.write_atomically(args.output, text)
        except OSError as exc:
            raise CommandError(f'cannot write {args.output}: {exc}')
        print(f'{args.output}: {len(rules)} rules for mode {args.mode}',
              file=sys.stderr)
        return exits.DONE


class Paste(shell.Command):
    """Add the freeze filter to nova's api-paste.ini."""

    expected = EXPECTED

    example = '''
        freeze-ctl paste /etc/nova/api-paste.ini --dry-run
        freeze-ctl paste /etc/nova/api-paste.ini
    '''

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument('file')
        parser.add_argument('-o', '--output',
                            help='write here instead of FILE')
        parser.add_argument('--dry-run', action='store_true',
                            help='show the change as a unified diff; write '
                                 'nothing')
        return parser

    def take_action(self, args: argparse.Namespace) -> int:
        try:
            with open(args.file, encoding='utf-8', newline='') as f:
                text = f.read()
            mode = stat.S_IMODE(os.stat(args.file).st_mode)
        except OSError as exc:
            raise CommandError(f'cannot read {args.file}: {exc}')
        try:
            new_text, changed = pastefile.insert_filter(text, args.file)
        except pastefile.PasteError as exc:
            raise CommandError(f'{args.file}: {exc}')
        target = args.output or args.file
        if not changed and target == args.file:
            print(f'{args.file} already has the freeze filter; nothing '
                  'changed.')
            return exits.DONE
        if args.dry_run:
            sys.stdout.writelines(difflib.unified_diff(
                text.splitlines(keepends=True),
                new_text.splitlines(keepends=True), args.file, target))
            return exits.DONE
        try:
            written = atomic.write_atomically(target, new_text, mode=mode)
        except OSError as exc:
            raise CommandError(f'cannot write {target}: {exc}')
        shown = (target if written == os.path.abspath(target)
                 else f'{target} (-> {written})')
        print(f"{shown}: freeze filter added to {', '.join(changed)}")
        return exits.DONE


COMMANDS = {'on': 'On', 'off': 'Off', 'status': 'Status',
            'history': 'History', 'grants': 'Grants', 'grant': 'Grant',
            'revoke': 'Revoke', 'policy generate': 'PolicyGenerate',
            'paste': 'Paste'}

CREDENTIALS_NOTE = (
    "Keystone credentials (for --grant, --quiesce, and off in a window with "
    "grants): --os-cloud (clouds.yaml), OS_* variables or openstacksdk's "
    "--os-* options; 'freeze-ctl --os-cloud CLOUD --help' lists those.")


class FreezeCtl(shell.App):
    """freeze-ctl's shell: its global options beside cliff's."""

    def __init__(self, argv: Sequence[str] = ()) -> None:
        # the command line decides which Keystone options --help lists
        self.argv = list(argv)
        super().__init__('freeze-ctl', 'Put the Nova compute API into '
                         'migration mode.', {
                             name: f'freeze.cli.freeze_ctl:{cls}'
                             for name, cls in COMMANDS.items()})

    def add_global_options(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument('--state', metavar='URL',
                            help='state URL (default: $NOVA_FREEZE_STATE, '
                                 'then [freeze] state_url)')
        parser.add_argument('--config-file', action='append', metavar='PATH',
                            help='nova.conf to read [freeze] from '
                                 '(repeatable)')
        auth.add_options(parser, self.argv, CREDENTIALS_NOTE)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    return FreezeCtl(argv).main(argv)


if __name__ == '__main__':
    sys.exit(main())
