"""Whole-or-nothing file replacement: the old file or the new one, never
part of either, and never a file handed to another owner."""

import os
import pathlib
import shutil
import stat
import tempfile

import pytest

from freeze import atomic


def test_write_atomically(tmp_path):
    path = tmp_path / 'f.yaml'
    atomic.write_atomically(str(path), 'a: b\n')
    atomic.write_atomically(str(path), 'c: d\n')
    assert path.read_text() == 'c: d\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert os.listdir(tmp_path) == ['f.yaml']


def test_a_failed_write_loses_nothing(tmp_path):
    path = tmp_path / 'f.yaml'
    path.write_text('old: rule\n')
    with pytest.raises(TypeError):
        atomic.write_atomically(str(path), object())
    assert path.read_text() == 'old: rule\n'
    assert os.listdir(tmp_path) == ['f.yaml']


def test_an_owner_that_cannot_be_kept_writes_nothing():
    """Not root, in a directory it may write: replacing root's file would
    hand it to this user, so nothing is written (a real setuid child)."""
    if os.geteuid() != 0:
        pytest.skip('needs root to drop to another user')
    tmp_path = pathlib.Path(tempfile.mkdtemp())
    tmp_path.chmod(0o777)
    path = tmp_path / 'f.yaml'
    path.write_text('old: rule\n')
    path.chmod(0o666)
    pid = os.fork()
    if pid == 0:
        code = 3
        try:
            os.setgid(65534)
            os.setuid(65534)
            atomic.write_atomically(str(path), 'new: rule\n')
            code = 0
        except PermissionError as exc:
            code = 1 if 'cannot keep the owner' in str(exc) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 1
    assert path.read_text() == 'old: rule\n' and path.stat().st_uid == 0
    assert os.listdir(tmp_path) == ['f.yaml']
    shutil.rmtree(tmp_path)
