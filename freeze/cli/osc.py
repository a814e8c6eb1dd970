"""``openstack compute freeze``: the freeze from the openstack client.

A python-openstackclient plugin (``openstack.cli.extension``) over the same
operations as freeze-ctl (``freeze.control``)::

    openstack compute freeze show
    openstack compute freeze set --mode writes --reason "db surgery" [--for 2h]
    openstack compute freeze unset
    openstack compute freeze grant list
    openstack compute freeze grant create [--group] alice:ops [...]
    openstack compute freeze grant delete [--group] alice:ops [...]

The state URL comes from ``--os-freeze-state`` or ``$NOVA_FREEZE_STATE``;
Keystone (for grants) is the openstack client's own session, so its
credentials are the usual ``--os-cloud``/``OS_*``.  ``set`` and ``unset``
return once every live nova-api worker enforces the change (``--wait``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
import datetime
import logging
from typing import Any, TYPE_CHECKING

from keystoneauth1 import exceptions as ks_exceptions
from openstack import exceptions as sdk_exceptions
from osc_lib.command import command
from osc_lib import exceptions
from osc_lib import utils

from freeze import control
from freeze import state as freeze_state
from freeze import window
from freeze.cli import freeze_ctl
from freeze.state import document

if TYPE_CHECKING:
    from freeze.keystone import Keystone
    from freeze.state.backend import Backend
    from freeze.state.document import FreezeState

LOG = logging.getLogger(__name__)

API_NAME = 'nova_freeze'
API_VERSION_OPTION = 'os_nova_freeze_api_version'
DEFAULT_API_VERSION = '1'
API_VERSIONS = ('1',)
#: The role granted unless --role says otherwise (``[freeze]
#: migration_roles``' default).
DEFAULT_ROLE = 'migration'


class Client:
    """What the commands work on: the state backend and, for grants only,
    Keystone, from the client's own credentials (``--os-cloud``,
    ``OS_*``); without grants no credentials are needed."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def backend(self) -> Backend:
        url = self.app.options.os_freeze_state
        if not url:
            raise exceptions.CommandError(
                'no freeze state URL: give --os-freeze-state URL or set '
                'NOVA_FREEZE_STATE')
        try:
            return freeze_state.open_backend(url)
        except ValueError as exc:
            raise exceptions.CommandError(str(exc)) from exc

    def keystone(self) -> Keystone:
        """As the client authenticates its other commands."""
        from freeze import keystone  # keystoneclient: for grants only
        options = self.app.options
        try:
            cloud = self.app.cloud_config.get_one(
                cloud=options.cloud, argparse=options, validate=True)
            return keystone.Keystone(cloud.get_session())
        except (ks_exceptions.ClientException,
                sdk_exceptions.ConfigException) as exc:
            raise exceptions.CommandError(
                'Keystone credentials are needed for role grants '
                f'(--os-cloud, OS_* variables or --os-* options): {exc}')


class _Command:
    """The freeze's commands authenticate only when they grant."""

    auth_required = False

    @property
    def client(self) -> Client:
        return Client(self.app)


def build_option_parser(
        parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument(
        '--os-freeze-state', metavar='URL',
        default=utils.env('NOVA_FREEZE_STATE'),
        help='the freeze state URL (file:///... or etcd3+http(s)://...; '
             'default: $NOVA_FREEZE_STATE)')
    parser.add_argument(
        '--os-nova-freeze-api-version', metavar='VERSION',
        default=utils.env('OS_NOVA_FREEZE_API_VERSION'),
        help=f'nova-freeze plugin version (default: {DEFAULT_API_VERSION})')
    return parser


def _failures(operation: Callable[[], Any]) -> Any:
    """``operation()``, with the freeze's clear failures as CommandError
    (one line from the openstack client, exit 1)."""
    try:
        return operation()
    except (control.Failed, control.Invalid, document.StateError,
            document.EpochError, freeze_state.StateUnavailable,
            freeze_state.StateConflict, window.GrantsLeft) as exc:
        raise exceptions.CommandError(str(exc)) from exc


def _state_columns(state: FreezeState,
                   now: datetime.datetime) -> tuple[tuple, tuple]:
    shown = control.status(state, now)
    shown['grants'] = [window.describe(g) for g in state.grants]
    return tuple(shown), tuple(shown.values())


def _wait(backend: Backend, state: FreezeState, wait: float) -> None:
    problem, note = control.wait_for_workers(backend, state.epoch, wait)
    if note:
        LOG.warning(note)
    if problem:
        raise exceptions.CommandError(problem)


def _add_wait(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        '--wait', type=float, default=30.0, metavar='SECONDS',
        help='return once every live nova-api worker enforces the change, '
             'or fail after this long naming the workers that lag '
             '(default: 30)')


def _add_targets(parser: argparse.ArgumentParser, nargs: str) -> None:
    parser.add_argument(
        'targets', nargs=nargs, metavar='NAME[@DOMAIN]:PROJECT[@DOMAIN]',
        help='who gets the migration role, on which project')
    parser.add_argument('--group', action='store_true',
                        help='the names are groups, not users')
    parser.add_argument('--role', default=DEFAULT_ROLE,
                        help=f'the role (default: {DEFAULT_ROLE})')


def _grants(client: Client, kind: str, texts: Iterable[str] | None,
            role: str) -> control.Grants:
    try:
        targets = tuple(window.Target.parse(kind, t) for t in texts or ())
    except ValueError as exc:
        raise exceptions.CommandError(str(exc)) from exc
    return control.Grants(client.keystone, targets, role)


class ShowFreeze(_Command, command.ShowOne):
    _description = ("Show the compute API's freeze (migration mode).\n\n"
                    "Example: openstack compute freeze show -f value -c mode")

    def take_action(self,
                    parsed_args: argparse.Namespace) -> tuple[tuple, tuple]:
        client = self.client
        now = document.utcnow()
        return _failures(lambda: _state_columns(client.backend().read(), now))


class _ChangeState(_Command, command.ShowOne):
    """A change of the freeze: ``change`` returns the state after; the
    command waits for the workers to enforce it, then shows it."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        self.add_arguments(parser)
        _add_wait(parser)
        return parser

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """The command's own options (before --wait)."""

    def change(self, client: Client, backend: Backend,
               parsed_args: argparse.Namespace,
               now: datetime.datetime) -> FreezeState:
        raise NotImplementedError

    def take_action(self,
                    parsed_args: argparse.Namespace) -> tuple[tuple, tuple]:
        client = self.client
        backend = client.backend()
        now = document.utcnow()
        new = _failures(
            lambda: self.change(client, backend, parsed_args, now))
        _wait(backend, new, parsed_args.wait)
        return _state_columns(new, now)


class SetFreeze(_ChangeState):
    _description = (
        "Freeze the compute API, or change the freeze that is on.\n\n"
        "Example: openstack compute freeze set --mode writes --reason "
        "'db surgery' --for 2h --grant alice:ops")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument('--mode', choices=document.MODES, required=True,
                            help='what is frozen')
        parser.add_argument('--reason', required=True,
                            help='shown to every blocked caller')
        end = parser.add_mutually_exclusive_group()
        end.add_argument('--until', type=freeze_ctl.parse_until,
                         metavar='ISO8601',
                         help='expected end (default: the end of the window '
                              'already on)')
        end.add_argument('--for', dest='duration',
                         type=freeze_ctl.parse_duration, metavar='DURATION',
                         help='expected length, e.g. 2h')
        end.add_argument('--no-until', action='store_true',
                         help='drop the expected end of the window already '
                              'on')
        thaw = parser.add_mutually_exclusive_group()
        thaw.add_argument('--auto-thaw', action='store_true', default=None,
                          help='thaw by itself at the end time')
        thaw.add_argument('--no-auto-thaw', dest='auto_thaw',
                          action='store_false', help='never thaw by itself')
        freeze_ctl.add_grant_options(
            parser, f'the role to grant (default: {DEFAULT_ROLE})')
        parser.set_defaults(role=DEFAULT_ROLE)

    def change(self, client: Client, backend: Backend,
               parsed_args: argparse.Namespace,
               now: datetime.datetime) -> FreezeState:
        grants = _grants(client, 'user', parsed_args.grant, parsed_args.role)
        groups = _grants(client, 'group', parsed_args.grant_group,
                         parsed_args.role)
        grants = control.Grants(client.keystone,
                                grants.targets + groups.targets,
                                parsed_args.role)
        freeze = control.plan_freeze(
            control.current(backend), parsed_args.mode,
            parsed_args.reason, now, until=parsed_args.until,
            length=parsed_args.duration, no_until=parsed_args.no_until,
            auto_thaw=parsed_args.auto_thaw)
        for note in freeze.notes:
            LOG.warning(note)
        _, new = control.turn_on(backend, freeze, control.operator(),
                                 now, grants=grants)
        return new


class UnsetFreeze(_ChangeState):
    _description = ("Thaw the compute API, then revoke what its window "
                    "granted.\n\nExample: openstack compute freeze unset")

    def change(self, client: Client, backend: Backend,
               parsed_args: argparse.Namespace,
               now: datetime.datetime) -> FreezeState:
        who = control.operator()
        _, new, notes = control.thaw(backend, who, now)
        for note in notes:
            LOG.warning(note)
        if new.grants:
            control.revoke_window(backend, client.keystone, who, now)
        return backend.read()


GRANT_COLUMNS = ('role', 'kind', 'actor', 'project', 'status')


def _grant_rows(grants: Iterable[document.Grant],
                ) -> tuple[tuple[str, ...], list[tuple]]:
    return GRANT_COLUMNS, [tuple(getattr(g, c) for c in GRANT_COLUMNS)
                           for g in grants]


class ListGrants(_Command, command.Lister):
    _description = ("List the migration-role grants of the freeze window."
                    "\n\nExample: openstack compute freeze grant list")

    def take_action(self, parsed_args: argparse.Namespace,
                    ) -> tuple[tuple[str, ...], list[tuple]]:
        client = self.client
        return _failures(lambda: _grant_rows(client.backend().read().grants))


class _ChangeGrants(_Command, command.Lister):
    """Grants added (``operation`` control.grant) or revoked
    (control.revoke); the window's grants after."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        _add_targets(parser, '+')
        return parser

    def take_action(self, parsed_args: argparse.Namespace,
                    ) -> tuple[tuple[str, ...], list[tuple]]:
        client = self.client
        grants = _grants(client, 'group' if parsed_args.group else 'user',
                         parsed_args.targets, parsed_args.role)
        operation = type(self).operation
        return _failures(lambda: _grant_rows(operation(
            client.backend(), grants, control.operator(),
            document.utcnow()).grants))


class CreateGrants(_ChangeGrants):
    _description = ("Grant the migration role for the freeze window that is "
                    "on.\n\nExample: openstack compute freeze grant create "
                    "alice:ops bob@ldap:ops@corp")
    operation = control.grant


class DeleteGrants(_ChangeGrants):
    _description = ("Revoke grants the freeze window made.\n\nExample: "
                    "openstack compute freeze grant delete alice:ops")
    operation = control.revoke
