"""The cluster-wide state backend: the freeze state in etcd v3.

The URL (``etcd3+http(s)://...``) is ``etcd_url``'s; reaching the cluster
``etcd_cluster``'s; following changes ``etcd_watch``'s; the workers'
acknowledgements ``etcd_acks``'.  Keys::

    PREFIX/state              the state document (JSON, as in the file)
    PREFIX/history/EPOCH      the audit entry of each change (zero-padded)
    PREFIX/corrupt/TIMESTAMP  a corrupt document set aside by ``--force``
    PREFIX/workers/HOST-PID   worker acknowledgements, each under a lease

A change is one transaction that compares the state key's ``mod_revision``
with the one read: two writers at once give one winner, and the other gets
:class:`StateConflict`, having changed nothing.  The state and its history
entry are written together or not at all.
"""

from __future__ import annotations

import datetime
import json
from typing import Any, TYPE_CHECKING

from freeze.state import StateConflict
from freeze.state import StateMissing
from freeze.state import backend
from freeze.state import document
from freeze.state import etcd_acks
from freeze.state import etcd_cluster
from freeze.state import etcd_url
from freeze.state import etcd_watch
from freeze.state.etcd_cluster import b64
from freeze.state.etcd_cluster import prefix_end

if TYPE_CHECKING:
    from freeze.state.etcd_url import Target as EtcdTarget

#: History entries read, newest first, to find the last parseable one.
_NEWEST = 16


def _parse_state(raw: bytes, where: str) -> document.FreezeState:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise document.StateError(f'{where} is not valid JSON: {exc}')
    return document.FreezeState.from_dict(data)


class EtcdBackend:
    """The freeze state in etcd (see ``freeze.state.backend.Backend``)."""

    #: A read is a network call: workers follow a watch stream instead.
    CHARACTERISTICS = frozenset({backend.Characteristics.FOLLOWS})

    def __init__(self, target: EtcdTarget) -> None:
        self.target = target
        self.cluster = etcd_cluster.Cluster(target)
        self.endpoints = list(target.endpoints)
        self.prefix = target.prefix
        self.state_key = self.key('state')

    @classmethod
    def from_url(cls, url: str) -> EtcdBackend:
        return cls(etcd_url.parse_url(url))

    def __str__(self) -> str:
        return str(self.target)

    def key(self, *parts: str) -> str:
        return self.cluster.key(*parts)

    def decode(self, kv: dict[str, Any] | None,
               revision: int) -> document.FreezeState:
        """The state in ``kv`` (None: absent), read at store ``revision``."""
        if kv is None:
            return self._missing(revision)
        return _parse_state(etcd_cluster.unb64(kv.get('value', '')),
                            f'etcd key {self.state_key}')

    def _missing(self, revision: int) -> document.FreezeState:
        """No state key means never frozen (thawed), but only while the
        history agrees, as with a state file: a key deleted while the
        newest history entry is a freeze raises ``StateMissing``, an
        unreadable state (workers keep the last state for ``stale_after``,
        then apply ``fail_mode``), never a thaw.  The history is read at
        the ``revision`` the key was found absent, not a later one."""
        prefix = self.key('history', '')
        values = self.cluster.call('read the history', lambda c: c.get(
            prefix, range_end=prefix_end(prefix), sort_order='descend',
            sort_target='key', limit=_NEWEST, revision=revision))
        for value in values:
            try:
                entry = json.loads(value)
            except ValueError:
                continue
            recorded = document.recorded_freeze(entry, self.last_epoch)
            if recorded is None:
                return document.THAWED
            raise StateMissing(
                f'etcd key {self.state_key} is missing, but its history says '
                f'frozen (epoch {recorded.epoch}, mode {recorded.mode})',
                recorded)
        return document.THAWED

    # -- the state ---------------------------------------------------------

    def signature(self) -> int | None:
        """The state key's ``mod_revision`` (None when absent): one small
        call without the value, to re-read only on change."""
        kv, _ = self.cluster.range(self.state_key, keys_only=True)
        return None if kv is None else int(kv['mod_revision'])

    def read(self) -> document.FreezeState:
        return self.decode(*self.cluster.range(self.state_key))

    def last_epoch(self) -> int:
        """Highest epoch in the history (to continue after a lost state)."""
        def newest(client: Any) -> Any:
            return client.get(self.key('history', ''), metadata=True,
                              range_end=prefix_end(self.key('history', '')),
                              sort_order='descend', sort_target='key',
                              limit=1, keys_only=True)
        found = self.cluster.call('read the history', newest)
        if not found:
            return 0
        return int(found[0][1]['key'].decode().rsplit('/', 1)[1])

    def update(self, change: document.Change, who: str,
               now: datetime.datetime, force: bool = False,
               ) -> tuple[document.FreezeState, document.FreezeState]:
        """Apply ``change(old) -> new`` with compare-and-swap; (old, new).

        ``change`` returns None to leave the state as it is.  A corrupt
        document is refused unless ``force``, which keeps it under
        ``corrupt/`` and continues the epochs from the history; so does a
        missing one, so that epochs never repeat; a missing one the history
        says is frozen continues from the history's last document.  A
        ``new`` whose epoch is not the old one + 1 is refused (EpochError).
        """
        kv, store = self.cluster.range(self.state_key)
        revision = 0 if kv is None else int(kv['mod_revision'])
        aside = None
        try:
            old = self.decode(kv, store)
        except StateMissing as exc:
            old = exc.recorded
        except document.StateError:
            if not force:
                raise
            aside = kv.get('value', '')
            old = None
        if old is None or (kv is None and not old.frozen):
            old = document.FreezeState(epoch=self.last_epoch())
        new = document.change_of(old, change, aside is not None)
        if new is None:
            return old, old
        corrupt_key = self.key('corrupt', now.strftime('%Y%m%dT%H%M%S'))
        entry = document.history_entry(who, now, old, new,
                                       aside is not None and corrupt_key)
        puts = [(self.state_key, json.dumps(new.to_dict(), indent=2,
                                            sort_keys=True) + '\n'),
                (self.key('history', f'{new.epoch:020d}'),
                 json.dumps(entry, sort_keys=True))]
        txn = {'compare': [{'key': b64(self.state_key), 'target': 'MOD',
                            'result': 'EQUAL', 'mod_revision': revision}],
               'success': [{'request_put': {'key': b64(k), 'value': b64(v)}}
                           for k, v in puts],
               'failure': []}
        if aside is not None:
            txn['success'].append({'request_put': {
                'key': b64(corrupt_key), 'value': aside}})
        result = self.cluster.call(f'write {self.state_key}',
                                   lambda c: c.transaction(txn))
        if not result.get('succeeded'):
            raise StateConflict(
                f'the freeze state in {self} changed while this command ran '
                '(another freeze-ctl?); nothing was changed. Check '
                '"freeze-ctl status" and run the command again if it is '
                'still needed.')
        return old, new

    def history(self) -> list[dict[str, Any]]:
        """The audit history, oldest first; unreadable entries skipped."""
        prefix = self.key('history', '')
        entries = []
        for value, _ in self.cluster.call(
                'read the history', lambda c: c.get_prefix(
                    prefix, sort_order='ascend', sort_target='key')):
            try:
                entries.append(json.loads(value))
            except ValueError:
                continue
        return entries

    def follow(self) -> etcd_watch.Follow:
        """The state now, then each change (``etcd_watch.Follow``)."""
        return etcd_watch.Follow(self.cluster, self.state_key, self.decode)

    def ack_store(self) -> etcd_acks.EtcdAcks:
        return etcd_acks.EtcdAcks(self.cluster)
