"""nova-cutover as an operator types it: formatters and columns, the
version, completion, examples in help, the deprecated translate names."""

import json
import os
import subprocess
import sys
from importlib import metadata

import pytest
import yaml

from freeze.cli import nova_cutover

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
PLAN = {
    'name': 'tiny',
    'cells': {'c1': ['a', 'b']},
    'stages': [
        {'name': 'proxy', 'commands': [{'name': 'up', 'run': 'echo up',
                                        'revert': 'echo down'}]},
        {'name': 'hosts', 'steps': [{'name': 'switch',
                                     'run': 'echo {host}'}]},
    ],
}


def cutover(*argv, cwd=None):
    return subprocess.run(
        [sys.executable, '-m', 'freeze.cli.nova_cutover', *map(str, argv)],
        capture_output=True, text=True, cwd=cwd,
        env=dict({k: v for k, v in os.environ.items()
                  if not k.startswith('NOVA_CUTOVER')}, PYTHONPATH=ROOT))


@pytest.fixture(scope='module')
def ran(tmp_path_factory):
    """A journal where the tiny plan has run to its end."""
    work = tmp_path_factory.mktemp('cutover')
    plan = work / 'plan.yaml'
    plan.write_text(yaml.safe_dump(PLAN))
    journal = f"sqlite:///{work / 'journal.sqlite'}"
    done = cutover('--journal', journal, 'run', plan, cwd=work)
    assert done.returncode == 0, done.stderr
    return lambda *argv: cutover('--journal', journal, *argv, cwd=work)


def test_status_hosts_and_log_with_columns(ran):
    status = ran('status', '-f', 'value', '-c', 'stage', '-c', 'status')
    assert status.stdout == 'proxy done\nhosts done\n'
    table = ran('status').stdout
    assert table.splitlines()[-1] == 'freeze: no stage of the plan freezes'
    assert [r['stage'] for r in json.loads(ran('status', '-f', 'json')
                                           .stdout)] == ['proxy', 'hosts']
    assert ran('hosts', '-f', 'csv', '-c', 'host', '-c', 'status').stdout == (
        '"host","status"\n"a","done"\n"b","done"\n')
    log = ran('log', '--host', 'b').stdout
    assert '  $ echo b\n  | b\n' in log
    rows = yaml.safe_load(ran('log', '-f', 'yaml', '-c', 'unit', '-c',
                              'step').stdout)
    assert {'unit': '-', 'step': 'up'} in rows
    preview = ran('rollback', '--all', '--dry-run', '-f', 'value', '-c',
                  'stage', '-c', 'revert')
    assert preview.returncode == 0, preview.stderr
    assert 'proxy echo down' in preview.stdout
    assert ran('freeze').stderr == (
        'nova-cutover: error: no stage of the plan freezes\n')


def test_usage_errors_are_2_and_one_line(ran, tmp_path):
    bad = ran('status', '-c', 'nope')
    assert bad.returncode == 2 and bad.stderr.startswith(
        'nova-cutover: error: no column nope: the columns are stage, ')
    both = ran('rollback', '--all', '--stage', 'proxy')
    assert (both.returncode, both.stderr) == (
        2, 'nova-cutover: error: give --all or --stage, not both\n')
    alone = cutover('translate')
    assert alone.returncode == 2 and len(alone.stderr.splitlines()) == 1
    assert "did you mean 'translate apply'" in alone.stderr


def test_version_help_and_completion():
    version = cutover('--version')
    assert version.stdout == f'nova-cutover {metadata.version("nova-freeze")}\n'
    for name in nova_cutover.COMMANDS:
        shown = cutover(name, '--help')
        assert shown.returncode == 0 and '\nExample:\n  nova-cutover ' in (
            shown.stdout), name
    listed = cutover('--help').stdout
    assert '  translate diff ' in listed and 'translate plan' not in listed
    group = cutover('translate', '--help').stdout.splitlines()
    assert [line.split()[1] for line in group] == [
        'apply', 'diff', 'restore', 'rollback', 'verify']
    completion = cutover('complete').stdout
    assert 'complete -F _nova_cutover nova-cutover' in completion
    assert "cmds_translate_diff='-h --help --settings" in completion


def test_the_deprecated_translate_names_still_work(tmp_path):
    missing = tmp_path / 'nowhere.yaml'
    old = cutover('translate', 'plan', '--config', missing)
    assert old.returncode == 1
    assert old.stderr.splitlines() == [
        "nova-cutover: warning: 'translate plan' is deprecated, use "
        "'translate diff'",
        'nova-cutover translate plan: warning: --config is deprecated, use '
        '--settings',
        old.stderr.splitlines()[-1]]
    new = cutover('translate', 'diff', '--settings', missing)
    assert new.stderr == old.stderr.splitlines()[-1] + '\n'
    assert str(missing) in new.stderr
    need = cutover('translate', 'diff')
    assert (need.returncode, need.stderr) == (
        2, 'nova-cutover translate: error: --settings FILE is required\n')
