"""Where the cutover keeps its journal and its commands' logs by default.

A fixed place, not the current directory: ``resume`` and ``rollback`` must
find the journal wherever they are run from.  Apart from the journal so
that ``nova-cutover --help`` can say it without importing SQLAlchemy.
"""

import os

DEFAULT_URL = 'sqlite:////var/lib/nova-cutover/journal.sqlite'
DEFAULT_LOGS = '/var/lib/nova-cutover/logs'


def default_url() -> str:
    """``$NOVA_CUTOVER_JOURNAL``, else DEFAULT_URL."""
    return os.environ.get('NOVA_CUTOVER_JOURNAL', DEFAULT_URL)
