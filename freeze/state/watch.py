"""Each worker's view of the freeze: cached, cheap, and never an exception.

The middleware asks for the state on every request and only ever gets the
view held in memory.  A background thread per process (the keeper) keeps it
current and reports what this process enforces (its acknowledgement, see
``acks``).  How is the backend's to say (``backend.Characteristics``): one
that polls (a file) is checked by the keeper every ``check_interval``, and a
request may do the same check inline (a stat).  One that follows (etcd),
where a check is a network call, is never checked by a request: a second
thread follows its change stream (the fast path), and the keeper re-reads
every ``heartbeat_interval`` (the fallback, and the health check).

The threads start with ``start()``, and again in a process forked after it
(threads do not survive fork()) at its first request once a check is due.

When the state cannot be read, the last state read is kept until
``stale_after`` seconds after the last good read, then ``fail_mode`` decides;
a corrupt document applies ``fail_mode`` at once.  Problems are logged once,
not on every request.
"""

from __future__ import annotations

import atexit
from collections.abc import Callable
import dataclasses
import os
import socket
import threading
import time
from typing import Any
import weakref

from oslo_log import log as logging

from freeze import nova_policy
from freeze.state import StateUnavailable
from freeze.state import acks
from freeze.state import backend as state_backend
from freeze.state import document

LOG = logging.getLogger(__name__)

_UNSET = object()
#: The keeper never spins faster than this, whatever the intervals say.
MIN_TICK = 0.05
#: A broken watch is re-opened after this, doubling up to MAX_BACKOFF.
MIN_BACKOFF, MAX_BACKOFF = 0.05, 2.0

_START_LOCK = threading.Lock()
_STARTED = weakref.WeakSet()


def fail_closed_state(problem: str, epoch: int) -> document.FreezeState:
    """What ``fail_mode=closed`` enforces: a full freeze that says why."""
    return document.FreezeState(
        epoch=epoch, frozen=True, mode='full',
        reason=f'the freeze state cannot be read ({problem}); failing closed')


@dataclasses.dataclass(frozen=True)
class View:
    """What to enforce; ``failing`` when it is ``fail_mode``'s stand-in
    rather than a state read, ``problem`` whenever reading has trouble."""

    state: document.FreezeState
    problem: str = None
    failing: bool = False


class StateWatcher:

    def __init__(self, backend: state_backend.Backend,
                 fail_mode: str = 'closed', check_interval: float = 0.5,
                 clock: Callable[[], float] = time.monotonic,
                 stale_after: float = 10.0, heartbeat_interval: float = 2.0,
                 ack_expiry: float = 10.0, host: str | None = None,
                 overlay_path: str | None = None) -> None:
        self.backend = backend
        self.fail_mode = fail_mode
        self.clock = clock
        self.stale_after = stale_after
        self.heartbeat_interval = heartbeat_interval
        self.ack_expiry = ack_expiry
        self.host = host or socket.gethostname()
        # The policy overlay this worker's nova reads, reported with the ack.
        self.overlay_path = overlay_path
        # How often the state is re-read when nothing says it changed.
        self.follows = state_backend.follows(backend)
        self.interval = heartbeat_interval if self.follows else check_interval
        self._lock = threading.Lock()
        self._signature = _UNSET
        self._good = None
        self._last_read = None
        self._problem = None
        self._view = None
        self._next_check = 0.0
        # This process's threads and record; see start().
        self._owner = None
        self._threads = ()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._stream = None
        self._acks = None
        self._reported = None
        self._report_problem = None
        self._next_heartbeat = 0.0
        self._started_at = None

    # -- the request path ----------------------------------------------------

    def current(self) -> View:
        """The view to enforce now: a clock read and a comparison, except
        when a check is due (every ``interval``)."""
        if self.clock() >= self._next_check or self._view is None:
            self._due()
        return self._view

    def _due(self) -> None:
        """A check is due.  A keeper moves ``_next_check`` on by itself, so
        this is also where a forked child notices it has none."""
        if self._owner is not None and self._owner != os.getpid():
            self.start()  # forked since start(): our threads stayed behind
        elif self._view is None or not self.follows:
            if self._lock.acquire(blocking=self._view is None):
                try:
                    self._refresh()
                finally:
                    self._lock.release()

    # -- reading (always under self._lock) -------------------------------------

    def _refresh(self) -> None:
        now = self.clock()
        self._next_check = now + self.interval
        try:
            signature = self.backend.signature()
            if signature == self._signature and self._problem is None:
                self._last_read = now
                return
            self._install(signature, self.backend.read(), now)
        except StateUnavailable as exc:
            self._unavailable(str(exc), now)
        except document.StateError as exc:
            self._fail(str(exc))

    def _offer(self, version: int,
               item: document.FreezeState | Exception) -> None:
        """A state (or StateError) from the watch stream, at ``version``."""
        with self._lock:
            now = self.clock()
            if isinstance(item, document.StateError):
                self._signature = _UNSET
                self._fail(str(item))
            elif (self._problem is None and self._signature not in (_UNSET, None)
                  and version <= self._signature):
                self._last_read = now  # older or known: a resync got there
            else:
                self._install(version, item, now)

    def _install(self, signature: Any, state: document.FreezeState,
                 now: float) -> None:
        if self._problem is not None:
            LOG.warning('Freeze state readable again from %s', self.backend)
        self._signature = signature
        self._good = state
        self._last_read = now
        self._problem = None
        self._set_view(View(state))

    def _note(self, problem: str | None) -> None:
        if problem != self._problem:
            LOG.error('Freeze state unreadable from %s: %s; fail_mode=%s, '
                      'stale_after=%ss', self.backend, problem,
                      self.fail_mode, self.stale_after)
            self._problem = problem

    def _unavailable(self, problem: str, now: float) -> None:
        """Keep the last state read for a while, then apply fail_mode."""
        self._note(problem)
        self._signature = _UNSET
        if self._stream is not None:
            self._stream.close()  # may be dead silently; the follower reopens
        if self._good is None or now - self._last_read >= self.stale_after:
            self._fail(problem)
        elif self._view is None or not self._view.failing:
            self._set_view(View(self._good, f'{problem}; keeping the last '
                                f'state read for up to {self.stale_after}s'))

    def _fail(self, problem: str) -> None:
        self._note(problem)
        self._signature = _UNSET
        if self.fail_mode == 'open':
            state = self._good or document.THAWED
        else:
            state = fail_closed_state(
                problem, self._good.epoch if self._good else 0)
        self._set_view(View(state, problem, failing=True))

    def _set_view(self, view: View) -> None:
        if view != self._view:
            self._view = view
            self._wake.set()  # the keeper acknowledges it now

    # -- the background threads --------------------------------------------------

    def start(self) -> None:
        """Read the state, start this process's threads and report.

        Called once when the filter is built, and again by the first
        request in a forked child, which inherits the view but no threads.
        """
        with _START_LOCK:
            pid = os.getpid()
            if self._owner == pid:
                return
            if self._owner is not None:
                # The parent's lock may have been held at fork time.
                self._lock = threading.Lock()
                self._stream = None
            self._owner = pid
            self._stop = threading.Event()
            self._wake = threading.Event()
            self._acks = self.backend.ack_store()
            self._reported = None
            self._next_heartbeat = 0.0
            self._started_at = document.utcnow()
            if self._view is None:
                with self._lock:
                    self._refresh()
            ref = weakref.ref(self)
            self._threads = [threading.Thread(
                target=_keep, args=(ref, self._stop, self._wake),
                name='freeze-keeper', daemon=True)]
            if self.follows:
                self._threads.append(threading.Thread(
                    target=_follow, args=(ref, self._stop, self.backend),
                    name='freeze-watch', daemon=True))
            for thread in self._threads:
                thread.start()
            _STARTED.add(self)

    def stop(self) -> None:
        """Stop this process's threads and withdraw its record."""
        if self._owner != os.getpid():
            return
        self._owner = None
        self._stop.set()
        self._wake.set()
        if self._stream is not None:
            self._stream.close()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=5)
        if self._reported is not None:
            try:
                self._acks.retire(self._ack())
            except StateUnavailable as exc:
                LOG.warning('Could not withdraw this worker\'s record from '
                            '%s: %s', self._acks, exc)

    def _ack(self, overlay: str | None = None) -> acks.WorkerAck:
        view = self._view
        return acks.WorkerAck(
            host=self.host, pid=self._owner or os.getpid(),
            epoch=view.state.epoch, heartbeat=document.utcnow(),
            expiry=self.ack_expiry, failing=view.failing,
            problem=view.problem, started_at=self._started_at,
            overlay=overlay)

    def _tick(self) -> float:
        """One round of the keeper; returns the seconds until the next."""
        now = self.clock()
        with self._lock:
            if now >= self._next_check:
                self._refresh()
            elif (self._problem is not None and not self._view.failing
                  and now - self._last_read >= self.stale_after):
                self._fail(self._problem)
        self._report(now)
        waits = [self._next_check, self._next_heartbeat]
        if self._problem is not None and not self._view.failing:
            waits.append(self._last_read + self.stale_after)
        return max(MIN_TICK, min(waits) - self.clock())

    def _report(self, now: float) -> None:
        view = self._view
        overlay = (nova_policy.overlay_mode(self.overlay_path)
                   if self.overlay_path else None)
        said = (view.state.epoch, view.failing, view.problem, overlay)
        if said == self._reported and now < self._next_heartbeat:
            return
        try:
            self._acks.report(self._ack(overlay))
        except StateUnavailable as exc:
            if self._report_problem != str(exc):
                LOG.warning('Cannot report this worker to %s: %s',
                            self._acks, exc)
                self._report_problem = str(exc)
            self._next_heartbeat = now + min(1.0, self.heartbeat_interval)
            return
        self._report_problem = None
        self._reported = said
        self._next_heartbeat = now + self.heartbeat_interval


def _keep(ref: weakref.ref, stop: threading.Event,
          wake: threading.Event) -> None:
    """The keeper: re-read when due, apply staleness, report.  It holds its
    watcher only weakly, so it ends with it."""
    while not stop.is_set():
        watcher = ref()
        if watcher is None:
            return
        try:
            delay = watcher._tick()
        except Exception:  # never let the keeper die: log and go on
            LOG.exception('Freeze keeper failed; retrying')
            delay = 1.0
        del watcher
        wake.wait(delay)
        wake.clear()


def _follow(ref: weakref.ref, stop: threading.Event,
            backend: state_backend.Backend) -> None:
    """Follow the backend's change stream, re-opening it when it breaks.

    Only the fast path: trouble here is retried quietly, since the keeper's
    re-reads judge whether the state can be read.
    """
    backoff = MIN_BACKOFF
    while not stop.is_set():
        stream = backend.follow()
        watcher = ref()
        if watcher is None:
            return
        watcher._stream = stream
        del watcher
        try:
            for version, item in stream:
                watcher = ref()
                if watcher is None or stop.is_set():
                    stream.close()
                    return
                watcher._offer(version, item)
                del watcher
                backoff = MIN_BACKOFF
        except StateUnavailable as exc:
            LOG.debug('Freeze watch interrupted: %s', exc)
        except Exception:
            LOG.exception('Freeze watch failed; re-opening it')
        stop.wait(backoff)
        backoff = min(backoff * 2, MAX_BACKOFF)


def _stop_all() -> None:
    for watcher in list(_STARTED):
        watcher.stop()


def _reinit_after_fork() -> None:
    global _START_LOCK
    _START_LOCK = threading.Lock()


atexit.register(_stop_all)
os.register_at_fork(after_in_child=_reinit_after_fork)
