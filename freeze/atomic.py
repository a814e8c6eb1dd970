"""Replace a file so that readers see the old content or the new, whole.

Shared by the state document, the policy overlay and api-paste.ini edits:
a temporary file in the same directory (hidden, so oslo.policy never reads a
half-written overlay), fsync, rename over the target, fsync the directory.
"""

import contextlib
import os
import tempfile


def write_atomically(path, text, mode=0o644):
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.nova-freeze-',
                               suffix='.tmp')
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
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
