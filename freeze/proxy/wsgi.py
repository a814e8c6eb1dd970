"""The WSGI entry point: configuration, logging, the paste pipeline.

gunicorn calls ``freeze.proxy.wsgi:application()`` in each worker (after the
fork, so each worker has its own loader thread); the config file comes from
``NOVA_CUTOVER_PROXY_CONFIG`` and, when set, the paste file from
``NOVA_CUTOVER_PROXY_PASTE`` (else ``[proxy] api_paste_config``).
"""

from __future__ import annotations

import os
from typing import Any

from oslo_config import cfg
from oslo_log import log as logging

from freeze.proxy import conf as proxy_conf
from paste import deploy

CONFIG_ENV = 'NOVA_CUTOVER_PROXY_CONFIG'
PASTE_ENV = 'NOVA_CUTOVER_PROXY_PASTE'


def load(config_file: str, paste_file: str | None = None) -> Any:
    """The paste app ``neutron`` of the configured pipeline."""
    proxy_conf.register_opts(cfg.CONF)
    logging.register_options(cfg.CONF)
    cfg.CONF([], project='nova-cutover-proxy',
             default_config_files=[config_file])
    logging.setup(cfg.CONF, 'nova-cutover-proxy')
    paste_file = paste_file or cfg.CONF.find_file(
        cfg.CONF.proxy.api_paste_config)
    if not paste_file:
        raise cfg.ConfigFilesNotFoundError([cfg.CONF.proxy.api_paste_config])
    return deploy.loadapp(f'config:{os.path.abspath(paste_file)}',
                          name='neutron')


def application() -> Any:
    """gunicorn factory (``freeze.proxy.wsgi:application()``)."""
    return load(os.environ[CONFIG_ENV], os.environ.get(PASTE_ENV))
