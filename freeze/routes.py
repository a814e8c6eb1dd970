"""Nova's compute API as data: what reads, what writes, what changes network state.

One source of truth for the middleware (which classifies live requests) and the
policy overlay generator (which classifies nova's documented policy operations).
Paths are written as nova writes them in its policy documentation, with
``{placeholders}`` for identifiers.
"""

from __future__ import annotations

from collections.abc import Iterable
import dataclasses
import re

READ_METHODS = frozenset({'GET', 'HEAD'})
WRITE_METHODS = frozenset({'POST', 'PUT', 'PATCH', 'DELETE'})

_VERSIONS = frozenset({'v2', 'v2.1'})
# nova's ProjectMapper: the optional ``/{project_id}`` segment is hex and
# dashes only (tests/unit/test_routes.py checks it against the installed nova).
_PROJECT_ID = re.compile(r'[0-9a-f-]+')


def normalise(path: str) -> str:
    """Return ``PATH_INFO`` as nova's router matches it, below the prefixes.

    Repeated and trailing slashes are dropped (nova matches no route with
    them), and the version prefix and the legacy ``/{project_id}`` segment
    are removed, so that every spelling of one route classifies the same.
    Nothing is percent-decoded and dot segments are kept: nova's router
    matches ``PATH_INFO`` exactly as the WSGI server decoded it, so a ``%2F``
    left in it is part of an identifier for nova, and for the filter.
    """
    segments = [s for s in path.split('/') if s]
    if segments and segments[0] in _VERSIONS:
        del segments[0]
    if segments and _PROJECT_ID.fullmatch(segments[0]):
        del segments[0]
    return '/' + '/'.join(segments)


def _template_regex(template: str, subtree: bool) -> re.Pattern:
    pattern = re.sub(r'\\\{[^}]*\\\}', '[^/]+', re.escape(template))
    return re.compile('^' + pattern + ('(/.*)?' if subtree else '') + '$')


@dataclasses.dataclass(frozen=True)
class Route:
    """A set of methods on a path template, optionally narrowed to actions.

    ``subtree`` also covers every path below the template; ``actions`` (server
    action names from the JSON body) narrows an ``.../action`` route.
    """

    methods: frozenset
    template: str
    actions: frozenset = None
    subtree: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, 'regex',
                           _template_regex(self.template, self.subtree))

    def matches_path(self, method: str | None, path: str) -> bool:
        """``method`` None (not known) stands for every method."""
        return ((method is None or method in self.methods)
                and bool(self.regex.match(path)))

    def matches(self, method: str | None, path: str,
                action: str | None) -> bool:
        """True if the request is covered; ``action`` is None when unknown."""
        if not self.matches_path(method, path):
            return False
        return self.actions is None or action is None or action in self.actions


def _writes(template: str) -> Route:
    return Route(WRITE_METHODS, template, subtree=True)


def _one(method: str, template: str,
         actions: Iterable[str] | None = None) -> Route:
    return Route(frozenset({method}), template,
                 actions=frozenset(actions) if actions else None)


SERVER_NETWORK_ACTIONS = frozenset({
    'addFloatingIp', 'removeFloatingIp', 'addFixedIp', 'removeFixedIp',
    'addSecurityGroup', 'removeSecurityGroup', 'migrate', 'resize',
    'confirmResize', 'revertResize', 'os-migrateLive', 'evacuate', 'shelve',
    'shelveOffload', 'unshelve', 'forceDelete',
})

# Calls that change network state: blocked in ``network`` mode.
NETWORK_CHANGES = (
    _one('POST', '/servers'),
    _one('DELETE', '/servers/{server_id}'),
    _one('POST', '/servers/{server_id}/os-interface'),
    _one('DELETE', '/servers/{server_id}/os-interface/{port_id}'),
    _one('POST', '/servers/{server_id}/action', SERVER_NETWORK_ACTIONS),
    _one('POST', '/servers/{server_id}/migrations/{migration_id}/action',
         {'force_complete'}),
    _one('DELETE', '/servers/{server_id}/migrations/{migration_id}'),
    _writes('/os-security-groups'),
    _writes('/os-security-group-rules'),
    _writes('/os-floating-ips'),
    _writes('/os-networks'),
    _writes('/os-tenant-networks'),
    _writes('/os-volumes_boot'),
)



def _collection(path: str) -> str:
    """First segment of a normalised path: the key of the route index."""
    return path.split('/', 2)[1]


_NETWORK_BY_COLLECTION = {}
for _route in NETWORK_CHANGES:
    _NETWORK_BY_COLLECTION.setdefault(_collection(_route.template),
                                      []).append(_route)


def _network_routes(method: str, path: str) -> tuple[Route, ...]:
    if method is not None and method not in WRITE_METHODS:
        return ()
    return _NETWORK_BY_COLLECTION.get(_collection(path), ())


# Legacy GETs that act: nova (microversions up to 2.42) reboots, shuts down
# or starts a host on these.  The freeze counts them as writes.
ACTING_READS = (
    _one('GET', '/os-hosts/{host_name}/reboot'),
    _one('GET', '/os-hosts/{host_name}/shutdown'),
    _one('GET', '/os-hosts/{host_name}/startup'),
)


def is_read(method: str, path: str) -> bool:
    """True for GET and HEAD, except the legacy GETs that change things."""
    if method not in READ_METHODS:
        return False
    return not (path.startswith('/os-hosts/') and any(
        route.matches_path('GET', path) for route in ACTING_READS))


def needs_action(method: str, path: str) -> bool:
    """True if classifying this request needs the action name from its body."""
    return any(route.actions is not None and route.matches_path(method, path)
               for route in _network_routes(method, path))


def changes_network(method: str, path: str, action: str | None = None) -> bool:
    """True if the call may change network state.

    ``action`` is the server action from the JSON body, or None when it is not
    known (an unparseable body): then every action counts, failing closed.
    Likewise a ``method`` of None (not known) counts as every write method.
    """
    return any(route.matches(method, path, action)
               for route in _network_routes(method, path))


def is_version_document(method: str, path: str) -> bool:
    """``GET /`` and ``GET /versions/{id}``: answered in every mode."""
    return method == 'GET' and (
        path == '/' or (path.startswith('/versions/') and path.count('/') == 2))


_OPERATION_PATH = re.compile(
    r'^(?P<path>/[^\s()]*)(?:\s+\((?P<action>[^\s()]+)\))?$')
_PLACEHOLDER = re.compile(r'\{[^{}]*\}')


def operation_request(operation: dict[str, str],
                      identifier: str) -> tuple[str, str, str | None]:
    """The (method, path, action) a documented policy operation stands for.

    nova documents a server action as ``/servers/{server_id}/action (reboot)``:
    the name in brackets is the action from the body.  Placeholders become
    ``identifier`` and the path is normalised as a live request's is, so the
    policy overlay classifies nova's operations with the middleware's tables.
    """
    method = str(operation.get('method') or '').strip().upper()
    match = _OPERATION_PATH.match(str(operation.get('path') or '').strip())
    if not method or match is None:
        raise ValueError(f'policy operation not understood: {operation!r}')
    path = normalise(_PLACEHOLDER.sub(identifier, match.group('path')))
    return method, path, match.group('action')
