"""The proxy's current Index, rebuilt from nova's database when it changes.

A daemon thread reads a cheap fingerprint of the nova-network tables every
``poll_interval`` seconds (per table: row count, highest id, sum of
``deleted``, latest ``updated_at`` and ``deleted_at``: nova stamps every
write) and rebuilds the view when it differs, or every
``full_refresh_interval`` seconds regardless (a write that bypassed nova's
timestamps). The fingerprint is read before the rows, so a write racing a
rebuild shows up as a change on the next poll. The new Index replaces the
old one in a single reference assignment: a request sees one snapshot. A
failed rebuild is logged and the last good view keeps being served; before
the first success ``current`` is None and the API answers 503.

A view is made of plain acyclic dicts and lists: refcounting frees an old
one, so after each swap the heap is moved out of the cyclic GC's reach
(``gc.freeze``); otherwise every full collection would walk millions of
view objects in the middle of some request.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable

import sqlalchemy
from oslo_log import log as logging

from freeze.novanet import schema, source
from freeze.novanet.gcpause import gc_paused
from freeze.proxy import index, view
from freeze.translate import fromnova
from freeze.translate.settings import Settings

LOG = logging.getLogger(__name__)


def fingerprint(conn: sqlalchemy.Connection) -> tuple:
    fn = sqlalchemy.func
    out = []
    for table in schema.TABLES:
        c = table.c
        out.append(tuple(conn.execute(sqlalchemy.select(
            fn.count(), fn.max(c.id), fn.sum(c.deleted), fn.max(c.updated_at),
            fn.max(c.deleted_at))).one()))
    return tuple(out)


def build(nova: sqlalchemy.Engine, settings: Settings
          ) -> index.Index:
    """nova's database -> the indexed API view, through the translation."""
    return index.Index(view.build(fromnova.desired(nova, settings)))


class Loader:
    def __init__(self, url: str, settings: Settings,
                 poll_interval: float = 2.0,
                 full_refresh_interval: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = source.engine(url)
        self.settings = settings
        self.poll_interval = poll_interval
        self.full_refresh_interval = full_refresh_interval
        self.clock = clock
        self.current: index.Index | None = None
        self.error: str | None = None
        self._seen: tuple | None = None
        self._loaded_at = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> bool:
        """Rebuild if the data changed or the full interval passed; True
        when a new view is in place. Never raises: a failure is logged and
        the last good view stays."""
        try:
            with self.engine.connect() as conn:
                seen = fingerprint(conn)
                conn.rollback()
            due = self.clock() - self._loaded_at >= self.full_refresh_interval
            if seen == self._seen and not due and self.current is not None:
                return False
            began = time.monotonic()
            with gc_paused():   # a 100k-port view builds in half the time
                new = build(self.engine, self.settings)
        except Exception as exc:   # any failure: keep serving the last view
            self.error = f'{type(exc).__name__}: {exc}'
            LOG.exception('nova-network view refresh failed; serving the %s',
                          'last good view' if self.current else 'error 503')
            return False
        self.current, self._seen, self.error = new, seen, None
        self._loaded_at = self.clock()
        gc.freeze()
        LOG.info('nova-network view loaded: %d objects in %.2fs', len(new),
                 time.monotonic() - began)
        return True

    def start(self) -> Loader:
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name='nova-network-view')
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()

    def _run(self) -> None:
        while True:
            self.refresh()
            if self._stop.wait(self.poll_interval):
                return
