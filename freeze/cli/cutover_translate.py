"""``nova-cutover translate plan|apply|verify|rollback``: argument parsing
and output around freeze.translate.

``register(subparsers)`` adds the group to the nova-cutover parser;
``python -m freeze.cli.cutover_translate ...`` runs it on its own.
"""

from __future__ import annotations

import argparse
import functools
import re
import sys
import time

import yaml

from freeze.cli import exits
from freeze.cli import lazy

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


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        'translate', help='nova-network -> Neutron: converge, verify, undo')
    actions = parser.add_subparsers(dest='translate_action', required=True)
    for name, fn, help in (
            ('plan', _plan, 'print the difference, change nothing'),
            ('apply', _apply, 'converge Neutron onto nova-network'),
            ('verify', _verify, 'compare; exit 1 on any mismatch'),
            ('rollback', _rollback, 'remove what the tool created'),
            ('restore', _restore, "write straight into Neutron's database "
             '(converging, one transaction)')):
        sub = actions.add_parser(name, help=help)
        sub.add_argument('--config', required=True,
                         help='the translation settings (YAML)')
        sub.add_argument('--source', help='nova database URL (overrides '
                         'the config)')
        sub.add_argument('--neutron-url', help='a noauth Neutron endpoint; '
                         'else OS_CLOUD / OS_* credentials')
        sub.add_argument('--samples', type=int, default=3,
                         help='changes and problems shown per kind')
        if name in ('plan', 'rollback', 'restore'):
            sub.add_argument('--neutron-db', required=name == 'restore',
                             metavar='URL', help="Neutron's database "
                             '(SQLAlchemy URL): work on it, not the API')
        if name in ('rollback', 'restore'):
            sub.add_argument('--force', action='store_true',
                             help='write although a Neutron server seems '
                             'to serve from the database')
        if name in ('apply', 'rollback'):
            sub.add_argument('--workers', type=int)
            sub.add_argument('--bulk-size', type=int)
            sub.add_argument('--no-progress', action='store_true')
        sub.set_defaults(func=functools.partial(_guarded, fn))


def _guarded(fn, args) -> int:
    """Errors as one line and exit 1 (freeze.cli.exits), whichever parser
    runs the command."""
    return exits.run('nova-cutover translate', getattr(args, 'debug', False),
                     lambda: _reached(fn, args), (
                         settings_mod.SettingsError, OSError,
                         neutron_mod.NeutronError, ks_exceptions.ClientException, yaml.YAMLError,
                         neutrondb.Refused, neutrondb.Failed,
                         sqlalchemy.exc.SQLAlchemyError))


def _reached(fn, args) -> int:
    """An unreachable service, said once: where, and the system's reason."""
    try:
        return fn(args)
    except ks_exceptions.ConnectFailure as exc:
        reason = re.findall(r'\[Errno -?\d+\][^\'")]*', str(exc))
        where = re.search(r'connection to (\S+?):? ', str(exc))
        raise settings_mod.SettingsError(
            'cannot reach %s (after retries): %s' % (
                where.group(1) if where else 'the service',
                reason[-1].strip() if reason else exc)) from exc


def _settings(args) -> settings_mod.Settings:
    return settings_mod.Settings.load(args.config)


def _neutron(args, settings: settings_mod.Settings) -> neutron_mod.Neutron:
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


def _desired(args, settings) -> desired.Desired:
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


def _plan(args) -> int:
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


def _run_apply(args, settings, plan, actual, neutron) -> int:
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


def _apply(args) -> int:
    settings = _settings(args)
    neutron = _neutron(args, settings)
    wanted = _desired(args, settings)
    if conflicts := _conflicts(wanted):
        print(f'nova-cutover translate: {conflicts}', file=sys.stderr)
        return exits.FAILED
    actual = held.fetch(neutron)
    return _run_apply(args, settings, changes_mod.diff(wanted, actual),
                      actual, neutron)


def _verify(args) -> int:
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


def _rollback(args) -> int:
    settings = _settings(args)
    if args.neutron_db:
        return _write_db(args, desired.Desired.empty(), 'rolled back')
    neutron = _neutron(args, settings)
    actual = held.fetch(neutron)
    plan = changes_mod.diff(desired.Desired.empty(), actual)
    return _run_apply(args, settings, plan, actual, neutron)


def _restore(args) -> int:
    return _write_db(args, _desired(args, _settings(args)), 'restored')


def _write_db(args, wanted: desired.Desired, done: str) -> int:
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
    parser = argparse.ArgumentParser(prog='nova-cutover')
    exits.add_debug_option(parser)
    register(parser.add_subparsers(dest='command', required=True))
    args = parser.parse_args(argv)
    exits.configure_logging(args.debug)
    return args.func(args)


if __name__ == '__main__':
    sys.exit(main())
