"""What the shipped package registers, and what only the tests do."""

import os
import subprocess
import sys
import tomllib

from tools import localneutron
from tools.localcloud import REPO


def test_the_test_only_ml2_driver_is_not_shipped():
    with open(os.path.join(REPO, 'pyproject.toml'), 'rb') as f:
        project = tomllib.load(f)['project']
    groups = project['entry-points']
    assert 'neutron.ml2.mechanism_drivers' not in groups
    assert all('bind_all' not in str(v) for v in groups.values())


def test_localneutron_registers_it_as_ml2_loads_drivers(tmp_path):
    """stevedore, as ML2's MechanismManager calls it, finds the driver on
    the path localneutron gives Neutron, from its own distribution."""
    root = localneutron.register_bind_all(str(tmp_path))
    code = (
        'import importlib.metadata, stevedore\n'
        'm = stevedore.NamedExtensionManager(\n'
        '    "neutron.ml2.mechanism_drivers", ["nova_freeze_bind_all"],\n'
        '    name_order=True)\n'
        'print([e.plugin.__name__ for e in m])\n'
        'print([e.dist.name for e in importlib.metadata.entry_points(\n'
        '    group="neutron.ml2.mechanism_drivers",\n'
        '    name="nova_freeze_bind_all")])\n')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [REPO, root, os.environ.get('PYTHONPATH', '')]))
    result = subprocess.run([sys.executable, '-c', code], env=env,
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    plugins, dists = result.stdout.splitlines()
    assert plugins == "['BindAllDriver']"
    assert dists == "['nova-freeze-test-drivers']"
