"""The ``[proxy]`` options of the read-only Neutron API (its own config file).

Listed through ``list_opts`` for the ``oslo.config.opts`` entry point
(``oslo-config-generator --namespace nova_freeze_proxy``). Identity is
keystonemiddleware's own ``[keystone_authtoken]`` section of the same file.
"""

from __future__ import annotations

from oslo_config import cfg

GROUP = 'proxy'

OPTS = [
    cfg.StrOpt('settings', required=True, deprecated_name='plan',
               help='The translation settings (YAML, as for nova-cutover '
                    'translate): network manager, physnets, floating pools, '
                    'admin project. The view is what the translation would '
                    'create in Neutron.'),
    cfg.StrOpt('source_url', secret=True,
               help='SQLAlchemy URL of nova\'s database, read only. Default: '
                    'the settings\' "source".'),
    cfg.FloatOpt('poll_interval', default=2.0, min=0.1,
                 help='Seconds between checks of the database for changes '
                      '(a few aggregate queries); a change rebuilds the '
                      'view.'),
    cfg.FloatOpt('full_refresh_interval', default=300.0, min=1.0,
                 help='Seconds after which the view is rebuilt even without '
                      'a visible change (writes that bypassed nova\'s '
                      'updated_at).'),
    cfg.StrOpt('auth_strategy', default='keystone',
               choices=['keystone', 'noauth'],
               help='The paste pipeline to use: keystone (auth_token) or '
                    'noauth (tests only).'),
    cfg.ListOpt('all_projects_roles', default=['admin', 'service'],
                help='Roles that see every project\'s resources (nova\'s '
                     'service user needs one); other callers see their '
                     'project\'s, and shared and external networks, as with '
                     'Neutron\'s default policy.'),
    cfg.IntOpt('retry_after', default=300, min=1,
               help='Seconds in Retry-After of the 503 answered to writes.'),
    cfg.StrOpt('api_paste_config', default='neutron-proxy.ini',
               help='The paste file, looked up in the config directories '
                    'unless absolute.'),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS, group=GROUP)


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    return [(GROUP, OPTS)]
