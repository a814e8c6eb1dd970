"""Keystone credentials the way every OpenStack CLI takes them.

``--os-cloud`` (clouds.yaml), ``OS_*`` environment variables and ``--os-*``
options, through openstacksdk's config loader and keystoneauth1.  No
credentials is not an error here: the freeze works without Keystone, and
only the commands that need it say so.

openstacksdk takes most of a second to import, so it is imported only when
it has something to do: its ``--os-*`` options are registered on the parser
when the command line may hold one (``add_options``), and otherwise filled
in (from ``OS_*``, as the parser would have) when a command asks for
credentials.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, TYPE_CHECKING

from freeze.cli import lazy

if TYPE_CHECKING:
    from freeze.keystone import Keystone

keystone = lazy.module('freeze.keystone')
ks_exceptions = lazy.module('keystoneauth1.exceptions')
sdk_config = lazy.module('openstack.config')
sdk_exceptions = lazy.module('openstack.exceptions')


class NoCredentials(Exception):
    """No usable Keystone credentials were given."""


def add_options(parser: argparse.ArgumentParser, argv: Sequence[str],
                note: str) -> None:
    """openstacksdk's ``--os-*`` options on ``parser`` (the global one)
    when ``argv`` may hold one: an ``--os-*`` option, or an option before
    the command that the parser without them does not know (openstacksdk
    also adds ``--insecure``, ``--timeout``...).  Else they are not
    registered (``--help`` then lists none) and ``note`` is the help's
    epilog."""
    wanted = any(arg.startswith('--os-') for arg in argv)
    if not wanted:
        _, rest = parser.parse_known_args(argv)
        wanted = bool(rest) and rest[0].startswith('-')
    if wanted:
        register(parser, argv)
    else:
        parser.epilog = note


def register(parser: argparse.ArgumentParser, argv: Sequence[str]) -> None:
    """openstacksdk's ``--os-*`` options.  openstacksdk peeks at the named
    cloud to pick the auth plugin's options; an unknown ``OS_CLOUD`` must
    not stop commands that need no credentials, so the peek falls back to
    none (the commands that need credentials then say what is wrong)."""
    config = sdk_config.OpenStackConfig()
    try:
        config.register_argparse_arguments(
            argparse.ArgumentParser(add_help=False), list(argv))
    except sdk_exceptions.ConfigException:
        argv = list(argv) + ['--os-cloud', '']
    config.register_argparse_arguments(parser, list(argv))


def credentials(args: argparse.Namespace) -> argparse.Namespace:
    """``args`` with every ``--os-*`` option, as if they had been registered
    on the parser: when none was, their defaults (from ``OS_*``)."""
    if hasattr(args, 'os_cloud'):
        return args
    parser = argparse.ArgumentParser(add_help=False)
    register(parser, [])
    return argparse.Namespace(**vars(parser.parse_args([])), **vars(args))


def session(args: argparse.Namespace) -> Any:
    """A keystoneauth1 session, or NoCredentials saying what is missing."""
    try:
        cloud = sdk_config.OpenStackConfig().get_one(
            argparse=credentials(args))
        return cloud.get_session()
    except (ks_exceptions.ClientException,
            sdk_exceptions.ConfigException) as exc:
        raise NoCredentials(
            'Keystone credentials are needed for role grants (--os-cloud, '
            f'OS_* variables or --os-* options): {exc}')


def keystone_or_none(args: argparse.Namespace) -> Keystone | None:
    """The Keystone adapter when credentials were given, else None."""
    try:
        return keystone.Keystone(session(args))
    except NoCredentials:
        return None
