"""Inserting the filter into api-paste.ini files."""

import os
import subprocess
import sys

import pytest

from freeze import pastefile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
SHIPPED = os.path.join(REPO, 'paste', 'api-paste.ini')


def stock_nova_paste():
    """nova's own api-paste.ini, as installed beside nova."""
    path = os.path.join(sys.prefix, 'etc', 'nova', 'api-paste.ini')
    if not os.path.exists(path):
        pytest.skip('nova is not installed in this environment')
    with open(path) as f:
        return f.read()


def test_shipped_file_is_stock_nova_plus_the_filter():
    new_text, _ = pastefile.insert_filter(stock_nova_paste())
    with open(SHIPPED) as f:
        assert f.read() == new_text, 'regenerate with: freeze-ctl paste ' \
            '$VENV/etc/nova/api-paste.ini -o paste/api-paste.ini'


def test_insert_places_freeze_after_keystonecontext_everywhere():
    new_text, changed = pastefile.insert_filter(stock_nova_paste())
    assert changed == ['composite:openstack_compute_api_v21',
                       'composite:openstack_compute_api_v21_legacy_v2_compatible',
                       'filter:freeze']
    assert new_text.count('authtoken keystonecontext freeze ') == 2
    assert new_text.count('[filter:freeze]') == 1


def test_insert_is_idempotent_and_keeps_comments():
    once, _ = pastefile.insert_filter(stock_nova_paste())
    twice, changed = pastefile.insert_filter(once)
    assert twice == once and changed == []
    assert '# v21 is an exactly feature match for v2' in once


V21 = 'composite:openstack_compute_api_v21'
LEGACY = 'composite:openstack_compute_api_v21_legacy_v2_compatible'
STOCK_LINE = ('keystone = cors http_proxy_to_wsgi compute_req_id faultwrap '
              'request_log sizelimit osprofiler authtoken keystonecontext ')


def edited(old, new, count=1):
    text = stock_nova_paste()
    assert text.count(old) >= count
    return text.replace(old, new, count)


def paste_ctl(*args, **kw):
    return subprocess.run([sys.executable, '-m', 'freeze.cli.freeze_ctl',
                           'paste'] + [str(a) for a in args],
                          capture_output=True, text=True, **kw)


@pytest.mark.parametrize('text, message', [
    # the legacy /v2 pipeline without keystonecontext: /v2.1 gets the
    # filter, /v2 would stay open (the defect: rc 0 "freeze filter added")
    (lambda: edited('authtoken keystonecontext legacy_v2_compatible',
                    'legacy_v2_compatible'),
     f'[{LEGACY}] keystone: does not run "authtoken keystonecontext"'),
    (lambda: edited('authtoken keystonecontext osapi_compute_app_v21',
                    'keystonecontext authtoken osapi_compute_app_v21'),
     f'[{V21}] keystone: keystonecontext does not follow authtoken'),
    (lambda: edited('osprofiler authtoken keystonecontext osapi',
                    'osprofiler freeze authtoken keystonecontext osapi')
     + f'[filter:freeze]\npaste.filter_factory = {pastefile.FREEZE}\n',
     f'[{V21}] keystone: the freeze filter (freeze) is present but not once'),
    (lambda: edited('osprofiler authtoken', 'osprofiler typo authtoken'),
     f"[{V21}] keystone: filter 'typo' cannot be loaded"),
    # an operator's own pipeline section serving the compute API
    (lambda: stock_nova_paste() + '[pipeline:mine]\n'
     'pipeline = cors faultwrap osapi_compute_app_v21\n',
     '[pipeline:mine]: does not run'),
    (lambda: '[pipeline:x]\npipeline = cors app\n[app:app]\n'
     'paste.app_factory = nova.api.openstack.compute.versions:'
     'Versions.factory\n', "no pipeline ends in nova's compute API"),
], ids=['legacy-without-keystonecontext', 'wrong-order', 'freeze-misplaced',
        'unknown-filter', 'own-pipeline', 'no-compute-pipeline'])
def test_refuses_and_changes_nothing_naming_the_pipeline(tmp_path, text,
                                                          message):
    target = tmp_path / 'api-paste.ini'
    target.write_text(text())
    before = target.read_bytes(), target.stat().st_mtime_ns
    result = paste_ctl(target)
    assert result.returncode == 1, result.stdout
    assert message in result.stderr
    assert result.stderr.count('\n') == 1, result.stderr
    assert (target.read_bytes(), target.stat().st_mtime_ns) == before


FREEZE_SECTIONS = {
    'explicit': 'paste.filter_factory = freeze.middleware:filter_factory\n',
    'egg': 'use = egg:nova-freeze#freeze\n',
    'egg, normalised name': 'use = egg:nova_freeze#freeze\n',
    'call': 'use = call:freeze.middleware:filter_factory\n',
    'use another section': 'use = other\n',
}


@pytest.mark.parametrize('how', sorted(FREEZE_SECTIONS))
def test_filter_under_another_name_is_recognised(tmp_path, how):
    text = stock_nova_paste().replace(
        'authtoken keystonecontext legacy_v2_compatible',
        'authtoken keystonecontext nfreeze legacy_v2_compatible')
    text += '\n[filter:nfreeze]\n' + FREEZE_SECTIONS[how]
    text += '\n[filter:other]\n' + FREEZE_SECTIONS['explicit']
    target = tmp_path / 'api-paste.ini'
    target.write_text(text)
    result = paste_ctl(target)
    assert result.returncode == 0, result.stderr
    new = target.read_text()
    assert new.count('keystonecontext nfreeze ') == 2
    assert 'freeze freeze' not in new and '[filter:freeze]' not in new
    assert paste_ctl(target).stdout.endswith('nothing changed.\n')


def test_filter_resolution_is_pastedeploys(tmp_path):
    """Differential: every filter name resolves to the object PasteDeploy
    itself loads (it imports; we only read)."""
    from paste.deploy import loadwsgi
    from paste.deploy.util import importlib_metadata
    (tmp_path / 'other.ini').write_text(
        '[filter:main]\nuse = egg:nova-freeze#freeze\n'
        '[filter:ctx]\npaste.filter_factory = oslo_middleware.'
        'http_proxy_to_wsgi:HTTPProxyToWSGI.factory\n')
    sections = dict(FREEZE_SECTIONS, **{
        'config': 'use = config:other.ini\n',
        'config, named': 'use = config:other.ini#ctx\n',
        'set and get': 'paste.filter_factory = %(factory)s\n',
    })
    text = '[DEFAULT]\nfactory = oslo_middleware.cors:filter_factory\n'
    names = {}
    for index, (how, body) in enumerate(sorted(sections.items())):
        names[f'f{index}'] = how
        text += f'[filter:f{index}]\n{body}'
    text += '[filter:other]\n' + FREEZE_SECTIONS['explicit']
    path = tmp_path / 'api-paste.ini'
    path.write_text(text)
    ours = pastefile._TextLoader(text, str(path))
    theirs = loadwsgi.ConfigLoader(str(path))
    for name, how in names.items():
        spec, _ = ours.resolve(loadwsgi.FILTER, name)
        loaded = importlib_metadata.EntryPoint(None, spec, None).load()
        assert loaded == theirs.filter_context(name).object, how


def test_dry_run_is_a_unified_diff_and_writes_nothing(tmp_path):
    target = tmp_path / 'api-paste.ini'
    target.write_text(stock_nova_paste())
    result = paste_ctl(target, '--dry-run')
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f'--- {target}' and lines[1] == f'+++ {target}'
    added = [line for line in lines if line.startswith('+')][1:]
    with_freeze = '+' + STOCK_LINE.replace('keystonecontext ',
                                           'keystonecontext freeze ')
    assert added[:2] == [
        with_freeze + 'osapi_compute_app_v21',
        with_freeze + 'legacy_v2_compatible osapi_compute_app_v21']
    assert '+[filter:freeze]' in lines
    assert len(lines) < 30
    assert target.read_text() == stock_nova_paste()


def test_paste_keeps_the_files_identity(tmp_path):
    """A symlinked, CRLF, 0640 file owned by nova: the target is rewritten
    in its own directory, keeping all of it."""
    real_dir = tmp_path / 'etc-real'
    real_dir.mkdir()
    real = real_dir / 'api-paste.ini'
    real.write_bytes(stock_nova_paste().replace('\n', '\r\n').encode())
    real.chmod(0o640)
    os.chown(real, 65534, 65534)
    link = tmp_path / 'api-paste.ini'
    link.symlink_to(real)
    result = paste_ctl(link)
    assert result.returncode == 0, result.stderr
    assert os.path.islink(link) and os.readlink(link) == str(real)
    st = real.stat()
    assert (oct(st.st_mode & 0o7777), st.st_uid, st.st_gid) == (
        '0o640', 65534, 65534)
    data = real.read_bytes()
    assert b'keystonecontext freeze ' in data
    assert data.count(b'\n') == data.count(b'\r\n')
    assert sorted(os.listdir(real_dir)) == ['api-paste.ini']


def test_output_file_takes_the_mode_of_the_source(tmp_path):
    source = tmp_path / 'api-paste.ini'
    source.write_text(stock_nova_paste())
    source.chmod(0o600)
    out = tmp_path / 'out.ini'
    result = paste_ctl(source, '-o', out)
    assert result.returncode == 0, result.stderr
    assert out.stat().st_mode & 0o7777 == 0o600


def test_freeze_ctl_paste_command(tmp_path):
    target = tmp_path / 'api-paste.ini'
    target.write_text(stock_nova_paste())
    first = paste_ctl(target)
    assert first.returncode == 0, first.stderr
    assert 'freeze filter added' in first.stdout
    second = paste_ctl(target)
    assert second.returncode == 0 and 'nothing changed' in second.stdout
