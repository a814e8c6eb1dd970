"""freeze-ctl against the file backend, run as operators run it."""

import datetime
import json
import os
import subprocess
import sys

import pytest
import yaml

from freeze.cli import freeze_ctl


def ctl(state_path, *args, env=None):
    command = [sys.executable, '-m', 'freeze.cli.freeze_ctl']
    if state_path is not None:
        command += ['--state', f'file://{state_path}']
    return subprocess.run(command + list(args), capture_output=True,
                          text=True, env=env)


def test_on_status_off_cycle(tmp_path):
    state = tmp_path / 'state.json'
    on = ctl(state, 'on', '--mode', 'writes', '--reason', 'db surgery',
             '--for', '1h30m', '-f', 'json')
    assert on.returncode == 0, on.stderr
    doc = json.loads(on.stdout)
    assert doc['frozen'] and doc['mode'] == 'writes' and doc['epoch'] == 1
    until = datetime.datetime.fromisoformat(doc['until'].replace('Z', '+00:00'))
    started = datetime.datetime.fromisoformat(
        doc['started_at'].replace('Z', '+00:00'))
    assert until - started == datetime.timedelta(hours=1, minutes=30)
    status = yaml.safe_load(ctl(state, 'status', '-f', 'yaml').stdout)
    assert status['in_force'] and status['mode'] == 'writes'
    table = ctl(state, 'status').stdout
    assert '| mode ' in table and 'writes' in table
    off = ctl(state, 'off', '-f', 'json')
    assert json.loads(off.stdout)['frozen'] is False
    again = ctl(state, 'off', '-f', 'json')
    assert again.returncode == 0 and 'nothing changed' in again.stderr
    assert json.loads(again.stdout)['epoch'] == 2
    history = json.loads(ctl(state, 'history', '-f', 'json').stdout)
    assert [h['epoch'] for h in history] == [1, 2]


def test_changing_mode_keeps_the_window_start(tmp_path):
    state = tmp_path / 'state.json'
    first = json.loads(ctl(state, 'on', '--mode', 'network', '--reason', 'a',
                           '-f', 'json').stdout)
    second = json.loads(ctl(state, 'on', '--mode', 'full', '--reason', 'a',
                            '-f', 'json').stdout)
    assert second['epoch'] == 2 and second['mode'] == 'full'
    assert second['started_at'] == first['started_at']
    same = json.loads(ctl(state, 'on', '--mode', 'full', '--reason', 'a',
                          '-f', 'json').stdout)
    assert same['epoch'] == 2


@pytest.mark.parametrize('args, message', [
    (['on', '--mode', 'full', '--reason', 'x', '--until', '2000-01-01'],
     'in the past'),
    (['on', '--mode', 'full', '--reason', 'x', '--auto-thaw'],
     '--auto-thaw needs'),
])
def test_refusals(tmp_path, args, message):
    result = ctl(tmp_path / 'state.json', *args)
    assert result.returncode == 2 and message in result.stderr
    assert result.stderr.count('\n') == 1
    assert not (tmp_path / 'state.json').exists()


@pytest.mark.parametrize('args', [
    ['on', '--reason', 'x'],
    ['on', '--mode', 'partial', '--reason', 'x'],
    ['on', '--mode', 'full', '--reason', 'x', '--for', 'soon'],
    ['on', '--mode', 'full', '--reason', 'x', '--until', 'tomorrow'],
    ['on', '--mode', 'full', '--reason', ' '],
    ['on', '--mode', 'full', '--reason', 'x', '--for', '0s'],
    ['history', '--limit', '0'],
    ['history', '--limit', '-3'],
    ['grant'],
])
def test_usage_errors(tmp_path, args):
    result = ctl(tmp_path / 'state.json', *args)
    assert result.returncode == 2


def test_own_usage_checks_have_their_own_messages(tmp_path):
    empty = ctl(tmp_path / 'state.json', 'on', '--mode', 'full', '--reason',
                '')
    assert empty.stderr == ('freeze-ctl: error: --reason must say why '
                            '(every blocked caller sees it)\n')
    zero = ctl(tmp_path / 'state.json', 'on', '--mode', 'full', '--reason',
               'x', '--for', '0s')
    assert 'in the past' not in zero.stderr and '--for 0s' in zero.stderr
    limit = ctl(tmp_path / 'state.json', 'history', '--limit', '0')
    assert "--limit: must be a whole number of 1 or more, not '0'" \
        in limit.stderr
    assert not (tmp_path / 'state.json').exists()


def test_an_unknown_os_cloud_does_not_stop_status(tmp_path):
    env = no_openstack_env(OS_CLOUD='nope')
    status = ctl(tmp_path / 'state.json', 'status', '-f', 'json', env=env)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)['frozen'] is False
    grant = ctl(tmp_path / 'state.json', 'on', '--mode', 'full', '--reason',
                'x', '--grant', 'alice:ops', env=env)
    assert grant.returncode == 1
    assert grant.stderr.count('\n') == 1 and 'nope' in grant.stderr
    assert not (tmp_path / 'state.json').exists()


def test_piped_into_head_is_not_an_error(tmp_path):
    state = tmp_path / 'state.json'
    for n in range(8):   # more than a pipe holds: the writer must block
        assert ctl(state, 'on', '--mode', 'full', '--reason',
                   f'{n}' * 20000).returncode == 0
    command = [sys.executable, '-m', 'freeze.cli.freeze_ctl', '--state',
               f'file://{state}', 'history']
    result = subprocess.run(f"{' '.join(command)} | head -1", shell=True,
                            capture_output=True, text=True,
                            executable='/bin/bash')
    assert result.stdout.startswith('+') and result.stderr == ''
    piped = subprocess.run(['bash', '-o', 'pipefail', '-c',
                            f"{' '.join(command)} | head -1 >/dev/null"],
                           capture_output=True, text=True)
    assert piped.returncode == 0 and piped.stderr == ''


def test_debug_shows_the_traceback(tmp_path):
    state = tmp_path / 'state.json'
    state.mkdir()
    plain = ctl(state, 'status')
    assert plain.returncode == 1 and 'Traceback' not in plain.stderr
    assert plain.stderr.count('\n') == 1
    debug = ctl(state, '--debug', 'status')
    assert debug.returncode == 1 and 'Traceback' in debug.stderr


def test_corrupt_state_needs_force(tmp_path):
    state = tmp_path / 'state.json'
    state.write_text('garbage')
    status = ctl(state, 'status')
    assert status.returncode == 1 and '--force' in status.stderr
    refused = ctl(state, 'off')
    assert refused.returncode == 1 and state.read_text() == 'garbage'
    forced = ctl(state, 'off', '--force', '-f', 'json')
    assert forced.returncode == 0, forced.stderr
    assert len(list(tmp_path.glob('state.json.corrupt-*'))) == 1


def test_the_state_file_keeps_its_identity(tmp_path):
    """A symlinked 0640 state owned by nova: on and off rewrite the target
    in its own directory and keep mode, owner and group."""
    real = tmp_path / 'real' / 'state.json'
    real.parent.mkdir()
    assert ctl(real, 'on', '--mode', 'full', '--reason', 'x').returncode == 0
    link = tmp_path / 'state.json'
    link.symlink_to(real)
    real.chmod(0o640)
    os.chown(real, 65534, 65534)
    for args in (['on', '--mode', 'writes', '--reason', 'y'], ['off']):
        result = ctl(link, *args)
        assert result.returncode == 0, result.stderr
        assert link.is_symlink() and os.readlink(link) == str(real)
        st = real.stat()
        assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (
            0o640, 65534, 65534)
    assert json.loads(real.read_text())['frozen'] is False


def test_history_shows_what_changed(tmp_path):
    state = tmp_path / 'state.json'
    for args in (['on', '--mode', 'full', '--reason', 'cut'],
                 ['on', '--mode', 'writes', '--reason', 'db surgery',
                  '--until', '2099-01-01T00:00:00Z', '--auto-thaw'],
                 ['on', '--mode', 'writes', '--reason', 'db surgery',
                  '--no-auto-thaw'],
                 ['off']):
        assert ctl(state, *args).returncode == 0
    rows = json.loads(ctl(state, 'history', '-f', 'json').stdout)
    assert rows[1]['changes'] == {
        'mode': ['full', 'writes'], 'reason': ['cut', 'db surgery'],
        'until': [None, '2099-01-01T00:00:00Z'], 'auto_thaw': [False, True]}
    assert rows[2]['changes'] == {'auto_thaw': [True, False]}
    assert rows[3]['changes'] == {
        'frozen': [True, False], 'mode': ['writes', None],
        'reason': ['db surgery', ''], 'until': ['2099-01-01T00:00:00Z', None]}
    table = ctl(state, 'history', '--limit', '3').stdout.replace('\n', '')
    assert ("mode full -> writes; reason cut -> 'db surgery'; until none -> "
            "2099-01-01T00:00:00Z; auto_thaw false -> true") in table
    epochs = ctl(state, 'history', '--limit', '3', '-f', 'value', '-c',
                 'epoch').stdout.split()
    assert epochs == ['2', '3', '4']


def test_on_keeps_the_windows_end_unless_told(tmp_path):
    state = tmp_path / 'state.json'
    ctl(state, 'on', '--mode', 'full', '--reason', 'x', '--for', '2h',
        '--auto-thaw')
    first = json.loads(state.read_text())
    kept = ctl(state, 'on', '--mode', 'network', '--reason', 'y', '-f',
               'json')
    assert kept.returncode == 0, kept.stderr
    doc = json.loads(kept.stdout)
    assert (doc['until'], doc['auto_thaw']) == (first['until'], True)
    dropped = ctl(state, 'on', '--mode', 'network', '--reason', 'y',
                  '--no-until', '-f', 'json')
    assert dropped.returncode == 0, dropped.stderr
    assert 'is dropped (--no-until)' in dropped.stderr
    assert 'and auto-thaw' in dropped.stderr
    doc = json.loads(dropped.stdout)
    assert (doc['until'], doc['auto_thaw']) == (None, False)
    refused = ctl(state, 'on', '--mode', 'full', '--reason', 'y',
                  '--auto-thaw')
    assert refused.returncode == 2 and '--auto-thaw needs' in refused.stderr


def test_force_records_the_corrupt_document_set_aside(tmp_path):
    state = tmp_path / 'state.json'
    assert ctl(state, 'on', '--mode', 'full', '--reason', 'x').returncode == 0
    state.write_text('garbage')
    forced = ctl(state, 'off', '--force')
    assert forced.returncode == 0, forced.stderr
    aside = list(tmp_path.glob('state.json.corrupt-*'))
    assert len(aside) == 1 and aside[0].read_text() == 'garbage'
    last = json.loads(ctl(state, 'history', '-f', 'json').stdout)[-1]
    assert last['epoch'] == 2
    assert last['changes'] == {'set_aside': str(aside[0])}
    assert f'corrupt document set aside as {aside[0]}' in ctl(
        state, 'history').stdout


def test_state_url_from_environment_and_nova_conf(tmp_path):
    env_state = tmp_path / 'env.json'
    result = ctl(None, 'on', '--mode', 'full', '--reason', 'x',
                 env={'NOVA_FREEZE_STATE': f'file://{env_state}',
                      'PATH': '/usr/bin'})
    assert result.returncode == 0, result.stderr
    assert env_state.exists()
    conf_state = tmp_path / 'conf.json'
    nova_conf = tmp_path / 'nova.conf'
    nova_conf.write_text(f'[freeze]\nstate_url = file://{conf_state}\n')
    result = ctl(None, '--config-file', str(nova_conf), 'on', '--mode',
                 'network', '--reason', 'x', env={'PATH': '/usr/bin'})
    assert result.returncode == 0, result.stderr
    assert json.loads(conf_state.read_text())['mode'] == 'network'


def no_openstack_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith('OS_')}
    return dict(env, OS_CLIENT_CONFIG_FILE='/nonexistent/clouds.yaml',
                **extra)


@pytest.mark.parametrize('env', [
    no_openstack_env(),
    no_openstack_env(OS_AUTH_URL='http://127.0.0.1:9/v3', OS_USERNAME='a',
                     OS_PASSWORD='b', OS_PROJECT_NAME='c',
                     OS_USER_DOMAIN_NAME='Default',
                     OS_PROJECT_DOMAIN_NAME='Default'),
], ids=['no-credentials', 'keystone-unreachable'])
def test_quiesce_checks_nova_before_freezing(tmp_path, env):
    """The defect: the freeze was written, then --quiesce failed, leaving
    the API frozen."""
    state = tmp_path / 'state.json'
    result = ctl(state, 'on', '--mode', 'full', '--reason', 'x', '--quiesce',
                 env=env)
    assert result.returncode == 1
    assert result.stderr.startswith(
        'freeze-ctl: error: --quiesce: cannot check what is in flight: ')
    assert 'nothing was changed' in result.stderr
    assert result.stderr.count('\n') == 1 and result.stdout == ''
    assert not state.exists()


@pytest.mark.parametrize('line, option', [
    ('fail_mode = sideways', 'fail_mode'),
    ('retry_after = 0', 'retry_after'),
    ('allow = service:POST', 'service:POST'),
    ('heartbeat_interval = 20', 'ack_expiry'),
])
@pytest.mark.parametrize('command', [
    ['status'], ['on', '--mode', 'full', '--reason', 'x']])
def test_freeze_values_are_checked_as_the_filter_checks_them(
        tmp_path, line, option, command):
    from freeze import conf as freeze_conf
    from oslo_config import cfg
    nova_conf = tmp_path / 'nova.conf'
    nova_conf.write_text('[freeze]\nstate_url = '
                         f'file://{tmp_path / "state.json"}\n{line}\n')
    conf = cfg.ConfigOpts()
    conf(args=[], default_config_files=[str(nova_conf)])
    with pytest.raises((ValueError, cfg.Error)):
        freeze_conf.load_settings(conf)   # what the filter does at start-up
    result = ctl(None, '--config-file', str(nova_conf), *command)
    assert result.returncode == 1
    assert result.stderr.startswith('freeze-ctl: error: [freeze] in '
                                    f'{nova_conf}: ')
    assert option in result.stderr and result.stderr.count('\n') == 1
    assert os.listdir(tmp_path) == ['nova.conf']


def test_a_missing_state_directory_needs_create(tmp_path):
    state = tmp_path / 'typo' / 'state.json'
    refused = ctl(state, 'on', '--mode', 'full', '--reason', 'x')
    assert refused.returncode == 1
    assert refused.stderr == (
        f'freeze-ctl: error: the state directory {state.parent} does not '
        'exist: check the state URL, or create it (freeze-ctl on --create); '
        'nothing was changed [state URL from --state]\n')
    off = ctl(state, 'off')
    assert off.returncode == 0 and 'nothing changed' in off.stderr
    status = ctl(state, 'status', '-f', 'json')
    assert status.returncode == 0
    assert f'{state.parent} does not exist' in status.stderr
    assert json.loads(status.stdout)['state_url_from'] == '--state'
    assert os.listdir(tmp_path) == []
    created = ctl(state, 'on', '--mode', 'full', '--reason', 'x', '--create')
    assert created.returncode == 0, created.stderr
    assert json.loads(state.read_text())['frozen'] is True


def test_status_says_where_the_state_url_came_from(tmp_path):
    nova_conf = tmp_path / 'nova.conf'
    nova_conf.write_text('[freeze]\nstate_url = '
                         f'file://{tmp_path / "state.json"}\n')
    base = {'PATH': '/usr/bin'}

    def origin(*args, env=base):
        result = ctl(None, *args, 'status', '-f', 'json', env=env)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)['state_url_from']
    assert origin('--config-file', str(nova_conf)) == \
        f'[freeze] state_url in {nova_conf}'
    assert origin('--config-file', str(nova_conf), env=dict(
        base, NOVA_FREEZE_STATE=f'file://{tmp_path}/x.json')) == \
        '$NOVA_FREEZE_STATE'
    assert origin('--state', f'file://{tmp_path}/y.json') == '--state'


def test_unreadable_config_file_is_a_clear_error(tmp_path):
    nova_conf = tmp_path / 'nova.conf'
    nova_conf.write_text('[freeze\nbroken')
    result = ctl(None, '--config-file', str(nova_conf), 'status',
                 env={'PATH': '/usr/bin'})
    assert result.returncode == 1 and 'cannot read' in result.stderr


@pytest.mark.parametrize('text, minutes', [('90s', 1.5), ('30m', 30),
                                           ('2h', 120), ('1d', 1440),
                                           ('1h30m', 90)])
def test_parse_duration(text, minutes):
    assert freeze_ctl.parse_duration(text) == datetime.timedelta(
        minutes=minutes)


def test_a_vanished_state_file_is_continued_from_its_history(tmp_path):
    """The history says frozen: status says the document is missing, and on
    and off continue from the history's last document (never epoch 1)."""
    state = tmp_path / 'state.json'
    first = json.loads(ctl(state, 'on', '--mode', 'writes', '--reason', 'a',
                           '-f', 'json').stdout)
    state.unlink()
    status = ctl(state, 'status')
    assert status.returncode == 1
    assert 'missing, but its history says frozen' in status.stderr
    assert len(status.stderr.strip().splitlines()) == 1
    on = ctl(state, 'on', '--mode', 'full', '--reason', 'a', '-f', 'json')
    assert on.returncode == 0, on.stderr
    doc = json.loads(on.stdout)
    assert doc['epoch'] == first['epoch'] + 1 and doc['mode'] == 'full'
    assert doc['started_at'] == first['started_at']
    state.unlink()
    off = ctl(state, 'off', '-f', 'json')
    assert off.returncode == 0, off.stderr
    assert json.loads(off.stdout) == {**json.loads(off.stdout),
                                      'frozen': False,
                                      'epoch': doc['epoch'] + 1}


# -- the shell: what every OpenStack client has --------------------------

def test_formatters_and_columns(tmp_path):
    state = tmp_path / 'state.json'
    on = ctl(state, 'on', '--mode', 'writes', '--reason', 'cut', '-f',
             'value', '-c', 'epoch')
    assert (on.returncode, on.stdout) == (0, '1\n')
    mode = ctl(state, 'status', '-f', 'value', '-c', 'mode')
    assert (mode.returncode, mode.stdout) == (0, 'writes\n')
    shell = ctl(state, 'status', '-f', 'shell', '-c', 'frozen', '-c', 'mode')
    assert shell.stdout.splitlines() == ['frozen="True"', 'mode="writes"']
    history = yaml.safe_load(ctl(state, 'history', '-f', 'yaml').stdout)
    assert history[0]['changes']['mode'] == [None, 'writes']


def test_version_help_examples_and_completion(tmp_path):
    version = ctl(None, '--version')
    assert version.returncode == 0
    assert version.stdout.split()[0] == 'freeze-ctl'
    for command in ('on', 'off', 'status', 'history', 'grants', 'grant',
                    'revoke', 'paste'):
        help_text = ctl(None, 'help', command)
        assert help_text.returncode == 0, help_text.stderr
        assert f'\n  freeze-ctl {command}' in help_text.stdout
    complete = ctl(None, 'complete')
    assert complete.returncode == 0 and 'status' in complete.stdout


def test_errors_are_one_line_and_tracebacks_only_with_debug(tmp_path):
    missing = tmp_path / 'no-such-dir' / 'state.json'
    plain = ctl(missing, 'on', '--mode', 'full', '--reason', 'x')
    assert plain.returncode == 1 and plain.stderr.count('\n') == 1
    assert plain.stderr.startswith('freeze-ctl: error: the state directory')
    debug = ctl(missing, '--debug', 'on', '--mode', 'full', '--reason', 'x')
    assert debug.returncode == 1 and 'Traceback' in debug.stderr
    for words, code in ((['statsu'], 2), ([], 2),
                        (['on', '--mode', 'full'], 2)):
        result = ctl(tmp_path / 'state.json', *words)
        assert result.returncode == code, (words, result.stderr)
        assert 'Traceback' not in result.stderr


def test_quiet_and_the_error_line_in_the_log_file(tmp_path):
    state, log = tmp_path / 'state.json', tmp_path / 'freeze-ctl.log'
    quiet = ctl(state, '-q', 'status', '-f', 'value', '-c', 'frozen')
    assert (quiet.stdout, quiet.stderr) == ('False\n', '')
    failed = ctl(tmp_path / 'no-such-dir' / 'state.json', '--log-file',
                 str(log), 'on', '--mode', 'full', '--reason', 'x')
    assert failed.returncode == 1
    assert 'freeze-ctl: error: the state directory' in log.read_text()
