"""Freeze state: the document, its backends, and the per-worker cache."""

from __future__ import annotations

from typing import TYPE_CHECKING
import urllib.parse

if TYPE_CHECKING:
    from freeze.state.backend import Backend
    from freeze.state.document import FreezeState


class StateUnavailable(Exception):
    """The backend could not be read or written (I/O, permissions, network)."""


class StateMissing(StateUnavailable):
    """The state document is gone but the history's last entry is a freeze:
    unreadable, not "never frozen".

    ``recorded`` is that entry's document: what an update continues from.
    """

    def __init__(self, message: str, recorded: FreezeState | None) -> None:
        super().__init__(message)
        self.recorded = recorded


class StateConflict(Exception):
    """Someone else changed the state between our read and our write."""


def open_backend(url: str, create: bool = False) -> Backend:
    """Return the backend for a state URL: ``file:///path`` (or a bare
    path), or ``etcd3+http(s)://HOST:PORT[,HOST:PORT...][/prefix][?tls]``
    (``freeze.state.etcd``); both keep ``freeze.state.backend.Backend``.
    ``create``: a file state's missing directory is created when a change
    is written (else refused)."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme in ('etcd3+http', 'etcd3+https'):
        from freeze.state import etcd
        return etcd.EtcdBackend.from_url(url)
    if parsed.scheme in ('', 'file'):
        from freeze.state import file as file_backend
        path = urllib.parse.unquote(parsed.path)
        if parsed.netloc not in ('', 'localhost') or not path:
            raise ValueError('state URL must be file:///ABSOLUTE/PATH, not '
                             f'{url!r}')
        return file_backend.FileBackend(path, create=create)
    raise ValueError(f'unsupported state URL scheme {parsed.scheme!r} in '
                     f'{url!r} (supported: file, etcd3+http, etcd3+https)')
