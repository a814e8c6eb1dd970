"""Each worker's view of the freeze: cached, cheap, and never an exception.

The middleware asks for the state on every request, so the common case is a
clock read and a comparison.  At most every ``check_interval`` seconds one
thread checks whether the document changed and re-reads it.  When it cannot be
read, ``fail_mode`` decides what to enforce, and the problem is logged loudly
once, not on every request.
"""

import dataclasses
import threading
import time

from oslo_log import log as logging

from freeze.state import StateUnavailable
from freeze.state import document

LOG = logging.getLogger(__name__)

_UNSET = object()


def fail_closed_state(problem, epoch):
    """What ``fail_mode=closed`` enforces: a full freeze that says why."""
    return document.FreezeState(
        epoch=epoch, frozen=True, mode='full',
        reason='the freeze state cannot be read (%s); failing closed' % problem)


@dataclasses.dataclass(frozen=True)
class View:
    state: document.FreezeState
    problem: str = None


class StateWatcher:

    def __init__(self, backend, fail_mode='closed', check_interval=0.5,
                 clock=time.monotonic):
        self.backend = backend
        self.fail_mode = fail_mode
        self.check_interval = check_interval
        self.clock = clock
        self._lock = threading.Lock()
        self._signature = _UNSET
        self._good = None
        self._view = None
        self._next_check = 0.0

    def current(self):
        """The view to enforce now."""
        if self._view is None or self.clock() >= self._next_check:
            if self._lock.acquire(blocking=self._view is None):
                try:
                    self._refresh()
                finally:
                    self._lock.release()
        return self._view

    def _refresh(self):
        self._next_check = self.clock() + self.check_interval
        try:
            signature = self.backend.signature()
            if signature == self._signature and self._view.problem is None:
                return
            state = self.backend.read()
        except (StateUnavailable, document.StateError) as exc:
            self._fail(str(exc))
            return
        if self._view is not None and self._view.problem is not None:
            LOG.warning('Freeze state readable again from %s', self.backend)
        self._signature = signature
        self._good = state
        self._view = View(state)

    def _fail(self, problem):
        if self._view is None or self._view.problem != problem:
            LOG.error('Freeze state unreadable from %s: %s; fail_mode=%s',
                      self.backend, problem, self.fail_mode)
        self._signature = _UNSET
        if self.fail_mode == 'open':
            state = self._good or document.THAWED
        else:
            state = fail_closed_state(
                problem, self._good.epoch if self._good else 0)
        self._view = View(state, problem)
