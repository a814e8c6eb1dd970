"""Session fixtures: one real Keystone + nova-api (and, when asked, one
Neutron) for the whole e2e run.

Starting the cloud costs ~20 s, so it is started once per session; override
``paste_ini`` or ``nova_conf`` in a conftest to run the suite against another
pipeline or configuration.
"""

from pathlib import Path

import pytest

from freeze.translate.neutron import Neutron
from tools.localcloud import LocalCloud
from tools.localneutron import LocalNeutron

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='session')
def freeze_state_path(tmp_path_factory) -> Path:
    """The state document the cloud's nova-api watches; absent at start."""
    return tmp_path_factory.mktemp('freeze') / 'state.json'


@pytest.fixture(scope='session')
def paste_ini() -> Path:
    return REPO / 'paste' / 'api-paste.ini'


@pytest.fixture(scope='session')
def nova_conf(freeze_state_path) -> dict:
    return {'freeze': {'state_url': freeze_state_path.as_uri()}}


@pytest.fixture(scope='session')
def cloud(tmp_path_factory, paste_ini, nova_conf):
    with LocalCloud(str(tmp_path_factory.mktemp('cloud')), str(paste_ini),
                    nova_conf) as started:
        yield started


@pytest.fixture(scope='session')
def neutron_server(tmp_path_factory):
    """A real Neutron 29 (noauth, sqlite), shared by the translation and
    proxy tests: each test works in projects of its own."""
    with LocalNeutron(str(tmp_path_factory.mktemp('neutron'))) as server:
        yield server


@pytest.fixture(scope='session')
def neutron(neutron_server):
    return Neutron.noauth(neutron_server.url)
