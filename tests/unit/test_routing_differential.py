"""The filter sees each request as nova's router will: a differential test.

For generated spellings of requests to every route in nova's route list
(methods, ``_method`` overrides in the query string and in form bodies, in
any case and encoding, project and version prefixes, slashes, dot segments,
percent-encoded identifiers), the filter's ``(method, path)`` must classify
exactly as what nova's real router (``APIRouterV21``: its mapper and its
``RoutesMiddleware``) resolves for the same environ, in every mode, for every
kind of caller.  Where nova resolves nothing (404, a redirect, a 500 from a
body routes cannot parse) no handler runs and the freeze's answer is moot.
"""

import copy
import io
import itertools
import re

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import pytest

from freeze import decision
from freeze import routing
from freeze.state import document
from tests.helpers import nova_fake_rpc

nova_routes = pytest.importorskip('nova.api.openstack.compute.routes')

RULES = decision.Rules(allow=(decision.AllowRule.parse(
    'service:POST:/os-server-external-events'),))
STATES = [document.FreezeState(epoch=1, frozen=True, mode=mode)
          for mode in ('full', 'writes', 'network')]
CALLERS = [frozenset(), frozenset({'member'}), frozenset({'admin'}),
           frozenset({'migration'}), frozenset({'service'})]
ACTIONS = [None, 'addFixedIp', 'reboot', 'force_complete']
NOW = document.utcnow()

# (template, method) for every route nova connects (not its '' redirect).
NOVA_ROUTES = sorted((path, method) for path, methods in nova_routes.ROUTE_LIST
                     if isinstance(methods, dict) for method in methods)
PLACEHOLDER = re.compile(r'\{[^}]*\}')
PROJECT_PREFIX = re.compile(r'^/\{project_id:[^}]*\}')


def classify(method, path):
    """Every decision the freeze can make about one (method, path)."""
    return tuple(
        decision.decide(decision.RequestFacts(method, path, roles, action),
                        state, RULES, NOW).allowed
        for state, roles, action in itertools.product(STATES, CALLERS,
                                                      ACTIONS))


@pytest.fixture(scope='module')
def nova_router():
    """nova's own APIRouterV21, dispatching to a recorder instead of its
    controllers.  Its controllers want an RPC transport at construction:
    oslo.messaging's fake one, as nova's own test fixtures use."""
    with nova_fake_rpc():
        router = nova_routes.APIRouterV21()
    recording = copy.copy(router._router)  # nova's RoutesMiddleware, as built

    def record(environ, start_response):
        environ['test.resolved'] = (environ['routes.route'],
                                    environ['wsgiorg.routing_args'][1])
        return []
    recording.app = record
    router._router = recording
    return router


def resolve(router, environ):
    """``(method, canonical path)`` of the route nova dispatches to, or None.

    The canonical path is the route's template below the project segment,
    with every identifier replaced by a neutral one.
    """
    try:
        router(environ, lambda *args: None)
    except Exception:  # nova answers 500: nothing is dispatched
        return None
    resolved = environ.pop('test.resolved', None)
    if resolved is None or resolved[0] is None:
        return None
    route = resolved[0]
    template = PROJECT_PREFIX.sub('', route.routepath) or '/'
    return (route.conditions['method'][0],
            PLACEHOLDER.sub('ID', template), resolved[1].get('action'))


def make_environ(spelling):
    method, path_info, query, content_type, body = spelling
    environ = {
        'REQUEST_METHOD': method, 'PATH_INFO': path_info,
        'QUERY_STRING': query, 'SCRIPT_NAME': '/v2.1',
        'SERVER_NAME': 'nova', 'SERVER_PORT': '8774',
        'SERVER_PROTOCOL': 'HTTP/1.1', 'wsgi.url_scheme': 'http',
        'wsgi.input': io.BytesIO(body), 'CONTENT_LENGTH': str(len(body)),
    }
    if content_type is not None:
        environ['CONTENT_TYPE'] = content_type
    return environ


def check(router, spelling):
    """The filter, then nova on the same environ (as in the pipeline), and
    nova alone on a fresh copy: same resolution, same classification."""
    environ = make_environ(spelling)
    method, path = routing.request_target(environ)
    resolved = resolve(router, environ)
    assert resolved == resolve(router, make_environ(spelling)), spelling
    if resolved is not None:
        nova_method, nova_path, _ = resolved
        assert classify(method, path) == classify(nova_method, nova_path), (
            spelling, (method, path), resolved)
    return resolved


# -- every route, deterministic hostile spellings ----------------------------

OTHER_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS']
FORM = 'application/x-www-form-urlencoded'


def route_spellings(template, method):
    path = PLACEHOLDER.sub('0a1b', template)
    lower = method.lower()
    project = '/0123456789abcdef0123456789abcdef'
    yield method, path, '', None, b''
    yield method, project + path, '', None, b''
    for odd in ('x%2Faction', '..', 'a%252F', 'é'):
        yield method, PLACEHOLDER.sub(odd, template), '', None, b''
    yield method, path + '/', '', None, b''
    yield method, '/' + path, '', None, b''
    for sent in OTHER_METHODS:
        yield sent, path, '_method=' + lower, None, b''
        yield sent, project + path, '_method=GET&_method=' + method, None, b''
        yield sent, path, 'x_method=1&%5Fmethod=' + method, None, b''
    yield 'POST', path, '', FORM, b'_method=' + lower.encode()
    yield 'POST', path, '', FORM + '; charset=latin-1', (
        b'_method=' + method.encode())
    yield 'POST', path, '_method=' + method, FORM, b'_method=GET'
    yield 'POST', path, '%5Fmethod=' + method, FORM, b'_method=GET'


@pytest.mark.parametrize('template, method', NOVA_ROUTES)
def test_every_nova_route_classifies_as_nova_resolves_it(nova_router,
                                                          template, method):
    resolved = [check(nova_router, spelling)
                for spelling in route_spellings(template, method)]
    # nova matches only upper-case methods and routes no HEAD: these reach
    # no handler (the filter counts them as writes and as reads).
    path = PLACEHOLDER.sub('0a1b', template)
    for sent in (method.lower(), 'HEAD'):
        assert check(nova_router, (sent, path, '', None, b'')) is None
    # Nor any path with repeated or trailing slashes, which the filter drops.
    for odd in (path + '/', '/' + path, path.replace('/', '//')):
        assert check(nova_router, (method, odd, '', None, b'')) is None
    # The plain request reaches the route itself: the test compares
    # something for every route nova has.
    assert resolved[0][:2] == (method, PLACEHOLDER.sub('ID', template))


def test_overrides_resolve_to_the_overriding_method(nova_router):
    for spelling, expected in [
            (('GET', '/os-keypairs/kp1', '_method=DELETE', None, b''),
             ('DELETE', '/os-keypairs/ID')),
            (('HEAD', '/flavors/f1', '_method=DELETE', None, b''),
             ('DELETE', '/flavors/ID')),
            (('PUT', '/servers', '_method=POST', None, b''),
             ('POST', '/servers')),
            (('OPTIONS', '/servers/s1/os-interface/p1', '_method=delete',
              None, b''), ('DELETE', '/servers/ID/os-interface/ID'))]:
        assert check(nova_router, spelling)[:2] == expected
        assert routing.request_target(make_environ(spelling))[0] == (
            expected[0])


# -- generated spellings ---------------------------------------------------

SIMPLE_IDS = st.sampled_from(['0a1b', 'f1', 'kp1', 'deadbeef-01'])
ODD_IDS = st.one_of(
    st.sampled_from(['detail', 'action', 'reboot', '..', '.', 'x%2Faction',
                     'x%2F..%2Fservers', 'kp1.json', '%2e%2e', 'os-interface',
                     'ſ', 'x%00']),
    st.text(st.sampled_from('abcdef0123-._~%2F:@!$&\'()*+,;=é'),
            min_size=1, max_size=6))
METHOD_NAMES = st.sampled_from(['GET', 'HEAD', 'POST', 'PUT', 'DELETE',
                                'PATCH', 'OPTIONS', 'FOO', ''])


def cased(names):
    return names.flatmap(lambda m: st.sampled_from(
        [m, m.lower(), m.title(), m.swapcase()]))


ODD_VALUES = st.sampled_from([
    'DEL%45TE', 'del%65te', 'po%C5%BFt', 'PO%C5%BFT', '%FF', '%ff%fe',
    ' DELETE', 'DELETE%20', 'DELETE+', 'DELETE%00', 'DELETE;x',
    '%E2%80%8BDELETE'])
KEYS = st.sampled_from(['_method', '_method', '_method', '%5Fmethod',
                        '%5fmethod', '_METHOD', '_Method', 'x_method',
                        '_me%74hod', '_method%00', '_method[]', 'method'])
NOISE = st.sampled_from(['_method', 'a=1', '', '=', '&', 'x=%FF'])
FORM_TYPES = [FORM, FORM.upper(), FORM + '; charset=UTF-8',
              FORM + '; charset=latin-1', 'multipart/form-data; boundary=b',
              'Multipart/Form-Data; boundary=b']
CONTENT_TYPES = st.sampled_from(
    [None, None, 'application/json', 'text/plain', ''] + FORM_TYPES)


def params(route_method):
    """0-4 parameters; overrides favour the methods nova has routes for."""
    values = st.one_of(cased(st.just(route_method)), cased(METHOD_NAMES),
                       ODD_VALUES)
    items = st.lists(st.one_of(
        st.tuples(KEYS, values).map(lambda kv: '%s=%s' % kv), NOISE),
        max_size=3)
    last = st.sampled_from([[], []]) | cased(
        st.sampled_from([route_method, route_method, 'GET', 'POST',
                         'DELETE'])).map(lambda m: ['_method=' + m])
    return st.tuples(items, last).map(lambda parts: '&'.join(sum(parts, [])))


def sometimes(draw, odd, usual):
    return draw(odd) if draw(st.integers(0, 3)) == 0 else usual


@st.composite
def spellings(draw):
    """Mostly spellings nova routes, each with a few odd parts."""
    template, method = draw(st.sampled_from(NOVA_ROUTES))
    path = PLACEHOLDER.sub(
        lambda _: sometimes(draw, ODD_IDS, draw(SIMPLE_IDS)), template)
    segments = path.split('/')
    segments.insert(draw(st.integers(1, len(segments))), sometimes(
        draw, st.sampled_from(['', '.', '..', 'x/..', '%2e', '0123abcd']),
        None))
    path = '/'.join(s for s in segments if s is not None)
    prefix = sometimes(draw, st.sampled_from(
        ['/abc-def', '/p1', '/v2.1', '/v2.1/0123abcd', '/ABCDEF', '//']),
        draw(st.sampled_from(['', '/0123456789abcdef0123456789abcdef'])))
    path = prefix + path + sometimes(draw, st.sampled_from(['/', '//']), '')
    sent = draw(st.one_of(st.just(method), METHOD_NAMES,
                          st.sampled_from(['get', 'Post'])))
    content_type = draw(CONTENT_TYPES)
    form = draw(params(method)).encode('utf-8')
    if content_type and content_type.lower().startswith('multipart'):
        name, _, value = form.partition(b'=')
        form = (b'--b\r\nContent-Disposition: form-data; name="%s"\r\n\r\n'
                b'%s\r\n--b--\r\n' % (name, value))
    body = draw(st.sampled_from([b'', form, form, b'{"addFixedIp": {}}']))
    return sent, path, draw(params(method)), content_type, body


@settings(max_examples=1500, deadline=None)
@given(spelling=spellings())
def test_generated_spellings_classify_as_nova_resolves_them(nova_router,
                                                            spelling):
    check(nova_router, spelling)
