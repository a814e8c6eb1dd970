"""``nova-cutover translate diff|apply|verify|rollback|restore``: argument
parsing and output around freeze.translate.

``translate plan`` is the deprecated name of ``translate diff`` and
``--config`` that of ``--settings`` (the translation's YAML is its
"settings"; "plan" is the runbook only).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import re
import sys
import time
from typing import Any

import yaml

from freeze.cli import exits
from freeze.cli import lazy
from freeze.cli import shell

# SQLAlchemy, keystoneauth1 and the translation: when a command runs, not
# for nova-cutover's other commands or --help.
sqlalchemy = lazy.module('sqlalchemy')
ks_exceptions = lazy.module('keystoneauth1.exceptions')
settings_mod = lazy.module('freeze.translate.settings')
held = lazy.module('freeze.translate.held')
apply_mod = lazy.module('freeze.translate.apply')
changes_mod = lazy.module('freeze.translate.changes')
desired = lazy.module('freeze.translate.desired')
fromnova = lazy.module('freeze.translate.fromnova')
verify = lazy.module('freeze.translate.verify')
neutrondb = lazy.module('freeze.translate.neutrondb')
neutron_mod = lazy.module('freeze.translate.neutron')
progress_mod = lazy.module('freeze.translate.progress')


class _Translate(shell.Command):
    """A translate command: the settings, the source and Neutron, and the
    translation's errors as one line and exit 1."""

    error_prefix = 'nova-cutover translate'
    #: this command's options beyond the common ones
    neutron_db = False       # --neutron-db (True: required)
    writes_db = False        # --force
    applies = False          # --workers, --bulk-size, --no-progress

    def expected_errors(self) -> tuple[type[Exception], ...]:
        return (settings_mod.SettingsError, OSError, neutron_mod.NeutronError,
                ks_exceptions.ClientException, yaml.YAMLError,
                neutrondb.Refused, neutrondb.Failed,
                sqlalchemy.exc.SQLAlchemyError)

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument('--settings', metavar='FILE',
                            help='the translation settings (YAML)')
        parser.add_argument('--config', dest='settings', metavar='FILE',
                            action=_Deprecated, help=argparse.SUPPRESS)
        parser.add_argument('--source', metavar='URL', help='nova database '
                            'URL (overrides the settings)')
        parser.add_argument('--neutron-url', metavar='URL',
                            help='a noauth Neutron endpoint; else OS_CLOUD / '
                                 'OS_* credentials')
        parser.add_argument('--samples', type=int, default=3,
                            help='changes and problems shown per kind')
        if self.neutron_db:
            parser.add_argument(
                '--neutron-db', required=self.neutron_db == 'required',
                metavar='URL', help="Neutron's database (SQLAlchemy URL): "
                'work on it, not the API')
        if self.writes_db:
            parser.add_argument('--force', action='store_true',
                                help='write although a Neutron server '
                                     'seems to serve from the database')
        if self.applies:
            parser.add_argument('--workers', type=int,
                                help='concurrent API calls (default: the '
                                     "settings' workers)")
            parser.add_argument('--bulk-size', type=int,
                                help="resources per bulk create (default: "
                                     "the settings' bulk_size)")
            parser.add_argument('--no-progress', action='store_true',
                                help='no progress bar')
        return parser

    def take_action(self, args: argparse.Namespace) -> int:
        if not args.settings:
            raise exits.UsageError('--settings FILE is required')
        return _reached(self.action, args)


class _Deprecated(argparse.Action):
    """``--config FILE``: the old name of ``--settings FILE``."""

    def __call__(self, parser: argparse.ArgumentParser,
                 namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        print(f'{parser.prog}: warning: {option_string} is deprecated, use '
              '--settings', file=sys.stderr)
        setattr(namespace, self.dest, values)


class Diff(_Translate):
    """print the difference between Neutron and nova-network; change nothing

    With --neutron-db, diffs against Neutron's database and says whether
    ``restore`` would refuse.
    """

    neutron_db = True
    example = '''
        nova-cutover translate diff --settings translate.yaml
        nova-cutover translate diff --settings translate.yaml --neutron-db URL
    '''

    def action(self, args: argparse.Namespace) -> int:
        return _diff(args)


class Apply(_Translate):
    """converge Neutron onto nova-network through its API"""

    applies = True
    example = '''
        nova-cutover translate apply --settings translate.yaml --workers 8
    '''

    def action(self, args: argparse.Namespace) -> int:
        return _apply(args)


class Verify(_Translate):
    """compare Neutron with nova-network; exit 1 on any mismatch"""

    example = '''
        nova-cutover translate verify --settings translate.yaml
    '''

    def action(self, args: argparse.Namespace) -> int:
        return _verify(args)


class Rollback(_Translate):
    """remove what the translation created (tagged nova-cutover)"""

    neutron_db = True
    writes_db = True
    applies = True
    example = '''
        nova-cutover translate rollback --settings translate.yaml
        nova-cutover translate rollback --settings translate.yaml --neutron-db URL
    '''

    def action(self, args: argparse.Namespace) -> int:
        return _rollback(args)


class Restore(_Translate):
    """write nova-network's state straight into Neutron's database

    Converging, in one transaction: all of it or, with the reason on one
    line, nothing.
    """

    neutron_db = 'required'
    writes_db = True
    example = '''
        nova-cutover translate restore --settings translate.yaml --neutron-db URL
    '''

    def action(self, args: argparse.Namespace) -> int:
        return _restore(args)


def _reached(fn: Callable[[argparse.Namespace], int],
             args: argparse.Namespace) -> int:
    """An unreachable service, said once: where, and the system's reason."""
    try:
        return fn(args)
    except ks_exceptions.ConnectFailure as exc:
        reason = re.findall(r'\[Errno -?\d+\][^\'")]*', str(exc))
        where = re.search(r'connection to (\S+?):? ', str(exc))
        host = where.group(1) if where else 'the service'
        why = reason[-1].strip() if reason else exc
        raise settings_mod.SettingsError(
            f'cannot reach {host} (after retries): {why}') from exc


def _settings(args: argparse.Namespace) -> settings_mod.Settings:
    return settings_mod.Settings.load(args.settings)


def _neutron(args: argparse.Namespace,
             settings: settings_mod.Settings) -> neutron_mod.Neutron:
    url = args.neutron_url or settings.neutron_url
    if url:
        return neutron_mod.Neutron.noauth(url)
    import openstack.config
    from openstack import exceptions as sdk_exceptions
    try:
        cloud = openstack.config.OpenStackConfig().get_one()
    except sdk_exceptions.ConfigException as exc:
        raise settings_mod.SettingsError(f'OpenStack credentials: {exc}')
    return neutron_mod.Neutron(
        cloud.get_session(), cloud.get_endpoint('network'),
        cloud.get_region_name('network'), cloud.get_interface('network'))


def _desired(args: argparse.Namespace,
             settings: settings_mod.Settings) -> desired.Desired:
    url = args.source or settings.source
    if not url:
        raise settings_mod.SettingsError(
            'no source database (--source or source:)')
    began = time.monotonic()
    wanted = fromnova.desired(url, settings)
    nova = wanted.origin
    problems = [*nova.problems, *wanted.problems]
    print(f'nova-network: {nova.ports} ports, {nova.networks} '
          f'networks, {nova.groups} groups -> {len(wanted)} Neutron '
          f'resources in {time.monotonic() - began:.1f}s; '
          f'{len(problems)} problem(s)')
    shown: dict[tuple[str, str], int] = {}
    for p in problems:
        n = shown[p.kind, p.table] = shown.get((p.kind, p.table), 0) + 1
        if n <= args.samples:
            print(f'  {p}')
    for (kind, table), n in shown.items():
        if n > args.samples:
            print(f'  ... {n - args.samples} more {kind} in {table}')
    return wanted


def _print_plan(plan: changes_mod.Changes, samples: int) -> None:
    counts = plan.counts()
    if not counts:
        print('no change')
    for kind, ops in counts.items():
        print(f'{kind:17} ' + ', '.join(f'{op} {n}' for op, n in ops.items()))
    shown: dict[tuple[str, str], int] = {}
    for c in plan:
        n = shown[c.op, c.kind] = shown.get((c.op, c.kind), 0) + 1
        if n <= samples:
            print(f'  {c.op} {c.kind} {c.key}'
                  + (f' ({", ".join(c.fields)})' if c.fields else ''))


def _conflicts(wanted: desired.Desired) -> str | None:
    """Where the settings and nova-network's data disagree (a network's
    kind or physnet): the one line that says apply will not go on."""
    n = sum(p.kind == 'conflict' for p in wanted.problems)
    return n and (f'{n} conflict(s) between the settings and nova-network\'s '
                  'data (listed above): apply refuses until the settings '
                  'say which is right (network_manager, physnets, networks)')


def _diff(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.neutron_db:
        outcome = neutrondb.run(args.neutron_db, _desired(args, settings),
                                write_it=False)
        _print_plan(outcome.changes, args.samples)
        if outcome.refusal:
            print(f'restore would refuse: {outcome.refusal}')
        return 0
    neutron = _neutron(args, settings)
    wanted = _desired(args, settings)
    plan = changes_mod.diff(wanted, held.fetch(neutron))
    _print_plan(plan, args.samples)
    if conflicts := _conflicts(wanted):
        print(conflicts)
    return 0


def _run_apply(args: argparse.Namespace, settings: settings_mod.Settings,
               plan: changes_mod.Changes, actual: Any,
               neutron: neutron_mod.Neutron) -> int:
    _print_plan(plan, args.samples)
    progress = None if args.no_progress else progress_mod.Progress(
        len(plan))
    began = time.monotonic()
    result = apply_mod.apply(
        plan, neutron, actual, args.workers or settings.workers,
        args.bulk_size or settings.bulk_size, progress)
    if progress:
        progress.close()
    print(f'applied {result.done - len(result.failures)} of '
          f'{len(plan)} change(s) in {time.monotonic() - began:.1f}s;'
          f' {len(result.failures)} failed')
    for kind, key, message in result.failures:
        print(f'  FAILED {kind} {key}: {message}')
    return 1 if result.failures else 0


def _apply(args: argparse.Namespace) -> int:
    settings = _settings(args)
    neutron = _neutron(args, settings)
    wanted = _desired(args, settings)
    if conflicts := _conflicts(wanted):
        print(f'nova-cutover translate: {conflicts}', file=sys.stderr)
        return exits.FAILED
    actual = held.fetch(neutron)
    return _run_apply(args, settings, changes_mod.diff(wanted, actual),
                      actual, neutron)


def _verify(args: argparse.Namespace) -> int:
    settings = _settings(args)
    neutron = _neutron(args, settings)
    wanted = _desired(args, settings)
    plan = changes_mod.diff(wanted, held.fetch(neutron))
    lines = verify.mismatches(plan)
    for line in lines:
        print(line)
    print(f'verify: {len(lines)} mismatch(es)' if lines else
          'verify: Neutron matches nova-network')
    if conflicts := _conflicts(wanted):
        print(f'verify: {conflicts}')
    return 1 if lines or conflicts else 0


def _rollback(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.neutron_db:
        return _write_db(args, desired.Desired.empty(), 'rolled back')
    neutron = _neutron(args, settings)
    actual = held.fetch(neutron)
    plan = changes_mod.diff(desired.Desired.empty(), actual)
    return _run_apply(args, settings, plan, actual, neutron)


def _restore(args: argparse.Namespace) -> int:
    return _write_db(args, _desired(args, _settings(args)), 'restored')


def _write_db(args: argparse.Namespace, wanted: desired.Desired,
              done: str) -> int:
    """restore (or its rollback) in one transaction: all of it or, with
    the reason on one line, nothing."""
    began = time.monotonic()
    outcome = neutrondb.run(args.neutron_db, wanted, force=args.force)
    _print_plan(outcome.changes, args.samples)
    print(f'{done} {len(outcome.changes)} change(s), '
          f'{len(outcome.writes)} row '
          f'operation(s), in one transaction, in '
          f'{time.monotonic() - began:.1f}s')
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m freeze.cli.cutover_translate ...`` is nova-cutover."""
    from freeze.cli import nova_cutover
    return nova_cutover.main(argv)


if __name__ == '__main__':
    sys.exit(main())
