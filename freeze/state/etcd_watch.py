"""Following the state key through an etcd watch: the state now, then each
change, as ``(mod_revision, state or StateError)``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
import json
import os
import socket
from typing import Any, TYPE_CHECKING

import requests

from freeze.state import StateUnavailable
from freeze.state import document
from freeze.state import etcd_cluster

if TYPE_CHECKING:
    from freeze.state.document import FreezeState
    from freeze.state.etcd_cluster import Cluster

#: A quiet watch stream is re-opened after this long, in case the
#: connection died without anyone noticing.
WATCH_IDLE = 60.0


class Follow:
    """One watch stream on ``key`` of ``cluster``; ``decode(kv, revision)``
    turns a key-value (None: absent) into a state.

    It ends when the stream breaks (StateUnavailable, also when the key is
    deleted while the history says frozen: the watcher's re-reads then judge
    it) or etcd ends it; ``close()`` from another thread ends it too.
    """

    def __init__(self, cluster: Cluster, key: str,
                 decode: Callable[[dict[str, Any] | None, int], FreezeState],
                 ) -> None:
        self.cluster = cluster
        self.key = key
        self.decode = decode
        self._response = None
        self._closed = False

    def __iter__(self) -> Iterator[tuple[int, FreezeState | Exception]]:
        kv, revision = self.cluster.range(self.key)
        yield self._decoded(kv, 0 if kv is None else int(kv['mod_revision']),
                            revision)
        client = self.cluster.client()
        request = {'create_request': {'key': etcd_cluster.b64(self.key),
                                      'start_revision': revision + 1}}
        try:
            # Its own connection, not one of the client's pool.
            self._response = self.cluster.session().post(
                client.get_url('/watch'), json=request, stream=True,
                timeout=(etcd_cluster.TIMEOUT, WATCH_IDLE))
            if self._closed:
                return
            self._response.raise_for_status()
            for line in self._response.iter_lines():
                if not line.strip():
                    continue
                result = json.loads(line).get('result') or {}
                if result.get('canceled'):
                    return  # compacted past our revision: start again
                for event in result.get('events', ()):
                    kv = event['kv']
                    version = int(kv['mod_revision'])
                    deleted = event.get('type') == 'DELETE'
                    yield self._decoded(None if deleted else kv, version,
                                        version)
        except (requests.RequestException, ValueError, KeyError) as exc:
            if not self._closed:
                raise StateUnavailable(f'etcd watch on {client.base_url} '
                                       f'broke: {etcd_cluster.describe(exc)}')
        finally:
            self.close()

    def _decoded(self, kv: dict[str, Any] | None, version: int,
                 revision: int) -> tuple[int, FreezeState | Exception]:
        try:
            return version, self.decode(kv, revision)
        except document.StateError as exc:
            return version, exc

    def close(self) -> None:
        """End the stream, waking a thread blocked reading it."""
        self._closed = True
        response = self._response
        if response is None:
            return
        try:
            # shutdown() wakes a blocked recv(); close() alone does not.
            sock = socket.socket(fileno=os.dup(response.raw.fileno()))
            try:
                sock.shutdown(socket.SHUT_RDWR)
            finally:
                sock.close()
        except (OSError, ValueError, AttributeError):
            pass
        response.close()
