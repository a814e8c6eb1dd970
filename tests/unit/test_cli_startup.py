"""Start-up: what ``--help`` and ``status`` import, checked by construction.

Each command runs as an operator runs it, in a fresh interpreter, which
records ``sys.modules`` as it exits; the heavy libraries (openstacksdk,
Keystone's clients, SQLAlchemy, Neutron, the translation and proxy code)
must not be among them.  tools/bench_startup.py measures the time.
"""

import json
import os
import subprocess
import sys

import pytest

from freeze.cutover import journal

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

# Run the CLI module as its console script does, then list what is loaded.
RECORD = '''
import atexit, json, runpy, sys
out, module = sys.argv[1], sys.argv[2]
atexit.register(lambda: json.dump(sorted(sys.modules), open(out, 'w')))
sys.argv = [module] + sys.argv[3:]
runpy.run_module(module, run_name='__main__')
'''

CREDENTIALS = ('openstack', 'keystoneclient', 'keystoneauth1')
FREEZE_CTL_HEAVY = CREDENTIALS + ('neutron', 'sqlalchemy', 'paste.deploy',
                                  'freeze.keystone', 'freeze.quiesce')
NOVA_CUTOVER_HEAVY = CREDENTIALS + ('neutron', 'freeze.translate',
                                    'freeze.novanet', 'freeze.proxy')


def loaded(tmp_path, module, *argv):
    out = tmp_path / 'modules.json'
    env = dict({k: v for k, v in os.environ.items()
                if not k.startswith(('OS_', 'NOVA_FREEZE', 'NOVA_CUTOVER'))},
               PYTHONPATH=ROOT)
    result = subprocess.run(
        [sys.executable, '-c', RECORD, str(out), module, *argv],
        capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return set(json.loads(out.read_text()))


def among(modules, packages):
    return sorted(m for m in modules
                  if any(m == p or m.startswith(p + '.') for p in packages))


def state_url(tmp_path):
    return f"file://{tmp_path / 'state.json'}"


# --help reads no nova.conf: not even oslo.config is needed.
HELP_HEAVY = FREEZE_CTL_HEAVY + ('oslo_config', 'oslo_policy', 'oslo_utils')


@pytest.mark.parametrize('argv,heavy', [
    (['--help'], HELP_HEAVY),
    (['on', '--help'], HELP_HEAVY),
    (['--state', '{state}', 'status'], FREEZE_CTL_HEAVY),
    (['--state', '{state}', 'status', '-f', 'json'], FREEZE_CTL_HEAVY),
    (['--state', '{state}', 'history'], FREEZE_CTL_HEAVY),
], ids=['help', 'on-help', 'status', 'status-json', 'history'])
def test_freeze_ctl_starts_without_the_heavy_libraries(tmp_path, argv,
                                                       heavy):
    argv = [a.format(state=state_url(tmp_path)) for a in argv]
    modules = loaded(tmp_path, 'freeze.cli.freeze_ctl', *argv)
    assert among(modules, heavy) == []


def test_an_os_option_still_brings_openstacksdk(tmp_path):
    """The check above sees an import when there is one: ``--os-*`` on the
    command line loads openstacksdk to know its options."""
    modules = loaded(tmp_path, 'freeze.cli.freeze_ctl', '--os-cloud', 'x',
                     '--state', state_url(tmp_path), 'status')
    assert 'openstack.config' in modules


@pytest.mark.parametrize('argv,heavy', [
    (['--help'], NOVA_CUTOVER_HEAVY + ('sqlalchemy',)),
    (['translate', '--help'], NOVA_CUTOVER_HEAVY + ('sqlalchemy',)),
    (['proxy', 'serve', '--help'], NOVA_CUTOVER_HEAVY + ('sqlalchemy',)),
    (['--journal', '{journal}', 'status'], NOVA_CUTOVER_HEAVY),
], ids=['help', 'translate-help', 'proxy-help', 'status'])
def test_nova_cutover_starts_without_the_translation(tmp_path, argv, heavy):
    """--help without the journal's SQLAlchemy too; status needs it."""
    url = f"sqlite:///{tmp_path / 'journal.sqlite'}"
    journal.Journal(url, create=True)
    modules = loaded(tmp_path, 'freeze.cli.nova_cutover',
                     *[a.format(journal=url) for a in argv])
    assert among(modules, heavy) == []


def freeze_ctl(tmp_path, *argv):
    return subprocess.run(
        [sys.executable, '-m', 'freeze.cli.freeze_ctl', *argv],
        capture_output=True, text=True, cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=ROOT))


def test_os_options_are_listed_when_one_is_given(tmp_path):
    """--help without them says where they are; with one, it lists them."""
    short = freeze_ctl(tmp_path, '--help')
    assert '--os-auth-url' not in short.stdout
    assert "'freeze-ctl --os-cloud CLOUD --help' lists" in ' '.join(
        short.stdout.split())
    full = freeze_ctl(tmp_path, '--os-cloud', 'nope', '--help')
    assert full.returncode == 0 and '--os-auth-url' in full.stdout


def test_openstacksdk_options_without_os_prefix_still_parse(tmp_path):
    """--insecure and --timeout (openstacksdk's too) make the lighter
    parser refuse the line; it is parsed again with them."""
    result = freeze_ctl(tmp_path, '--insecure', '--timeout', '5', '--state',
                        state_url(tmp_path), 'status', '-f', 'json')
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)['frozen'] is False
    typo = freeze_ctl(tmp_path, '--state', state_url(tmp_path), 'statsu')
    assert typo.returncode == 2
    assert "invalid choice: 'statsu'" in typo.stderr
    assert typo.stderr.count('error:') == 1
