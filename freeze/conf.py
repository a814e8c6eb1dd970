"""The ``[freeze]`` options, shared by the middleware and freeze-ctl.

Registered on nova's own configuration (so they live in nova.conf) and listed
through the ``oslo.config.opts`` entry point, so that
``oslo-config-generator --namespace nova_freeze`` prints a sample.
"""

from __future__ import annotations

import dataclasses

from oslo_config import cfg
from oslo_policy import opts as oslo_policy_opts

from freeze import decision

GROUP = 'freeze'
DEFAULT_STATE_URL = 'file:///var/lib/nova-freeze/state.json'

OPTS = [
    cfg.StrOpt('state_url', default=DEFAULT_STATE_URL,
               help='Where the freeze state document lives: '
                    'file:///PATH (the embedded default), or etcd: '
                    'etcd3+http(s)://HOST:PORT[,HOST:PORT...][/PREFIX]'
                    '[?ca_cert=PATH&cert_cert=PATH&cert_key=PATH].'),
    cfg.ListOpt('migration_roles', default=['migration'],
                help='Roles that may use the whole API during a freeze.'),
    cfg.ListOpt('reader_roles', default=['admin'],
                help='Roles that keep GET and HEAD during a full freeze.'),
    cfg.StrOpt('fail_mode', default='closed', choices=['closed', 'open'],
               help='What to enforce when the state cannot be read: closed '
                    'behaves as a full freeze; open keeps the last state '
                    'read, or thawed if there was none.'),
    cfg.ListOpt('allow',
                default=['service:POST:/os-server-external-events'],
                help='Calls allowed in every mode, as ROLE:METHOD:REGEX '
                     '(regex over the normalised path; * for any role or '
                     'method). The default lets Neutron deliver '
                     'network-vif-plugged events, without which boots and '
                     'migrations hang.'),
    cfg.IntOpt('retry_after', default=300, min=1,
               help='Seconds in Retry-After when the freeze has no end '
                    'time.'),
    cfg.FloatOpt('check_interval', default=0.5, min=0.0,
                 help='Seconds between checks for a changed state document '
                      'in each worker (file backend; etcd pushes changes '
                      'through a watch and is re-read every '
                      'heartbeat_interval).'),
    cfg.FloatOpt('stale_after', default=10.0, min=0.0,
                 help='Seconds after the last good read of the state during '
                      'which a worker that cannot read it (etcd unreachable) '
                      'keeps enforcing the last state read; then fail_mode '
                      'applies. Keep it at most ack_expiry, so that a worker '
                      'cut off from the state applies fail_mode before '
                      'freeze-ctl stops waiting for it.'),
    cfg.FloatOpt('heartbeat_interval', default=2.0, min=0.1,
                 help='Seconds between heartbeats of each worker\'s '
                      'acknowledgement (and re-reads of an etcd state).'),
    cfg.FloatOpt('ack_expiry', default=10.0, min=1.0,
                 help='Seconds without a heartbeat after which a worker\'s '
                      'acknowledgement expires and freeze-ctl stops waiting '
                      'for it (an etcd lease of this many seconds, rounded '
                      'up). More than heartbeat_interval.'),
    cfg.StrOpt('policy_dir',
               help='One of nova\'s [oslo_policy] policy_dirs: when set, '
                    'freeze-ctl on/off/status also write, remove and check '
                    'the freeze as an oslo.policy overlay there (as with '
                    '--policy-dir). Unset: no overlay.'),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS, group=GROUP)


def register_policy_opts(conf: cfg.ConfigOpts) -> None:
    """nova.conf's ``[oslo_policy]`` options: where nova's policy lives, for
    the overlay (oslo.policy's option list, without its policy engine)."""
    for group, opts in oslo_policy_opts.list_opts():
        conf.register_opts(opts, group=group)


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    return [(GROUP, OPTS)]


@dataclasses.dataclass(frozen=True)
class Settings:
    """The resolved options of one middleware or command."""

    state_url: str
    rules: decision.Rules
    fail_mode: str
    retry_after: int
    check_interval: float
    stale_after: float = 10.0
    heartbeat_interval: float = 2.0
    ack_expiry: float = 10.0
    policy_dir: str = None


def load_settings(conf: cfg.ConfigOpts,
                  overrides: dict[str, str] | None = None) -> Settings:
    """Resolve ``[freeze]`` from ``conf``, with paste-local ``overrides``.

    Overrides are strings, as paste gives them, converted with each option's
    own type so that bad values fail at start-up with oslo.config's message.
    """
    register_opts(conf)
    overrides = overrides or {}
    opts = {opt.dest: opt for opt in OPTS}
    values = {}
    for name, opt in opts.items():
        if name in overrides:
            try:
                value = opt.type(overrides[name])
            except ValueError as exc:
                raise ValueError(f'[filter:freeze] {name}: {exc}')
        else:
            value = getattr(conf[GROUP], name)
        values[name] = value
    if values['ack_expiry'] <= values['heartbeat_interval']:
        raise ValueError(f"[freeze] ack_expiry ({values['ack_expiry']}) must "
                         'be more than heartbeat_interval '
                         f"({values['heartbeat_interval']}), or live workers "
                         'expire')
    return Settings(
        state_url=values['state_url'],
        rules=decision.Rules(
            migration_roles=frozenset(r.lower() for r in values['migration_roles']),
            reader_roles=frozenset(r.lower() for r in values['reader_roles']),
            allow=tuple(decision.AllowRule.parse(a) for a in values['allow'])),
        fail_mode=values['fail_mode'],
        retry_after=values['retry_after'],
        check_interval=values['check_interval'],
        stale_after=values['stale_after'],
        heartbeat_interval=values['heartbeat_interval'],
        ack_expiry=values['ack_expiry'],
        policy_dir=values['policy_dir'])
