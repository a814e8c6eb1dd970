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


def test_refuses_without_authtoken_keystonecontext():
    text = ('[composite:openstack_compute_api_v21]\n'
            'use = call:nova.api.auth:pipeline_factory_v21\n'
            'keystone = cors faultwrap osapi_compute_app_v21\n')
    with pytest.raises(pastefile.PasteError, match='authtoken keystonecontext'):
        pastefile.insert_filter(text)


def test_refuses_keystonecontext_without_authtoken_before_it():
    text = ('[pipeline:x]\n'
            'pipeline = keystonecontext authtoken app\n')
    with pytest.raises(pastefile.PasteError, match='does not follow'):
        pastefile.insert_filter(text)


def test_refuses_freeze_in_the_wrong_place():
    text = ('[pipeline:x]\n'
            'pipeline = freeze authtoken keystonecontext app\n')
    with pytest.raises(pastefile.PasteError, match='not right after'):
        pastefile.insert_filter(text)


def test_freeze_ctl_paste_command(tmp_path):
    target = tmp_path / 'api-paste.ini'
    target.write_text(stock_nova_paste())
    ctl = [sys.executable, '-m', 'freeze.cli.freeze_ctl', 'paste',
           str(target)]
    first = subprocess.run(ctl, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert 'freeze filter added' in first.stdout
    second = subprocess.run(ctl, capture_output=True, text=True)
    assert second.returncode == 0 and 'nothing changed' in second.stdout
    bad = tmp_path / 'bad.ini'
    bad.write_text('[pipeline:x]\npipeline = app\n')
    refused = subprocess.run(ctl[:-1] + [str(bad)], capture_output=True,
                             text=True)
    assert refused.returncode == 1
    assert 'authtoken keystonecontext' in refused.stderr
    assert bad.read_text() == '[pipeline:x]\npipeline = app\n'
