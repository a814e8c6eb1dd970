"""The read-only Neutron v2.0 API: a WSGI app over the loader's Index.

``GET /`` (versions), ``/v2.0`` (resources), ``/v2.0/extensions[/alias]``,
``/v2.0/<collection>[/<id>]`` (optionally ``.json``) for networks, subnets,
ports, floatingips, security-groups, security-group-rules and routers, and
``/v2.0/<collection>/<id>/tags[/<tag>]``. Every write (POST, PUT, DELETE,
PATCH) there, and to the routers' interface actions, answers 503 with a
NeutronError body saying that network state is frozen for the migration,
and Retry-After; other methods 405. Errors have Neutron's shape and types;
bad input (bytes that are not UTF-8, an unknown marker) is a 400 or 404 as
Neutron answers, never a 500. Behind auth_token, a caller without one of
``all_projects_roles`` sees what Neutron's default policy shows a project
member: its project's resources and the shared and external networks.
Mounted at ``/`` or (paste urlmap) at ``/v2.0``:
the path is read from SCRIPT_NAME + PATH_INFO.

Paste: ``paste.app_factory = freeze.proxy.app:app_factory``; the composite
``call:freeze.proxy.app:pipeline_factory`` picks the keystone or noauth
pipeline by ``[proxy] auth_strategy`` (as Neutron's own does).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from typing import Any

import webob
from oslo_config import cfg

from freeze import identity
from freeze.proxy import conf as proxy_conf
from freeze.proxy import extensions, index, query, view
from freeze.proxy import loader as loader_mod
from freeze.proxy.query import ApiError
from freeze.translate.neutron import COLLECTIONS
from freeze.translate.settings import Settings, SettingsError

READS = frozenset({'GET', 'HEAD'})
WRITES = frozenset({'POST', 'PUT', 'DELETE', 'PATCH'})
#: collection -> (error type, message) of Neutron's 404 for an unknown id
NOT_FOUND = {
    'networks': ('NetworkNotFound', 'Network {} could not be found.'),
    'subnets': ('SubnetNotFound', 'Subnet {} could not be found.'),
    'ports': ('PortNotFound', 'Port {} could not be found.'),
    'routers': ('RouterNotFound', 'Router {} could not be found'),
    'floatingips': ('FloatingIPNotFound', 'Floating IP {} could not be found'),
    'security-groups': ('SecurityGroupNotFound',
                        'Security group {} does not exist'),
    'security-group-rules': ('SecurityGroupRuleNotFound',
                             'Security group rule {} does not exist'),
}
#: PUT-only member actions of the extensions the proxy lists
MEMBER_ACTIONS = {'routers': frozenset({'add_router_interface',
                                        'remove_router_interface'})}
MALFORMED = ('The server could not comply with the request since it is '
             'either malformed or otherwise incorrect.')
FROZEN = ('Network state is frozen for the migration from nova-network to '
          'Neutron: this Neutron API is a read-only view of nova-network. '
          'Retry after the cutover.')
_EXTENSIONS = {e['alias']: e for e in extensions.EXTENSIONS}


def _not_found(message: str = 'The resource could not be found.'
               ) -> ApiError:
    return ApiError(404, 'HTTPNotFound', message)


class ProxyApp:
    def __init__(
            self, loader: loader_mod.Loader, retry_after: int = 300,
            all_projects_roles: Iterable[str] = ('admin', 'service')) -> None:
        self.loader = loader
        self.retry_after = retry_after
        self.all_projects_roles = frozenset(
            r.lower() for r in all_projects_roles)

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> list[bytes]:
        request = webob.Request(environ)
        headers = []
        try:
            try:
                status, body = self._dispatch(request)
            except UnicodeDecodeError:   # in the path or the query string
                raise ApiError(400, 'HTTPBadRequest', MALFORMED) from None
        except ApiError as exc:
            status = exc.status
            body = {'NeutronError': {'type': exc.type,
                                     'message': exc.message, 'detail': ''}}
            if status == 503:
                headers.append(('Retry-After', str(self.retry_after)))
            elif status == 405:
                headers.append(('Allow', 'GET, HEAD'))
        payload = b'' if body is None else json.dumps(body).encode()
        start_response(f'{status} {webob.util.status_reasons[status]}', [
            ('Content-Type', 'application/json'),
            ('Content-Length', str(len(payload))), *headers])
        return [] if request.method == 'HEAD' else [payload]

    def _dispatch(self, request: webob.Request) -> tuple[int, dict | None]:
        path = request.script_name + request.path_info
        segments = [s for s in path.split('/') if s]
        if segments:
            segments[-1] = segments[-1].removesuffix('.json')
        method = request.method
        if method not in READS | WRITES or (method in WRITES
                                            and not segments):
            raise ApiError(405, 'HTTPMethodNotAllowed', MALFORMED)
        if not segments:
            return 200, self._versions(request)
        if segments[0] != 'v2.0':
            raise _not_found()
        route = segments[1:]
        if route and route[0] in COLLECTIONS and len(route) <= 2:
            if method in WRITES:
                raise ApiError(503, 'ServiceUnavailable', FROZEN)
            return 200, self._resource(request, *route)
        if route and route[0] in COLLECTIONS and (
                len(route) == 3 and route[2] in MEMBER_ACTIONS.get(
                    route[0], ())):
            if method != 'PUT':
                raise ApiError(405, 'HTTPMethodNotAllowed', MALFORMED)
            raise ApiError(503, 'ServiceUnavailable', FROZEN)
        if route and route[0] in COLLECTIONS and len(route) in (3, 4) and (
                route[2] == 'tags' and 'tags' in view.FIELDS[route[0]]):
            if method in WRITES:
                raise ApiError(503, 'ServiceUnavailable', FROZEN)
            return self._tags(request, route[0], route[1], *route[3:])
        if method in WRITES:
            raise _not_found()
        if not route:
            return 200, self._resources(request)
        if route[0] == 'extensions' and len(route) == 1:
            return 200, {'extensions': list(extensions.EXTENSIONS)}
        if route[0] == 'extensions' and len(route) == 2:
            if route[1] not in _EXTENSIONS:
                raise _not_found(
                    f'Extension with alias {route[1]} does not exist')
            return 200, {'extension': _EXTENSIONS[route[1]]}
        raise _not_found()

    def _versions(self, request: webob.Request) -> dict:
        return {'versions': [{'id': 'v2.0', 'status': 'CURRENT', 'links': [
            {'href': f'{request.host_url}/v2.0/', 'rel': 'self'}]}]}

    def _resources(self, request: webob.Request) -> dict:
        return {'resources': [
            {'name': one, 'collection': many, 'links': [
                {'href': f'{request.host_url}/v2.0/{many}', 'rel': 'self'}]}
            for many, one in COLLECTIONS.items()]}

    def _resource(self, request: webob.Request, collection: str,
                  id: str | None = None) -> dict:
        items, visible = self._view(request, collection)
        params = list(request.GET.items())
        fields = tuple(dict.fromkeys(v for k, v in params
                                     if k == 'fields' and v))
        if id is not None:
            obj = self._one(items, visible, collection, id)
            return {COLLECTIONS[collection]: _fields(obj, fields)}
        q = query.parse(collection, params)
        if q.marker:    # Neutron looks the marker up first
            self._one(items, visible, collection, q.marker)
        page = items.select(q, visible)
        key = collection.replace('-', '_')
        body = {key: [_fields(o, fields) for o in page]}
        if q.limit:
            body[f'{key}_links'] = query.links(request.path_url, params,
                                               page, q)
        return body


    def _view(self, request: webob.Request, collection: str,
              ) -> tuple[index.Collection, Callable[[dict], bool] | None]:
        """The collection's index and, for a caller scoped to a project,
        what it may see (None: everything)."""
        current = self.loader.current
        if current is None:
            raise ApiError(503, 'ServiceUnavailable',
                           'nova-network\'s state is not loaded yet')
        project = self._project(request.environ)
        return current.collections[collection], (
            None if project is None else current.visible(collection,
                                                         project))

    @staticmethod
    def _one(items: index.Collection, visible: Callable[[dict], bool] | None,
             collection: str, id: str) -> dict:
        obj = items.by_id.get(id)
        if obj is None or (visible and not visible(obj)):
            error, message = NOT_FOUND[collection]
            raise ApiError(404, error, message.format(id))
        return obj

    def _tags(self, request: webob.Request, collection: str, id: str,
              tag: str | None = None) -> tuple[int, dict | None]:
        """Neutron's tag sub-resource: the list, or 204 if the tag is
        there."""
        obj = self._one(*self._view(request, collection), collection, id)
        if tag is None:
            return 200, {'tags': obj['tags']}
        if tag not in obj['tags']:
            raise ApiError(404, 'TagNotFound', f'Tag {tag} could not be '
                           'found.')
        return 204, None

    def _project(self, environ: dict) -> str | None:
        """The project whose view the caller gets; None for every project:
        no identity at all (the noauth pipeline) or a role in
        ``all_projects_roles``. Only what auth_token confirmed counts."""
        caller = identity.caller(environ)
        if caller is None or caller.roles & self.all_projects_roles:
            return None
        return caller.project_id or ''


def _fields(obj: dict, fields: tuple[str, ...]) -> dict:
    if not fields:
        return obj
    return {f: obj[f] for f in fields if f in obj}


# -- paste ---------------------------------------------------------------

_LOADER: loader_mod.Loader | None = None
_LOADER_LOCK = threading.Lock()


def shared_loader(conf: cfg.ConfigOpts) -> loader_mod.Loader:
    """The process's one loader (started): the versions and v2.0 apps of
    the paste file share it, and each gunicorn worker has its own."""
    global _LOADER
    with _LOADER_LOCK:
        if _LOADER is None:
            settings = Settings.load(conf.proxy.settings)
            url = conf.proxy.source_url or settings.source
            if not url:
                raise SettingsError(
                    'no nova database: [proxy] source_url or the '
                    'settings\' source')
            _LOADER = loader_mod.Loader(
                url, settings, conf.proxy.poll_interval,
                conf.proxy.full_refresh_interval).start()
        return _LOADER


def app_factory(global_conf: dict[str, str], **local_conf: str) -> ProxyApp:
    """Paste app: the API over ``[proxy]`` of the loaded configuration."""
    proxy_conf.register_opts(cfg.CONF)
    return ProxyApp(shared_loader(cfg.CONF), cfg.CONF.proxy.retry_after,
                    cfg.CONF.proxy.all_projects_roles)


def pipeline_factory(loader: Any, global_conf: dict[str, str],
                     **local_conf: str) -> Any:
    """Paste composite: the pipeline named by ``[proxy] auth_strategy``."""
    proxy_conf.register_opts(cfg.CONF)
    names = local_conf[cfg.CONF.proxy.auth_strategy].split()
    app = loader.get_app(names[-1])
    for name in reversed(names[:-1]):
        app = loader.get_filter(name)(app)
    return app
