"""Fixtures shared by unit and e2e tests: a real etcd, once per session."""

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'tools'))

from localetcd import LocalEtcd  # noqa: E402


@pytest.fixture(scope='session')
def etcd(tmp_path_factory):
    """A single-member etcd on loopback (Debian's etcd-server package)."""
    if shutil.which('etcd') is None:
        message = ('etcd is not installed (apt-get install etcd-server; '
                   '.ci/run does it)')
        if os.environ.get('CI'):
            pytest.fail(message)  # in CI a missing install step must show
        pytest.skip(message)
    with LocalEtcd(str(tmp_path_factory.mktemp('etcd'))) as server:
        yield server
