"""Both CLIs as operators meet them: one line per error, no password, one
exit-code scheme (freeze.cli.exits), --debug for the traceback."""

import importlib.util
import os
import subprocess
import sys

import pytest
import yaml

from freeze.redact import redact
from tools.novanet import generate

SECRET = 's3cret-pw'


def cutover(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, '-m', 'freeze.cli.nova_cutover',
                           *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env)


@pytest.fixture(scope='module')
def without_pymysql(tmp_path_factory):
    """An environment where PyMySQL is not installed (``make test``
    installs it): its import fails as Python fails a missing module."""
    shadow = tmp_path_factory.mktemp('no-pymysql') / 'pymysql'
    shadow.mkdir()
    (shadow / '__init__.py').write_text(
        "raise ModuleNotFoundError(\"No module named 'pymysql'\", "
        "name='pymysql')\n")
    path = os.pathsep.join(filter(None, (str(shadow.parent),
                                         os.environ.get('PYTHONPATH'))))
    return dict(os.environ, PYTHONPATH=path)


def one_line(result, code=1):
    assert result.returncode == code, result
    assert result.stderr.count('\n') == 1, result.stderr
    assert 'Traceback' not in result.stderr and SECRET not in result.stderr
    return result.stderr


@pytest.mark.parametrize('url, message', [
    (f'mysql+pymysql://nova:{SECRET}@127.0.0.1:9/x',
     "the database driver pymysql is not installed: pip install "
     "'nova-freeze[mysql]'"),
    (f'mysql://nova:{SECRET}@127.0.0.1:9/x',
     'the database driver MySQLdb is not installed: pip install '
     'mysqlclient, or use a mysql+pymysql:// URL'),
    pytest.param(f'postgresql://nova:{SECRET}@127.0.0.1:9/x',
                 "the database driver psycopg is not installed: pip install "
                 "'nova-freeze[postgresql]'", marks=pytest.mark.skipif(
                     importlib.util.find_spec('psycopg') is not None,
                     reason='psycopg is installed')),
    (f'postgresql+psycopg2://nova:{SECRET}@127.0.0.1:9/x',
     'journal postgresql+psycopg2://nova:***@127.0.0.1:9/x: connection '),
    (f'nonsense://nova:{SECRET}@h/x',
     "bad journal URL 'nonsense://nova:***@h/x'"),
])
def test_journal_urls_are_masked_and_drivers_named(url, message,
                                                   without_pymysql):
    err = one_line(cutover('--journal', url, 'status', env=without_pymysql))
    assert err.startswith('nova-cutover: error: ') and message in err


@pytest.fixture(scope='module')
def settings(tmp_path_factory):
    work = tmp_path_factory.mktemp('translate')
    generated = generate.generate(f"sqlite:///{work / 'nova.sqlite'}",
                                  ports=5)
    path = work / 'translate.yaml'
    path.write_text(yaml.safe_dump(dict(
        generate.settings(generated, 'admin'),
        neutron_url='http://127.0.0.1:9')))
    return path


def test_translate_failures_are_one_line_and_not_usage(settings, tmp_path,
                                                      without_pymysql):
    bad = tmp_path / 'bad.yaml'
    bad.write_text('source: [unclosed\n')
    err = one_line(cutover('translate', 'diff', '--settings', bad))
    assert err.startswith('nova-cutover translate: error: while parsing')
    err = one_line(cutover('translate', 'diff', '--settings', settings,
                           '--source',
                           f'mysql+pymysql://nova:{SECRET}@db/nova',
                           env=without_pymysql))
    assert "pip install 'nova-freeze[mysql]'" in err
    # Neutron unreachable: keystoneauth retries (its warnings stay quiet),
    # then one line saying where and why.
    unreachable = cutover('translate', 'apply', '--settings', settings,
                          '--no-progress')
    assert unreachable.returncode == 1 and SECRET not in unreachable.stderr
    assert unreachable.stderr.splitlines() == [
        'nova-cutover translate: error: cannot reach http://127.0.0.1:9/v2.0/'
        'security-groups (after retries): [Errno 111] Connection refused']


def test_tracebacks_and_log_records_are_masked_too():
    debug = cutover('--debug', '--journal',
                    f'postgresql+psycopg2://nova:{SECRET}@127.0.0.1:9/x',
                    'status')
    assert debug.returncode == 1 and 'Traceback' in debug.stderr
    assert SECRET not in debug.stderr and 'nova:***@' in debug.stderr
    logged = subprocess.run([sys.executable, '-c', (
        'import logging\nfrom freeze.cli import exits\n'
        'exits.configure_logging(False)\nlogging.getLogger("x").error("to '
        f'%s", "mysql://u:{SECRET}@h/db")\n')],
        capture_output=True, text=True)
    assert logged.stderr == 'ERROR x: to mysql://u:***@h/db\n'


def test_usage_is_2_and_debug_shows_the_traceback(tmp_path):
    assert cutover('run', 'plan.yaml', '--hosts', 'a').returncode == 2
    assert cutover('no-such-command').returncode == 2
    missing = tmp_path / 'no-journal.sqlite'
    plain = one_line(cutover('--journal', f'sqlite:///{missing}',
                             'status'))
    assert 'no journal at' in plain
    debug = cutover('--debug', '--journal', f'sqlite:///{missing}',
                    'status')
    assert debug.returncode == 1 and 'Traceback' in debug.stderr


@pytest.mark.parametrize('text, shown', [
    ('postgresql+psycopg2://nova:p@ss/w@db:5432/nova',
     'postgresql+psycopg2://nova:***@db:5432/nova'),
    ("bad URL 'mysql+pymysql://nova:pw@db/nova?charset=utf8': x",
     "bad URL 'mysql+pymysql://nova:***@db/nova?charset=utf8': x"),
    ('etcd3+https://root:pw@etcd1:2379,etcd2:2379/p',
     'etcd3+https://root:***@etcd1:2379,etcd2:2379/p'),
    ('http://h:9696/v2.0?password=pw&x=1', 'http://h:9696/v2.0?password=***'),
    ('sqlite:////var/lib/nova-cutover/journal.sqlite',
     'sqlite:////var/lib/nova-cutover/journal.sqlite'),
    ('file:///var/lib/nova-freeze/state.json: no such file',
     'file:///var/lib/nova-freeze/state.json: no such file'),
])
def test_redact(text, shown):
    assert redact(text).startswith(shown)
    assert 'pw' not in redact(text) and 'p@ss' not in redact(text)


def test_the_default_journal_is_a_fixed_path_not_the_cwd(tmp_path):
    from freeze.cutover import paths
    default = paths.DEFAULT_URL[len('sqlite:///'):]
    if os.path.exists(os.path.dirname(default)):
        pytest.skip('this machine has /var/lib/nova-cutover')
    env = {k: v for k, v in os.environ.items()
           if k != 'NOVA_CUTOVER_JOURNAL'}
    plan = tmp_path / 'plan.yaml'
    plan.write_text(yaml.safe_dump({
        'name': 'p', 'cells': {'c1': ['a']},
        'stages': [{'name': 'proxy', 'commands': [
            {'name': 'up', 'run': 'true'}]}]}))
    status = subprocess.run(
        [sys.executable, '-m', 'freeze.cli.nova_cutover', 'status'],
        capture_output=True, text=True, cwd=tmp_path, env=env)
    assert one_line(status).endswith(
        'no journal at /var/lib/nova-cutover/journal.sqlite (nothing has '
        'run yet, or give --journal)\n')
    run = subprocess.run(
        [sys.executable, '-m', 'freeze.cli.nova_cutover', 'run', str(plan)],
        capture_output=True, text=True, cwd=tmp_path, env=env)
    assert one_line(run).endswith(
        'the journal directory /var/lib/nova-cutover does not exist: create '
        'it, or give --journal\n')
    assert os.listdir(tmp_path) == ['plan.yaml']
