"""``nova-cutover proxy serve``: the read-only Neutron API under gunicorn.

The configuration is checked here (so a typo is one line and exit 1, not a
worker crash loop), then this process becomes gunicorn: signals reach it
directly, and each worker loads the paste pipeline (freeze.proxy.wsgi).
"""

from __future__ import annotations

import argparse
import os
import sys

import yaml

from freeze.cli import lazy
from freeze.cli import shell

# oslo.config, the proxy and the translation: when the proxy is served, not
# for nova-cutover's other commands or --help.
cfg = lazy.module('oslo_config.cfg')
proxy_conf = lazy.module('freeze.proxy.conf')
wsgi = lazy.module('freeze.proxy.wsgi')
settings_mod = lazy.module('freeze.translate.settings')


class Serve(shell.Command):
    """serve a read-only Neutron API over nova-network (gunicorn)

    The configuration is checked first: a mistake is one line and exit 1.
    Then this process becomes gunicorn.
    """

    error_prefix = 'nova-cutover proxy'
    example = '''
        nova-cutover proxy serve --config /etc/nova-cutover/proxy.conf \\
            --paste paste/neutron-proxy.ini --bind 0.0.0.0:9696 --workers 4
    '''

    def expected_errors(self) -> tuple[type[Exception], ...]:
        return (cfg.Error, settings_mod.SettingsError, OSError, yaml.YAMLError)

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        serve = super().get_parser(prog_name)
        serve.add_argument('--config', required=True, metavar='FILE',
                           help="the proxy's config file ([proxy], "
                                '[keystone_authtoken])')
        serve.add_argument('--paste', metavar='FILE',
                           help='the paste file (default: [proxy] '
                                'api_paste_config)')
        serve.add_argument('--bind', default='0.0.0.0:9696',
                           help='HOST:PORT (default %(default)s)')
        serve.add_argument('--workers', type=int, default=2,
                           help='gunicorn worker processes; each holds the '
                                'whole view (default %(default)s)')
        return serve

    def take_action(self, args: argparse.Namespace) -> int:
        _check(args)
        return _serve(args)


def _check(args: argparse.Namespace) -> None:
    conf = cfg.ConfigOpts()
    proxy_conf.register_opts(conf)
    conf([], project='nova-cutover-proxy',
         default_config_files=[os.path.abspath(args.config)])
    settings = settings_mod.Settings.load(conf.proxy.settings)
    if not (conf.proxy.source_url or settings.source):
        raise settings_mod.SettingsError(
            'no nova database: [proxy] source_url or the settings\' source')


def _serve(args: argparse.Namespace) -> int:
    env = dict(os.environ, **{wsgi.CONFIG_ENV: os.path.abspath(args.config)})
    if args.paste:
        env[wsgi.PASTE_ENV] = os.path.abspath(args.paste)
    argv = [sys.executable, '-m', 'gunicorn', '--bind', args.bind,
            '--workers', str(args.workers), '--no-control-socket',
            'freeze.proxy.wsgi:application()']
    sys.stdout.flush()
    os.execve(sys.executable, argv, env)

