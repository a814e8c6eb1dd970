"""``nova-cutover proxy serve``: configuration checked first, then gunicorn."""

import yaml

from freeze.cli import cutover_proxy, nova_cutover
from freeze.proxy import wsgi


def serve(*argv):
    return nova_cutover.main(['proxy', 'serve', *argv])


def test_bad_configuration_is_one_line_and_exit_1(tmp_path, capsys):
    conf = tmp_path / 'proxy.conf'
    conf.write_text('[proxy]\n')
    assert serve('--config', str(conf)) == 1
    assert 'value required for option settings' in capsys.readouterr().err
    conf.write_text(f'[proxy]\nsettings = {tmp_path}/missing.yaml\n')
    assert serve('--config', str(conf)) == 1
    assert 'missing.yaml' in capsys.readouterr().err


def test_the_old_option_name_plan_is_still_read(tmp_path, capsys):
    conf = tmp_path / 'proxy.conf'
    conf.write_text(f'[proxy]\nplan = {tmp_path}/old.yaml\n')
    assert serve('--config', str(conf)) == 1
    assert 'old.yaml' in capsys.readouterr().err


def test_becomes_gunicorn_with_the_config_in_its_environment(
        tmp_path, monkeypatch):
    settings = tmp_path / 'translate.yaml'
    settings.write_text(yaml.safe_dump({
        'network_manager': 'Vlan', 'admin_project_id': 'a',
        'source': 'sqlite:///nova.sqlite'}))
    conf = tmp_path / 'proxy.conf'
    conf.write_text(f'[proxy]\nsettings = {settings}\n')
    calls = []
    monkeypatch.setattr(cutover_proxy.os, 'execve',
                        lambda *a: calls.append(a))
    serve('--config', str(conf), '--bind', '127.0.0.1:1234', '--workers',
          '3', '--paste', 'p.ini')
    (_, argv, env), = calls
    assert argv[1:4] == ['-m', 'gunicorn', '--bind']
    assert '127.0.0.1:1234' in argv and '3' in argv
    assert argv[-1] == 'freeze.proxy.wsgi:application()'
    assert env[wsgi.CONFIG_ENV] == str(conf)
    assert env[wsgi.PASTE_ENV].endswith('/p.ini')
