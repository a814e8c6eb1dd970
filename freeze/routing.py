"""What nova's router will act on: a request's effective method and path.

nova routes with ``routes.middleware.RoutesMiddleware(...,
use_method_override=True)``, which replaces ``REQUEST_METHOD`` with a
``_method`` parameter from the query string or from a form-encoded POST body
before it matches a route.  The freeze must decide on that method, not on the
one the client put on the request line.  Rather than re-describe those rules,
the filter runs routes' own code on the request: a ``RoutesMiddleware`` built
like nova's, whose mapper only records the method it is asked to match.
``tests/unit/test_routing_differential.py`` compares the result with what
nova's real router resolves, for every route in nova's route list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from routes import middleware as routes_middleware
from typing import Any

from freeze import routes

_METHOD_KEY = 'nova_freeze.routed_method'


class _MethodProbe:
    """Stands in for nova's mapper: notes the method a route would be
    matched with (routes restores the original before calling the app)."""

    # RoutesMiddleware ends with ``del mapper.environ``; a no-op deleter
    # spares it the AttributeError it would otherwise catch on every call.
    environ = property(lambda self: None, None, lambda self: None)

    def routematch(self, url: str | None = None,
                   environ: dict[str, Any] | None = None) -> None:
        environ[_METHOD_KEY] = environ['REQUEST_METHOD']
        return None


def _no_app(environ: dict[str, Any],
            start_response: Callable[..., Any]) -> Iterable[bytes]:
    return ()


# As nova.api.wsgi.Router builds it, around a probe instead of nova's mapper.
# singleton=False keeps it free of routes' thread-local request config.
_PROBE = routes_middleware.RoutesMiddleware(
    _no_app, _MethodProbe(), use_method_override=True, singleton=False)
# Its "No route matched" would mislead in nova's debug log: nova's own
# router logs what it matches.
_PROBE.log_debug = False


def effective_method(environ: dict[str, Any]) -> str | None:
    """The method nova's router will match, or None if it cannot be told.

    None when routes' own parsing fails on this request (a form body in a
    charset webob refuses, a broken multipart body...): nova would fail on it
    the same way, and the freeze treats it as a write.  Like nova's, the
    probe sets ``wsgiorg.routing_args``, ``routes.route`` and ``routes.url``
    (no route); nova's router sets them again.
    """
    try:
        _PROBE(environ, None)
    except Exception:  # whatever routes/webob raise, nova would raise too
        environ.pop(_METHOD_KEY, None)
        return None
    return environ.pop(_METHOD_KEY)


def request_target(environ: dict[str, Any]) -> tuple[str, str]:
    """``(method, path)`` as nova's router will act on them: the effective
    method (None when unknown) and the normalised ``PATH_INFO``."""
    return (effective_method(environ),
            routes.normalise(environ.get('PATH_INFO', '')))
