"""The [freeze] options: sample generation and paste-local overrides."""

import os
import subprocess
import sys

from oslo_config import cfg
import pytest

from freeze import conf as freeze_conf


def test_sample_generator_lists_every_option():
    generator = os.path.join(os.path.dirname(sys.executable),
                             'oslo-config-generator')
    result = subprocess.run([generator, '--namespace', 'nova_freeze'],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert '[freeze]' in result.stdout
    for opt in freeze_conf.OPTS:
        assert f'#{opt.dest} = ' in result.stdout


def test_nova_conf_values_and_paste_overrides(tmp_path):
    nova_conf = tmp_path / 'nova.conf'
    nova_conf.write_text('[freeze]\nreader_roles = Admin,Auditor\n'
                         'fail_mode = open\n')
    conf = cfg.ConfigOpts()
    conf([], project='nova', default_config_files=[str(nova_conf)])
    settings = freeze_conf.load_settings(conf, {'fail_mode': 'closed'})
    assert settings.rules.reader_roles == {'admin', 'auditor'}
    assert settings.fail_mode == 'closed'


@pytest.mark.parametrize('name, value', [('retry_after', '0'),
                                         ('check_interval', 'soon'),
                                         ('fail_mode', 'maybe')])
def test_bad_overrides_name_the_option(name, value):
    conf = cfg.ConfigOpts()
    conf([], project='nova', default_config_files=[])
    with pytest.raises(ValueError, match=name):
        freeze_conf.load_settings(conf, {name: value})
