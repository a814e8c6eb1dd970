"""gunicorn app factories for the OpenStack APIs that tools/localcloud.py runs.

Keystone and nova parse ``sys.argv`` while building their apps, and under
gunicorn it holds gunicorn's own command line, which they reject; so each
factory clears it before importing the app (``localcloud_wsgi:nova()``).
"""

import os
import sys


def keystone():
    sys.argv = sys.argv[:1]
    from keystone.wsgi.api import application
    return _mark_loaded(application)


def nova():
    sys.argv = sys.argv[:1]
    from nova.wsgi.osapi_compute import application
    return _mark_loaded(application)


def _mark_loaded(app):
    """Leave a file per loaded worker: LocalCloud waits for all of them,
    since the first worker answering says nothing about the others."""
    ready_dir = os.environ.get('LOCALCLOUD_READY_DIR')
    if ready_dir:
        open(os.path.join(ready_dir, str(os.getpid())), 'w').close()
    return app
