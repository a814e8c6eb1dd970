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
        command += ['--state', 'file://%s' % state_path]
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
    assert result.returncode == 1 and message in result.stderr
    assert not (tmp_path / 'state.json').exists()


@pytest.mark.parametrize('args', [
    ['on', '--reason', 'x'],
    ['on', '--mode', 'partial', '--reason', 'x'],
    ['on', '--mode', 'full', '--reason', 'x', '--for', 'soon'],
    ['on', '--mode', 'full', '--reason', 'x', '--until', 'tomorrow'],
])
def test_usage_errors(tmp_path, args):
    result = ctl(tmp_path / 'state.json', *args)
    assert result.returncode == 2


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


def test_state_url_from_environment_and_nova_conf(tmp_path):
    env_state = tmp_path / 'env.json'
    result = ctl(None, 'on', '--mode', 'full', '--reason', 'x',
                 env={'NOVA_FREEZE_STATE': 'file://%s' % env_state,
                      'PATH': '/usr/bin'})
    assert result.returncode == 0, result.stderr
    assert env_state.exists()
    conf_state = tmp_path / 'conf.json'
    nova_conf = tmp_path / 'nova.conf'
    nova_conf.write_text('[freeze]\nstate_url = file://%s\n' % conf_state)
    result = ctl(None, '--config-file', str(nova_conf), 'on', '--mode',
                 'network', '--reason', 'x', env={'PATH': '/usr/bin'})
    assert result.returncode == 0, result.stderr
    assert json.loads(conf_state.read_text())['mode'] == 'network'


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
