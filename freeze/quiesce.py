"""The quiesce gate: nothing in flight in nova before the cut.

A freeze stops new changes, not those already running: a server still
building, a live migration half-way.  Cutting the network under them corrupts
them, so after the freeze is enforced ``freeze-ctl on --quiesce`` waits until
no server has a ``task_state`` and no migration is in progress.

``in_flight`` decides from nova's answers (pure); ``Nova`` asks nova with
admin credentials (keystoneauth1, configured as every OpenStack client is:
``OS_*`` variables or ``--os-cloud``); ``wait_quiet`` polls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
import dataclasses
import time
from typing import Any, TYPE_CHECKING

from keystoneauth1 import adapter as ks_adapter
from keystoneauth1 import exceptions as ks_exceptions

if TYPE_CHECKING:
    from argparse import Namespace

#: Migration statuses after which nothing more happens to the server.
#: Anything else is in progress, ``finished`` included: a resize waiting
#: for confirmResize or revertResize, either of which moves the server.
SETTLED_MIGRATIONS = frozenset({'completed', 'confirmed', 'reverted', 'error',
                                'failed', 'cancelled', 'done'})

#: os-migrations shows migration_type from 2.23 on.
MIGRATIONS_MICROVERSION = '2.23'


class QuiesceError(Exception):
    """Nova could not be asked (credentials, endpoint, HTTP error)."""


@dataclasses.dataclass(frozen=True, order=True)
class InFlight:
    kind: str      # server or migration
    id: str
    name: str      # the server's name; for a migration, its server
    doing: str     # task_state, or migration type and status
    where: str     # host(s), when nova knows them

    def to_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


def in_flight(servers: Iterable[dict[str, Any]],
              migrations: Iterable[dict[str, Any]]) -> list[InFlight]:
    """What is in flight, from ``GET /servers/detail`` and
    ``GET /os-migrations`` bodies' lists; sorted, so comparable."""
    found = []
    for server in servers:
        task = server.get('OS-EXT-STS:task_state')
        if task:
            found.append(InFlight(
                'server', server['id'], server.get('name') or '',
                f"{task} ({server.get('status')})",
                server.get('OS-EXT-SRV-ATTR:host') or ''))
    for migration in migrations:
        status = (migration.get('status') or '').lower()
        if status not in SETTLED_MIGRATIONS:
            found.append(InFlight(
                'migration', str(migration['id']),
                migration.get('instance_uuid') or '',
                f"{migration.get('migration_type', 'migration')} {status}",
                f"{migration.get('source_compute') or '?'} -> "
                f"{migration.get('dest_compute') or '?'}"))
    return sorted(found)


def describe(items: Iterable[InFlight]) -> str:
    return '; '.join(f'{i.kind} {i.id} {i.name}: {i.doing}'
                     + (f' on {i.where}' if i.where else '')
                     for i in items)


class Nova:
    """The two read calls the gate needs, through a keystoneauth1 adapter
    for the compute service."""

    def __init__(self, adapter: ks_adapter.Adapter) -> None:
        self.adapter = adapter

    @classmethod
    def from_config(cls, argparse: Namespace | None = None) -> Nova:
        """Credentials as the openstack client finds them: ``--os-cloud``
        (clouds.yaml), ``OS_*`` variables, or the ``--os-*`` options parsed
        into ``argparse``."""
        # Imported here: openstacksdk takes a second to import, and only
        # --quiesce needs it.
        import openstack.config
        from openstack import exceptions as sdk_exceptions
        try:
            region = openstack.config.OpenStackConfig().get_one(
                argparse=argparse)
            return cls(ks_adapter.Adapter(
                region.get_session(), service_type='compute',
                interface=region.get_interface('compute'),
                region_name=region.get_region_name('compute'),
                endpoint_override=region.get_endpoint('compute'),
                # A kept-alive connection the server just closed is retried.
                connect_retries=3))
        except (sdk_exceptions.SDKException,
                ks_exceptions.ClientException) as exc:
            raise QuiesceError('no usable Nova credentials (OS_* variables '
                               f'or --os-cloud): {exc}')

    def _get(self, path: str, **kwargs: Any) -> Any:
        try:
            return self.adapter.get(path, **kwargs).json()
        except ks_exceptions.ClientException as exc:
            raise QuiesceError(f'nova: GET {path}: {exc}')
        except ValueError as exc:
            raise QuiesceError(f'nova: GET {path}: not JSON: {exc}')

    def servers(self) -> list[dict[str, Any]]:
        """Every server of every project, page by page."""
        servers, params = [], {'all_tenants': 1}
        while True:
            page = self._get('/servers/detail', params=params)
            servers += page.get('servers', [])
            if not any(link.get('rel') == 'next'
                       for link in page.get('servers_links', ())):
                return servers
            params = {'all_tenants': 1, 'marker': servers[-1]['id']}

    def migrations(self) -> list[dict[str, Any]]:
        return self._get('/os-migrations', headers={
            'OpenStack-API-Version': f'compute {MIGRATIONS_MICROVERSION}',
        }).get('migrations', [])

    def in_flight(self) -> list[InFlight]:
        return in_flight(self.servers(), self.migrations())

    def check(self) -> None:
        """One small call: the credentials, the catalog and nova answer."""
        self._get('/servers/detail', params={'all_tenants': 1, 'limit': 1})


def wait_quiet(check: Callable[[], list[InFlight]], timeout: float,
               interval: float = 2.0,
               on_change: Callable[[list[InFlight]], None] | None = None,
               clock: Callable[[], float] = time.monotonic,
               sleep: Callable[[float], None] = time.sleep) -> list[InFlight]:
    """Call ``check()`` until it finds nothing in flight, or ``timeout``
    seconds pass; returns what is still in flight (empty: quiet).
    ``on_change(items)`` is told each time the list changes."""
    deadline = clock() + timeout
    last = None
    while True:
        items = check()
        if items != last and on_change is not None:
            on_change(items)
        last = items
        if not items or clock() >= deadline:
            return items
        sleep(max(0.0, min(interval, deadline - clock())))
