"""The overlay in a policy dir: written, checked, removed, and seen by nova.

"Seen by nova" means oslo.policy's Enforcer built as nova builds it (policy
file, then policy dirs), enforcing between changes with no sleeps: it must
pick up every change on the very next call.
"""

import json
import os
import stat
import subprocess
import sys
import time

from oslo_config import cfg
from oslo_policy import policy as oslo_policy
import pytest
import yaml

from freeze import conf as freeze_conf
from freeze import decision
from freeze import nova_policy
from freeze import overlay_rules
from freeze.cli import freeze_ctl

EVENTS = decision.AllowRule.parse('service:POST:/os-server-external-events')
RULES = decision.Rules(allow=(EVENTS,))
KEYPAIRS = 'os_compute_api:os-keypairs:create'
INDEX = 'os_compute_api:servers:index'
TARGET = {'project_id': 'p1', 'user_id': 'u1'}


def creds(*roles):
    return {'roles': list(roles), 'project_id': 'p1', 'user_id': 'u1'}


@pytest.fixture
def site(tmp_path):
    """A nova.conf, its policy file (keypairs restricted) and policy dir."""
    (tmp_path / 'policy.d').mkdir()
    (tmp_path / 'policy.yaml').write_text(
        f'"{KEYPAIRS}": "rule:context_is_admin"\n')
    (tmp_path / 'nova.conf').write_text(
        '[oslo_policy]\npolicy_file = policy.yaml\npolicy_dirs = policy.d\n')
    return tmp_path


def policy_dir(site):
    layout = nova_policy.Layout(str(site / 'policy.yaml'),
                            (str(site / 'policy.d'),))
    return nova_policy.PolicyDir(str(site / 'policy.d'), layout, RULES)


def nova_enforcer(site):
    conf = cfg.ConfigOpts()
    conf(args=[], default_config_files=[])
    enforcer = oslo_policy.Enforcer(conf,
                                    policy_file=str(site / 'policy.yaml'))
    conf.set_override('policy_dirs', [str(site / 'policy.d')], 'oslo_policy')
    enforcer.suppress_deprecation_warnings = True
    enforcer.register_defaults(nova_policy.nova_defaults())
    return enforcer


def allowed(enforcer, rule, *roles):
    return enforcer.enforce(rule, dict(TARGET), creds(*roles))


# -- writing ---------------------------------------------------------------

def test_the_overlay_keeps_its_identity(site):
    """Rewritten by freeze-ctl run as operators run it: a symlinked 0640
    overlay owned by nova, CRLF endings, stays all of that."""
    real = site / 'shared' / nova_policy.OVERLAY_NAME
    real.parent.mkdir()
    link = site / 'policy.d' / nova_policy.OVERLAY_NAME
    command = [sys.executable, '-m', 'freeze.cli.freeze_ctl',
               '--config-file', str(site / 'nova.conf'),
               '--state', f"file://{site / 'state.json'}",
               'on', '--reason', 'x', '--policy-dir', str(site / 'policy.d')]
    first = subprocess.run(command + ['--mode', 'network'],
                           capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    real.write_bytes(link.read_bytes().replace(b'\n', b'\r\n'))
    link.unlink()
    link.symlink_to(real)
    real.chmod(0o640)
    os.chown(real, 65534, 65534)
    second = subprocess.run(command + ['--mode', 'full'],
                            capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    assert link.is_symlink() and os.readlink(link) == str(real)
    st = real.stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (
        0o640, 65534, 65534)
    data = real.read_bytes()
    assert data.count(b'\n') == data.count(b'\r\n')
    assert '(role:migration or role:admin) and ' in yaml.safe_load(
        data.decode())[INDEX]
    assert sorted(os.listdir(real.parent)) == [nova_policy.OVERLAY_NAME]


# -- nova sees every change at once ----------------------------------------

def test_nova_follows_the_overlay_without_a_restart(site):
    target = policy_dir(site)
    enforcer = nova_enforcer(site)
    member_reads = allowed(enforcer, INDEX, 'member', 'reader')
    assert member_reads and allowed(enforcer, KEYPAIRS, 'admin')
    assert not allowed(enforcer, KEYPAIRS, 'member')
    full, writes = target.prepare('full')[1], target.prepare('writes')[1]
    for _ in range(3):  # back and forth: each change seen on the next call
        target.write(full)
        assert not allowed(enforcer, INDEX, 'member', 'reader')
        assert allowed(enforcer, INDEX, 'admin')
        assert not allowed(enforcer, KEYPAIRS, 'admin')
        assert allowed(enforcer, KEYPAIRS, 'admin', 'migration')
        # The deployment's restriction holds during the freeze too.
        assert not allowed(enforcer, KEYPAIRS, 'member', 'migration')
        target.write(writes)
        assert allowed(enforcer, INDEX, 'member', 'reader')
        assert not allowed(enforcer, KEYPAIRS, 'admin')
        assert target.remove()
        assert allowed(enforcer, INDEX, 'member', 'reader')
        assert allowed(enforcer, KEYPAIRS, 'admin')
        assert not allowed(enforcer, KEYPAIRS, 'member')
    assert (site / 'policy.d').is_dir()
    assert not target.remove()


def test_nova_follows_even_when_the_clock_does_not_move_on(site):
    """Two changes in one mtime tick, or a clock stepped back."""
    target = policy_dir(site)
    enforcer = nova_enforcer(site)
    ahead = time.time_ns() + 60 * 10**9
    os.utime(site / 'policy.d', ns=(ahead, ahead))
    assert allowed(enforcer, INDEX, 'member', 'reader')  # seen at `ahead`
    target.write(target.prepare('full')[1])
    assert not allowed(enforcer, INDEX, 'member', 'reader')
    target.remove()
    assert allowed(enforcer, INDEX, 'member', 'reader')


# -- preparing -------------------------------------------------------------

def test_prepare_wraps_the_effective_rules_beneath_it(site):
    (site / 'policy.d' / '10-site.yaml').write_text(
        f'"{INDEX}": "role:auditor"\n')
    target = policy_dir(site)
    rules, text = target.prepare('full')
    assert rules[KEYPAIRS] == '(role:migration) and (rule:context_is_admin)'
    assert rules[INDEX] == '(role:migration or role:admin) and (role:auditor)'
    assert ('Wraps the effective rules of: nova defaults + '
            f"{site / 'policy.yaml'} + {site / 'policy.d' / '10-site.yaml'}"
            ) in text
    target.write(text)
    assert target.prepare('full') == (rules, text)  # never wraps itself


def test_prepare_refuses_files_that_would_undo_it(site):
    (site / 'policy.d' / 'zzz-late.yaml').write_text(
        f'"{KEYPAIRS}": "@"\n"context_is_admin": "role:admin"\n')
    with pytest.raises(nova_policy.OverlayError) as raised:
        policy_dir(site).prepare('full')
    assert f'zzz-late.yaml ({KEYPAIRS})' in str(raised.value)
    rules, _ = policy_dir(site).prepare('network')  # keypairs not wrapped
    assert KEYPAIRS not in rules


def test_prepare_refuses_a_missing_directory(site):
    target = nova_policy.PolicyDir(str(site / 'nope'), policy_dir(site).layout,
                               RULES)
    with pytest.raises(nova_policy.OverlayError, match='does not exist'):
        target.prepare('full')


def test_a_malformed_policy_file_is_named(site):
    (site / 'policy.yaml').write_text('"a": [unclosed\n')
    with pytest.raises(nova_policy.OverlayError,
                       match='policy.yaml is not a valid'):
        policy_dir(site).prepare('full')


# -- the policy file -------------------------------------------------------

def test_a_missing_policy_file_is_refused_or_created(site):
    (site / 'policy.yaml').unlink()
    target = policy_dir(site)
    with pytest.raises(nova_policy.OverlayError, match='--create-policy-file'):
        target.require_policy_file()
    assert target.require_policy_file(create=True) == str(site / 'policy.yaml')
    assert nova_policy.read_policy_file(str(site / 'policy.yaml')) == {}
    assert target.require_policy_file() is None
    enforcer = nova_enforcer(site)
    target.write(target.prepare('full')[1])
    assert not allowed(enforcer, INDEX, 'member', 'reader')


def test_an_unknown_policy_file_is_refused(site):
    target = nova_policy.PolicyDir(str(site / 'policy.d'),
                                   nova_policy.Layout(), RULES)
    with pytest.raises(nova_policy.OverlayError, match='not known'):
        target.require_policy_file(create=True)


def test_overlay_mode_is_read_from_the_header_it_was_written_with(
        tmp_path):
    path = tmp_path / nova_policy.OVERLAY_NAME
    assert nova_policy.overlay_mode(str(path)) == 'absent'
    path.write_text(overlay_rules.render(
        {'a': 'role:migration'}, overlay_rules.header(
            'network', '34.0.0', 'freeze-ctl on', [], decision.Rules())))
    assert nova_policy.overlay_mode(str(path)) == 'network'
    path.write_text('"a": "rule:b"\n')
    assert nova_policy.overlay_mode(str(path)) == 'not a nova-freeze overlay'
    path.write_bytes(b'\xff\xfe')
    assert nova_policy.overlay_mode(str(path)) == \
        'unreadable: UnicodeDecodeError'


def test_layout_from_nova_conf(site):
    conf = cfg.ConfigOpts()
    freeze_conf.register_policy_opts(conf)
    conf(args=[], project='nova',
         default_config_files=[str(site / 'nova.conf')])
    layout = nova_policy.layout_from_conf(conf)
    assert layout == nova_policy.Layout(str(site / 'policy.yaml'),
                                    (str(site / 'policy.d'),))
    (site / 'policy.yaml').unlink()
    assert nova_policy.layout_from_conf(conf).policy_file == str(
        site / 'policy.yaml')
    assert nova_policy.layout_from_conf(conf, 'other.yaml').policy_file == \
        os.path.abspath('other.yaml')
    target = nova_policy.PolicyDir(str(site), layout, RULES)
    assert not target.configured
    assert target.layout.policy_dirs[-1] == str(site)


# -- status ----------------------------------------------------------------

def test_report(site):
    target = policy_dir(site)
    assert target.report(None) == (True,
                                   'absent, as it should be while thawed')
    assert target.report('full')[1].startswith('missing')
    target.write(target.prepare('full')[1])
    assert target.report('full') == (True, 'in place for mode full')
    assert target.report('writes')[1].startswith('stale')
    assert target.report(None)[1].startswith('present although')
    (site / 'policy.yaml').write_text(f'"{KEYPAIRS}": "!"\n')
    assert target.report('full')[1].startswith('stale')
    (site / 'policy.d' / nova_policy.OVERLAY_NAME).write_text('[broken')
    assert target.report('full')[1].startswith('unreadable')


# -- freeze-ctl ------------------------------------------------------------

def ctl(site, capsys, *args):
    code = freeze_ctl.main(['--config-file', str(site / 'nova.conf'),
                            '--state', f"file://{site / 'state.json'}"]
                           + list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_on_status_off_with_a_policy_dir(site, capsys):
    path = site / 'policy.d' / nova_policy.OVERLAY_NAME
    code, out, _ = ctl(site, capsys, 'on', '--mode', 'writes', '--reason', 'x',
                       '--policy-dir', str(site / 'policy.d'), '-f', 'json')
    assert code == 0 and json.loads(out)['policy_overlay'] == str(path)
    assert yaml.safe_load(path.read_text())[KEYPAIRS].startswith(
        '(role:migration) and ')
    code, out, _ = ctl(site, capsys, 'status', '--policy-dir',
                       str(site / 'policy.d'), '-f', 'json')
    status = json.loads(out)
    assert status['policy_overlay_matches'] is True
    assert status['policy_overlay_detail'] == 'in place for mode writes'
    code, out, _ = ctl(site, capsys, 'off', '--policy-dir',
                       str(site / 'policy.d'), '-f', 'json')
    assert json.loads(out)['policy_overlay'] == f'{path} (removed)'
    assert not path.exists() and (site / 'policy.d').is_dir()


def test_policy_dir_from_nova_conf(site, capsys):
    with open(site / 'nova.conf', 'a') as f:
        f.write(f"[freeze]\npolicy_dir = {site / 'policy.d'}\n")
    code, _, err = ctl(site, capsys, 'on', '--mode', 'full', '--reason', 'x')
    assert code == 0, err
    assert (site / 'policy.d' / nova_policy.OVERLAY_NAME).exists()


@pytest.mark.parametrize('prepare, args, message', [
    (lambda site: (site / 'policy.yaml').unlink(), [],
     '--create-policy-file'),
    (lambda site: (site / 'policy.yaml').write_text('[x'), [],
     'policy.yaml is not a valid policy file'),
    (lambda site: None, ['--for', '1h', '--auto-thaw'], '--auto-thaw cannot'),
])
def test_refusals_change_nothing(site, capsys, prepare, args, message):
    prepare(site)
    code, _, err = ctl(site, capsys, 'on', '--mode', 'full', '--reason', 'x',
                       '--policy-dir', str(site / 'policy.d'), *args)
    assert code == (2 if args else 1) and message in err
    assert not (site / 'state.json').exists()
    assert os.listdir(site / 'policy.d') == []


def test_create_policy_file(site, capsys):
    (site / 'policy.yaml').unlink()
    code, _, err = ctl(site, capsys, 'on', '--mode', 'full', '--reason', 'x',
                       '--policy-dir', str(site / 'policy.d'),
                       '--create-policy-file')
    assert code == 0, err
    assert (site / 'policy.yaml').exists()


def test_a_policy_dir_nova_does_not_read_is_warned_about(site, capsys):
    (site / 'elsewhere').mkdir()
    code, _, err = ctl(site, capsys, 'on', '--mode', 'full', '--reason', 'x',
                       '--policy-dir', str(site / 'elsewhere'))
    assert code == 0 and 'nova does not read it' in err


def test_policy_generate(site, capsys):
    out_file = site / 'overlay.yaml'
    code, _, err = ctl(site, capsys, 'policy', 'generate', '--mode', 'network',
                       '--policy-file', str(site / 'policy.yaml'), '-o',
                       str(out_file))
    assert code == 0 and 'rules for mode network' in err
    text = out_file.read_text()
    assert f"--mode network --policy-file {site / 'policy.yaml'}" in text
    assert 'os_compute_api:servers:create' in yaml.safe_load(text)
    code, _, err = ctl(site, capsys, 'policy', 'generate', '--mode', 'full',
                       '--policy-file', str(site / 'nope.yaml'))
    assert code == 1 and 'nope.yaml does not exist' in err
