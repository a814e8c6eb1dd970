"""Replace a file so that readers see the old content or the new, whole.

Shared by the state document, the policy overlay and api-paste.ini edits:
a temporary file in the same directory (hidden, so oslo.policy never reads a
half-written overlay), fsync, rename over the target, fsync the directory.

A replaced file keeps what it was: its mode, owner and group, its CRLF line
endings, and a symlink stays a symlink (its target is replaced, in the
target's directory, so the rename stays atomic).  Keeping the owner may need
root: when it cannot be kept, nothing is written.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile


def write_atomically(path: str, text: str, mode: int = 0o644) -> str:
    """Replace ``path`` (or create it with ``mode``) with ``text``.

    ``text`` is written as given (no newline translation), except that when
    the file being replaced uses CRLF line endings, LF-only text gets them.
    """
    path = os.path.realpath(path)
    directory = os.path.dirname(path)
    try:
        old = os.stat(path)
    except FileNotFoundError:
        old = None
    if old is not None:
        mode = stat.S_IMODE(old.st_mode)
        if '\r\n' not in text and _uses_crlf(path):
            text = text.replace('\n', '\r\n')
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.nova-freeze-',
                               suffix='.tmp')
    try:
        with os.fdopen(fd, 'w', encoding='utf-8', newline='') as f:
            if old is not None and (old.st_uid, old.st_gid) != (
                    os.geteuid(), os.getegid()):
                _keep_owner(f.fileno(), path, old)
            os.fchmod(f.fileno(), mode)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


def _keep_owner(fd: int, path: str, old: os.stat_result) -> None:
    try:
        os.fchown(fd, old.st_uid, old.st_gid)
    except PermissionError:
        raise PermissionError(
            f'cannot keep the owner and group (uid {old.st_uid}, gid '
            f'{old.st_gid}) of {path}: run as root or as its owner; nothing '
            'was written') from None


def _uses_crlf(path: str) -> bool:
    with open(path, 'rb') as f:
        first = f.readline()
    return first.endswith(b'\r\n')
