"""``nova-cutover proxy serve``: the read-only Neutron API under gunicorn.

The configuration is checked here (so a typo is one line and exit 1, not a
worker crash loop), then this process becomes gunicorn: signals reach it
directly, and each worker loads the paste pipeline (freeze.proxy.wsgi).
"""

from __future__ import annotations

import os
import sys

import yaml

from freeze.cli import exits
from freeze.cli import lazy
from freeze.redact import redact

# oslo.config, the proxy and the translation: when the proxy is served, not
# for nova-cutover's other commands or --help.
cfg = lazy.module('oslo_config.cfg')
proxy_conf = lazy.module('freeze.proxy.conf')
wsgi = lazy.module('freeze.proxy.wsgi')
settings_mod = lazy.module('freeze.translate.settings')


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        'proxy', help='a read-only Neutron API over nova-network')
    actions = parser.add_subparsers(dest='proxy_action', required=True)
    serve = actions.add_parser('serve', help='serve it (gunicorn)')
    serve.add_argument('--config', required=True,
                       help='the proxy\'s config file ([proxy], '
                            '[keystone_authtoken])')
    serve.add_argument('--paste', help='the paste file (default: [proxy] '
                                       'api_paste_config)')
    serve.add_argument('--bind', default='0.0.0.0:9696',
                       help='HOST:PORT (default %(default)s)')
    serve.add_argument('--workers', type=int, default=2,
                       help='gunicorn worker processes; each holds the '
                            'whole view (default %(default)s)')
    serve.set_defaults(func=_serve)


def _check(args) -> None:
    conf = cfg.ConfigOpts()
    proxy_conf.register_opts(conf)
    conf([], project='nova-cutover-proxy',
         default_config_files=[os.path.abspath(args.config)])
    settings = settings_mod.Settings.load(conf.proxy.settings)
    if not (conf.proxy.source_url or settings.source):
        raise settings_mod.SettingsError(
            'no nova database: [proxy] source_url or the settings\' source')


def _serve(args) -> int:
    try:
        _check(args)
    except (cfg.Error, settings_mod.SettingsError, OSError,
            yaml.YAMLError) as exc:
        print(f'nova-cutover proxy: error: {redact(exits.one_line(exc))}',
              file=sys.stderr)
        return exits.FAILED
    env = dict(os.environ, **{wsgi.CONFIG_ENV: os.path.abspath(args.config)})
    if args.paste:
        env[wsgi.PASTE_ENV] = os.path.abspath(args.paste)
    argv = [sys.executable, '-m', 'gunicorn', '--bind', args.bind,
            '--workers', str(args.workers), '--no-control-socket',
            'freeze.proxy.wsgi:application()']
    sys.stdout.flush()
    os.execve(sys.executable, argv, env)

