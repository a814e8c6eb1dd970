"""Worker acknowledgements in etcd: one key per worker under a lease.

tooz's etcd3gw driver has group membership under leases, but it is not used
here: it talks to one endpoint (no failover across the URL's endpoints),
keeps its groups under a fixed ``tooz/groups/`` prefix instead of the
state's, makes its own HTTP session (so ``*_proxy`` and
``REQUESTS_CA_BUNDLE`` would apply), and cannot date a member from its
lease, which ``freeze-ctl status`` shows.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
from typing import TYPE_CHECKING

from etcd3gw.lease import Lease

from freeze.state import StateUnavailable
from freeze.state import acks
from freeze.state import document

if TYPE_CHECKING:
    from freeze.state.acks import WorkerAck
    from freeze.state.etcd_cluster import Cluster


class EtcdAcks:
    """Worker records under a lease of ``ceil(expiry)`` seconds.

    A heartbeat is a lease keep-alive, which adds no revision to etcd; the
    record is rewritten only when what it says changes.  When the lease is
    gone (etcd was unreachable longer than the expiry) a new one is granted.
    """

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self._lease = None
        self._written = None

    def __str__(self) -> str:
        return f'{self.cluster}/workers/'

    def report(self, ack: WorkerAck) -> None:
        content = dict(ack.to_dict(), heartbeat=None)
        if self._lease is not None and content == self._written:
            ttl = self.cluster.call('renew the worker lease',
                                    lambda c: Lease(self._lease, c).refresh())
            if ttl > 0:
                return
            self._lease = None
        if self._lease is None:
            self._lease = self.cluster.call(
                'grant a worker lease',
                lambda c: c.lease(max(2, math.ceil(ack.expiry))).id)
        value = json.dumps(ack.to_dict(), sort_keys=True)
        lease = self._lease
        try:
            self.cluster.call('write the worker record', lambda c: c.put(
                self.cluster.key('workers', ack.name), value,
                lease=Lease(lease, c)))
        except StateUnavailable:
            self._lease = None  # perhaps expired meanwhile: grant anew
            raise
        self._written = content

    def retire(self, ack: WorkerAck) -> None:
        if self._lease is not None:
            lease, self._lease = self._lease, None
            self.cluster.call('revoke the worker lease',
                              lambda c: Lease(lease, c).revoke())

    def records(self, detail: bool = False) -> list[WorkerAck]:
        """The live records (etcd drops expired ones with their lease).

        With ``detail``, each is dated from its lease (one call per
        worker): last heartbeat and when it expires unless renewed.
        """
        prefix = self.cluster.key('workers', '')
        found = []
        for value, meta in self.cluster.call(
                'list the workers', lambda c: c.get_prefix(prefix)):
            try:
                ack = acks.WorkerAck.from_dict(json.loads(value))
            except ValueError:
                continue
            if detail and meta.get('lease'):
                ack = self._dated(ack, int(meta['lease']))
            else:
                ack = _undated(ack)
            found.append(ack)
        return found

    def _dated(self, ack: WorkerAck, lease: str) -> WorkerAck:
        reply = self.cluster.call('read a worker lease', lambda c: c.post(
            c.get_url('/kv/lease/timetolive'), json={'ID': lease}))
        left, granted = int(reply.get('TTL', -1)), int(reply.get('grantedTTL', 0))
        if left < 0:
            return _undated(ack)
        now = document.utcnow()
        return dataclasses.replace(
            ack, heartbeat=now - datetime.timedelta(seconds=granted - left),
            expires_at=now + datetime.timedelta(seconds=left))


def _undated(ack: WorkerAck) -> WorkerAck:
    """A record kept alive by its lease: live, with no date to judge by."""
    return dataclasses.replace(ack, expires_at=None)
