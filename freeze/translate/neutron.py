"""A thin Neutron v2.0 client: the few calls the translation makes.

keystoneauth1 does identity (a real session, or ``noauth`` against a test
Neutron); requests/urllib3 keep connections alive and are shared by the
worker threads. Client errors (4xx) raise NeutronError with Neutron's own
message, so callers can report a rejected item and carry on.
"""

from __future__ import annotations

from typing import Any

from keystoneauth1 import adapter, noauth, session as ks_session

#: collection path -> singular body key
COLLECTIONS = {
    'networks': 'network', 'subnets': 'subnet', 'ports': 'port',
    'security-groups': 'security_group',
    'security-group-rules': 'security_group_rule',
    'routers': 'router', 'floatingips': 'floatingip',
}


class NeutronError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f'HTTP {status}: {message}')
        self.status = status
        self.message = message


class Neutron:
    def __init__(self, session: ks_session.Session,
                 endpoint: str | None = None, region: str | None = None,
                 interface: str = 'public') -> None:
        """Without ``endpoint``, the catalog's network endpoint of
        ``region`` (else of whichever region the catalog lists first)."""
        self._api = adapter.Adapter(
            session, service_type='network', interface=interface,
            region_name=region,
            endpoint_override=endpoint and endpoint.rstrip('/'))

    @classmethod
    def noauth(cls, url: str) -> Neutron:
        """For a Neutron with ``auth_strategy = noauth`` (tests)."""
        return cls(ks_session.Session(auth=noauth.NoAuth()), url)

    def _call(self, method: str, path: str, body: Any = None,
              params: dict | None = None) -> Any:
        response = self._api.request(
            '/v2.0/' + path, method, json=body, params=params,
            raise_exc=False, connect_retries=3)
        if response.status_code >= 400:
            raise NeutronError(response.status_code, _message(response))
        return response.json() if response.content else None

    def list(self, collection: str, **params: Any) -> list[dict]:
        """Every item, following pagination links when the server pages."""
        key = collection.replace('-', '_')
        items, path = [], collection
        while True:
            page = self._call('GET', path, params=params)
            items += page[key]
            nxt = [link['href'] for link in page.get(f'{key}_links', ())
                   if link.get('rel') == 'next']
            if not nxt or not page[key]:
                return items
            path, params = nxt[0].split('/v2.0/', 1)[1], None

    def create(self, collection: str, body: dict) -> dict:
        one = COLLECTIONS[collection]
        return self._call('POST', collection, {one: body})[one]

    def create_bulk(self, collection: str, bodies: list[dict]) -> list[dict]:
        """All or nothing: Neutron rolls the whole request back on error."""
        key = collection.replace('-', '_')
        return self._call('POST', collection, {key: bodies})[key]

    def update(self, collection: str, id: str, body: dict) -> dict:
        one = COLLECTIONS[collection]
        return self._call('PUT', f'{collection}/{id}', {one: body})[one]

    def delete(self, collection: str, id: str) -> None:
        """Deleting what is already gone is success (resumable runs)."""
        try:
            self._call('DELETE', f'{collection}/{id}')
        except NeutronError as exc:
            if exc.status != 404:
                raise

    def set_tags(self, collection: str, id: str, tags: list[str]) -> None:
        self._call('PUT', f'{collection}/{id}/tags', {'tags': tags})

    def router_interface(self, router_id: str, subnet_id: str,
                         add: bool) -> None:
        action = 'add_router_interface' if add else 'remove_router_interface'
        self._call('PUT', f'routers/{router_id}/{action}',
                   {'subnet_id': subnet_id})


def _message(response: Any) -> str:
    try:
        error = response.json()
        return error.get('NeutronError', {}).get('message') or str(error)
    except ValueError:
        return response.text[:500]
