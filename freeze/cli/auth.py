"""Keystone credentials the way every OpenStack CLI takes them.

``--os-cloud`` (clouds.yaml), ``OS_*`` environment variables and ``--os-*``
options, through openstacksdk's config loader and keystoneauth1.  No
credentials is not an error here: the freeze works without Keystone, and
only the commands that need it say so.
"""

import argparse

from keystoneauth1 import exceptions as ks_exceptions
import openstack.config

from freeze import keystone


class NoCredentials(Exception):
    """No usable Keystone credentials were given."""


def register(parser, argv):
    """The ``--os-*`` options.  openstacksdk peeks at the named cloud to
    pick the auth plugin's options; an unknown ``OS_CLOUD`` must not stop
    commands that need no credentials, so the peek falls back to none (the
    commands that need credentials then say what is wrong)."""
    config = openstack.config.OpenStackConfig()
    try:
        config.register_argparse_arguments(
            argparse.ArgumentParser(add_help=False), list(argv))
    except openstack.exceptions.ConfigException:
        argv = list(argv) + ['--os-cloud', '']
    config.register_argparse_arguments(parser, list(argv))


def session(args):
    """A keystoneauth1 session, or NoCredentials saying what is missing."""
    try:
        cloud = openstack.config.OpenStackConfig().get_one(argparse=args)
        return cloud.get_session()
    except (ks_exceptions.ClientException,
            openstack.exceptions.ConfigException) as exc:
        raise NoCredentials(
            'Keystone credentials are needed for role grants (--os-cloud, '
            'OS_* variables or --os-* options): %s' % exc)


def keystone_or_none(args):
    """The Keystone adapter when credentials were given, else None."""
    try:
        return keystone.Keystone(session(args))
    except NoCredentials:
        return None
