"""What a state backend is: the contract the file and etcd backends keep.

The watcher in each nova-api process, freeze-ctl and the cutover use a
backend only through these calls.  How a worker learns of a change is
declared, as tooz's drivers declare theirs (``CHARACTERISTICS``), rather
than guessed from the backend's type: a backend that ``FOLLOWS`` pushes
each change through ``follow()`` and its reads are network calls, never made
on a request's path; one that ``POLLS`` is checked by ``signature()``,
cheap enough (a stat) for a request to do inline.
"""

import datetime
import enum
from collections.abc import Callable, Hashable, Iterator
from typing import Optional, Protocol, runtime_checkable

from freeze.state import acks
from freeze.state import document


class Characteristics(enum.Enum):
    """How a backend lets a worker learn of changes."""

    FOLLOWS = 'FOLLOWS'
    """``follow()`` yields each change as it happens; reads are remote."""

    POLLS = 'POLLS'
    """Changes are found by comparing ``signature()``; reads are local."""


@runtime_checkable
class AckStore(Protocol):
    """Where workers report the epoch they enforce (``freeze.state.acks``)."""

    def report(self, ack: acks.WorkerAck) -> None:
        """Write or renew this worker's record (StateUnavailable)."""

    def retire(self, ack: acks.WorkerAck) -> None:
        """Withdraw it (the worker stops)."""

    def records(self, detail: bool = False) -> list:
        """Every record (``WorkerAck``); ``detail`` dates leased ones."""


Change = Callable[[document.FreezeState], Optional[document.FreezeState]]


@runtime_checkable
class Backend(Protocol):
    """A freeze state store.  Errors: StateUnavailable (cannot reach it),
    StateMissing (gone while its history says frozen), StateError (corrupt
    document), StateConflict (changed by someone else meanwhile),
    EpochError (a change that does not raise the epoch by one)."""

    CHARACTERISTICS: frozenset

    def signature(self) -> Optional[Hashable]:
        """A cheap identity of the current document (None: none), to re-read
        only when it changes."""

    def read(self) -> document.FreezeState:
        """The current document."""

    def update(self, change: Change, who: str, now: datetime.datetime,
               force: bool = False) -> tuple:
        """``(old, new)`` after applying ``change(old)`` atomically, with
        compare-and-swap against writers elsewhere, and its audit entry.
        ``change`` returns None to leave the state as it is; ``new.epoch``
        must be ``old.epoch + 1``.  ``force`` sets a corrupt document aside.
        """

    def last_epoch(self) -> int:
        """The highest epoch the history records."""

    def history(self) -> list:
        """The audit entries, oldest first."""

    def ack_store(self) -> AckStore:
        """The workers' acknowledgements beside this state."""


@runtime_checkable
class FollowingBackend(Backend, Protocol):
    """A backend that declares ``FOLLOWS`` has this call too."""

    def follow(self) -> Iterator:
        """``(version, state or StateError)``: the state now, then each
        change, until the stream breaks; its ``close()`` ends it from
        another thread."""


def follows(backend: Backend) -> bool:
    """Whether ``backend`` pushes its changes (else it is polled)."""
    return Characteristics.FOLLOWS in backend.CHARACTERISTICS
