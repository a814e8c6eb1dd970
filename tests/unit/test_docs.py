"""``make docs``: the documentation builds without a warning, and what it
generates from the code is there (every nova-cutover command, every
option, the release notes).  The example files it shows load."""

import os
import subprocess
import sys

import pytest

from freeze.cli import nova_cutover
from freeze.conf import OPTS as FREEZE_OPTS
from freeze.cutover import plan as plan_mod
from freeze.proxy.conf import OPTS as PROXY_OPTS
from freeze.translate.settings import Settings

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
TOOLS = os.path.join(ROOT, 'tools')

@pytest.fixture(scope='module')
def built(tmp_path_factory, docs_tools):
    out = tmp_path_factory.mktemp('docs')
    # The venv as it is: make would reinstall it when pyproject.toml is
    # newer than its stamp.
    result = subprocess.run(
        ['make', '-o', '.venv/.installed', 'docs', f'PY={sys.executable}',
         f'DOCS_BUILD={out}'], cwd=ROOT, capture_output=True, text=True,
        env=dict(os.environ, PYTHONPATH=ROOT))
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'WARNING' not in result.stderr, result.stderr
    return lambda page: (out / page).read_text()


def test_the_cli_reference_has_every_command(built):
    page = built('cli/nova-cutover.html')
    for name in [*nova_cutover.COMMANDS, *nova_cutover.TRANSLATE_COMMANDS,
                 'proxy serve']:
        assert f'nova-cutover {name}' in page, name
    assert '--journal' in page and 'Example:' in page
    assert 'translate plan' not in page     # the deprecated name, unlisted


def test_the_configuration_reference_has_every_option(built):
    page = built('configuration/index.html')
    for opt in FREEZE_OPTS + PROXY_OPTS:
        assert opt.dest in page, opt.dest


def test_the_release_notes_are_in(built):
    page = built('releasenotes.html')
    assert 'Both CLIs are built on cliff' in page
    assert 'a <em>pass</em> a <em>run</em>' in page


def test_the_example_files_load():
    settings = Settings.load(os.path.join(TOOLS,
                                        'translate-settings.example.yaml'))
    assert settings.network_manager == 'FlatDHCP'
    assert settings.physnet('br100', None) == 'physnet1'
    with open(os.path.join(TOOLS, 'cutover-plan.example.yaml')) as f:
        plan = plan_mod.load(f.read())
    assert plan.stages and all('--config {' not in c.run
                               for s in plan.stages for c in s.commands
                               if 'nova-cutover translate' in c.run)


def test_the_readme_points_at_what_exists():
    """The front door's map of the documentation and its example lines."""
    with open(os.path.join(ROOT, 'README.md'), encoding='utf-8') as f:
        readme = f.read()
    for page in ('install.md', 'admin/freeze.md', 'admin/cutover.md',
                 'decision-table.md', 'configuration/', 'cli/',
                 'benchmarks.md'):
        assert f'`{page}`' in readme
        assert os.path.exists(os.path.join(ROOT, 'doc', 'source', page))
    dry_run = subprocess.run(
        [sys.executable, '-m', 'freeze.cli.nova_cutover', 'plan',
         'tools/cutover-plan.example.yaml'], cwd=ROOT, capture_output=True,
        text=True, env=dict(os.environ, PYTHONPATH=ROOT))
    assert 'nova-cutover plan tools/cutover-plan.example.yaml' in readme
    assert dry_run.returncode == 0 and dry_run.stdout.startswith(
        'plan region-one-neutron: '), dry_run.stderr
