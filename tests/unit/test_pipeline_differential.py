"""The freeze inside nova's whole api-paste pipeline: it blocks what nova runs.

``test_routing_differential`` proves the filter against nova's router alone.
This test loads ``paste/api-paste.ini`` in process, as nova-api does (urlmap
composite with its path, Content-Type and Accept strategies, the legacy v2
wrapper, keystonecontext, the freeze filter, ``APIRouterV21`` and nova's
``wsgi.Resource``, which reads a server action's name from the body), and
records the handler nova's Resource dispatches to instead of running it.
For generated hostile requests it compares, in every mode and for every kind
of caller, the pipeline's answer with the freeze's decision on the handler
nova actually dispatched: a write or network change that nova would run must
have been blocked, and nothing else.

Stand-ins: keystonemiddleware's authtoken (it would ask Keystone about a
token; what it leaves for the rest of the pipeline, confirmed identity
headers and ``keystone.token_info``, is what the stand-in sets); the
filter's watcher, one real file-backed watcher per mode, chosen per request;
and the handlers themselves, which the Resource is stopped from calling.
"""

import io
import itertools
import os
import re

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import pytest

from freeze import decision
from freeze import middleware
from freeze import routes
from freeze.state import document
from freeze.state import file as file_backend
from freeze.state import watch
from tests.helpers import nova_fake_rpc

nova_routes = pytest.importorskip('nova.api.openstack.compute.routes')
paste_deploy = pytest.importorskip('paste.deploy')

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
PROJECT = '0123456789abcdef0123456789abcdef'
MODES = ('full', 'writes', 'network')
CALLERS = [('member',), ('admin',), ('migration',), ('service',)]

PLACEHOLDER = re.compile(r'\{[^}]*\}')
PROJECT_PREFIX = re.compile(r'^/\{project_id:[^}]*\}')
NOVA_ROUTES = sorted((path, method) for path, methods in nova_routes.ROUTE_LIST
                     if isinstance(methods, dict) for method in methods)


class Authtoken:
    """What authtoken leaves after validating a token: the client's identity
    headers dropped, confirmed ones set (roles from ``test.roles``)."""

    def __init__(self, application):
        self.application = application

    def __call__(self, environ, start_response):
        for key in [k for k in environ if k.startswith('HTTP_X_')]:
            del environ[key]
        environ.update({
            'HTTP_X_IDENTITY_STATUS': 'Confirmed', 'HTTP_X_USER_ID': 'u1',
            'HTTP_X_PROJECT_ID': PROJECT,
            'HTTP_X_ROLES': ','.join(environ.pop('test.roles')),
            'keystone.token_info': {}})
        return self.application(environ, start_response)


def authtoken_factory(global_conf, **local_conf):
    return Authtoken


class ModeSwitch:
    """The filters' watcher: one real (unstarted, check_interval 0) watcher
    per state file, so each request reads the state of ``mode``."""

    def __init__(self, directory):
        self.watchers = {}
        for mode in ('thawed',) + MODES:
            path = os.path.join(directory, mode + '.json')
            backend = file_backend.FileBackend(path)
            backend.update(lambda old, mode=mode: old.successor(
                frozen=mode != 'thawed',
                mode=mode if mode != 'thawed' else 'full'),
                'test', document.utcnow())
            self.watchers[mode] = watch.StateWatcher(backend, 'closed', 0)
        self.mode = 'thawed'
        self.settings = []

    def current(self):
        return self.watchers[self.mode].current()


@pytest.fixture(scope='module')
def pipeline(tmp_path_factory):
    """nova's osapi_compute app from paste/api-paste.ini, and the switch and
    recorder the test steers and reads."""
    from oslo_config import fixture as config_fixture
    from nova.api.openstack import wsgi as nova_wsgi
    from nova import conf as nova_conf
    from nova import policy

    directory = tmp_path_factory.mktemp('pipeline')
    switch = ModeSwitch(str(directory))
    with open(os.path.join(REPO, 'paste', 'api-paste.ini')) as f:
        ini = f.read()
    ini = ini.replace('keystonemiddleware.auth_token:filter_factory',
                      f'{__name__}:authtoken_factory')
    ini = ini.replace('freeze.middleware:filter_factory',
                      'freeze.middleware:filter_factory\ncheck_interval = 0')
    assert ini.count(f'{__name__}:authtoken_factory') == 1
    paste_ini = directory / 'api-paste.ini'
    paste_ini.write_text(ini)

    dispatched = []

    def dispatch(resource, method, request, action_args):
        # No route: the version documents' own pipelines, without a freeze.
        dispatched.append((request.environ.get('routes.route'), resource,
                           method))
        return {}

    block = middleware.FreezeMiddleware._block

    def blocked(filt, *args):
        dispatched.append('frozen')
        return block(filt, *args)

    def shared_watcher(settings):
        switch.settings.append(settings)
        return switch

    # nova's configuration parsed (no files), as nova-api has it, and the
    # fake RPC transport its controllers want at construction; both undone
    # afterwards for the rest of the session.
    conf = config_fixture.Config(nova_conf.CONF)
    conf.setUp()
    nova_conf.CONF([], project='nova', default_config_files=[])
    try:
        with nova_fake_rpc(), pytest.MonkeyPatch.context() as patch:
            patch.setattr(middleware, 'shared_watcher', shared_watcher)
            patch.setattr(nova_wsgi.Resource, 'dispatch', dispatch)
            patch.setattr(middleware.FreezeMiddleware, '_block', blocked)
            patch.setattr(middleware.FreezeMiddleware, '_own_failure',
                          lambda *args: pytest.fail('the filter failed'))
            app = paste_deploy.loadapp(f'config:{paste_ini}',
                                       name='osapi_compute')
            # Both pipelines (v2.1 and the legacy v2) hold the filter.
            assert len(switch.settings) == 2
            yield app, switch, dispatched
    finally:
        policy.reset()
        conf.cleanUp()


def make_environ(spelling, roles):
    method, path, query, headers, body = spelling[:5]
    framing = spelling[5] if len(spelling) > 5 else 'length'
    environ = {
        'REQUEST_METHOD': method, 'PATH_INFO': path, 'QUERY_STRING': query,
        'SCRIPT_NAME': '', 'SERVER_NAME': 'nova', 'SERVER_PORT': '8774',
        'HTTP_HOST': 'nova:8774', 'SERVER_PROTOCOL': 'HTTP/1.1',
        'wsgi.url_scheme': 'http', 'wsgi.input': io.BytesIO(body),
        'wsgi.errors': io.StringIO(), 'REMOTE_ADDR': '127.0.0.1',
        'test.roles': roles}
    if framing == 'length' and body:
        environ['CONTENT_LENGTH'] = str(len(body))
    elif framing == 'chunked':  # as gunicorn hands on a chunked body
        environ['wsgi.input_terminated'] = True
    elif framing != 'none':
        environ['CONTENT_LENGTH'] = framing
    for name, value in headers:
        key = name.upper().replace('-', '_')
        environ[key if key in ('CONTENT_TYPE', 'CONTENT_LENGTH')
                else 'HTTP_' + key] = value
    return environ


def run(pipeline, spelling, mode, roles):
    """``'frozen'`` (the freeze's 503), the handler nova dispatched to as
    ``(route, resource, method)``, or None (nova answered without one)."""
    app, switch, dispatched = pipeline
    switch.mode = mode
    del dispatched[:]
    try:
        b''.join(app(make_environ(spelling, roles), lambda *args: None))
    except Exception:  # nova's own bugs (its server answers 500)
        pass
    # The freeze's answer is recorded where it is made: cors turns any
    # answer to an OPTIONS into a 200, webob drops the body of a HEAD's.
    assert len(dispatched) <= 1
    return dispatched[0] if dispatched else None


def handler_facts(handler):
    """What the freeze should decide on for the handler nova dispatched:
    its route's method and path, and every action name it answers to."""
    route, resource, method = handler
    path = PLACEHOLDER.sub('ID', PROJECT_PREFIX.sub('', route.routepath))
    names = [None]
    if route.defaults.get('action') == 'action':
        names = [name for name, meth in resource.wsgi_actions.items()
                 if meth == method]
        assert names, handler
    return route.conditions['method'][0], routes.normalise(path), names


def should_pass(handler, mode, roles, rules):
    method, path, names = handler_facts(handler)
    state = document.FreezeState(epoch=1, frozen=True, mode=mode)
    now = document.utcnow()
    return all(decision.decide(
        decision.RequestFacts(method, path, frozenset(roles), name),
        state, rules, now).allowed for name in names)


def check(pipeline, spelling):
    """Thawed, what nova dispatches; frozen, in every mode and for every
    caller, that exactly the calls the freeze lets through reach it."""
    rules = pipeline[1].settings[0].rules
    handler = run(pipeline, spelling, 'thawed', CALLERS[0])
    for mode, roles in itertools.product(MODES, CALLERS):
        outcome = run(pipeline, spelling, mode, roles)
        if handler is not None and handler[0] is None:
            assert outcome == handler, (spelling, mode, outcome)
            continue
        if handler is None:
            # nova runs nothing for it; the frozen filter must not change
            # that by what it reads.
            assert outcome in (None, 'frozen'), (spelling, mode, outcome)
            continue
        expected = handler if should_pass(handler, mode, roles,
                                          rules) else 'frozen'
        assert outcome == expected, (spelling, mode, roles, handler_facts(
            handler), outcome)
    return handler


# -- server action bodies, as nova's Resource reads them ---------------------

JSON = (('Content-Type', 'application/json'),)
ACTION_BODIES = [
    b'{"reboot": {"type": "SOFT"}}', b'{"addFixedIp": {"networkId": 1}}',
    b' \r\n\t{"addFixedIp": {}}\n ', b'{"add\\u0046ixedIp": {}}',
    b'\xef\xbb\xbf{"addFixedIp": {}}', b'\xef\xbb\xbf{"reboot": {}}',
    '{"addFixedIp": {}}'.encode('utf-16'),
    '{"reboot": {}}'.encode('utf-16-le'),
    '{"addFixedIp": {}}'.encode('utf-32'),
    b'{"reboot": {}, "addFixedIp": {}}', b'{"addFixedIp": {}, "reboot": {}}',
    b'{"addFixedIp": {}, "addFixedIp": {}}', b'{"reboot": 1, "reboot": 2}',
    b'{"reboot": {"addFixedIp": {}}}', b'[{"addFixedIp": {}}]',
    b'["addFixedIp"]', b'"addFixedIp"', b'"a"', b'{}', b'',
    b'{"addFixedIp": {}} {"reboot": {}}', b'{"addFixedIp": {}}\x00',
    b'{"reboot": {"x": "\xff"}}', b'{"\xe9": {}}', b'{"ADDFIXEDIP": {}}',
    b'{"addFixedIp ": {}}', b'{"reboot": NaN}', b'{"os-migrateLive": {}}',
    b'{"shelve": null}', b'{"os-start": null}', b'{"force_complete": null}',
    b'{"addFixedIp": ' + b'[' * 5000 + b']' * 5000 + b'}',
    b'{"a": "\xed\xa0\x80"}', b'_method=POST', b'addFixedIp=1',
]


@pytest.mark.parametrize('body', ACTION_BODIES)
def test_server_action_bodies_freeze_as_nova_dispatches_them(pipeline, body):
    dispatched = [check(pipeline, (method, path, '', JSON, body))
                  for method, path in [
                      ('POST', '/v2.1/servers/s1/action'),
                      ('POST', f'/v2/{PROJECT}/servers/s1/action'),
                      ('PUT', '/v2.1/servers/s1/action?_method=POST'),
                      ('POST', '/v2.1/servers/s1/migrations/1/action')]]
    if body == b'{"addFixedIp": {"networkId": 1}}':
        assert dispatched[0] is not None  # the test compares something


def test_nova_dispatches_the_plain_network_action(pipeline):
    handler = check(pipeline, ('POST', '/v2.1/servers/s1/action', '', JSON,
                               b'{"addFixedIp": {"networkId": 1}}'))
    assert handler_facts(handler) == ('POST', '/servers/ID/action',
                                      ['addFixedIp'])


# -- generated hostile requests ----------------------------------------------

def _sensitive(template, method):
    path = routes.normalise(PLACEHOLDER.sub('ID', PROJECT_PREFIX.sub(
        '', template)))
    return routes.changes_network(method, path) or not (
        routes.is_read(method, path) or method != 'GET')


SENSITIVE = [r for r in NOVA_ROUTES if _sensitive(*r)]
ODD_PREFIXES = st.sampled_from(['/v2', '/v2.1/v2.1', '/v2/v2.1', '//v2.1',
                                '/v2.1/', '/V2.1', '', '/v2.1/v2'])
ODD_PROJECTS = st.sampled_from(['/' + PROJECT.upper(), '/0a1b', '/v2.1',
                                '/p1', '/' + PROJECT + '.json'])
ODD_IDS = st.sampled_from(['x%2Faction', 'x.json', 'a;b', '..', 'action',
                           'reboot', 'é'])
ODD_SUFFIXES = st.sampled_from(['.json', '.xml', '.JSON', ';x=1', '/',
                                '.json;v=1', '%2Ejson'])
ODD_METHODS = st.sampled_from(['GET', 'HEAD', 'OPTIONS', 'POST', 'PUT',
                               'DELETE', 'PATCH', 'post', 'delete'])
ODD_CONTENT_TYPES = st.sampled_from([
    None, 'application/json; charset=latin-1',
    'application/json;version=2.1/x', 'APPLICATION/JSON', 'text/plain', '',
    'application/xml', 'application/x-www-form-urlencoded',
    'application/x-www-form-urlencoded; charset=utf-16'])
ODD_ACCEPTS = st.sampled_from([
    'application/xml', 'application/json;q=0.1', '*/*',
    'application/vnd.openstack.compute+json;version=2.1/+'])
ODD_VERSIONS = st.sampled_from(['compute 2.1', 'compute 2.42',
                                'compute latest', 'compute x'])


@st.composite
def spellings(draw):
    """Mostly requests nova dispatches, each with a few odd parts."""
    def sometimes(odd, usual):
        return draw(odd) if draw(st.integers(0, 4)) == 0 else usual

    template, method = draw(st.one_of(st.sampled_from(SENSITIVE),
                                      st.sampled_from(NOVA_ROUTES)))
    project = draw(st.sampled_from(['', '/' + PROJECT]))
    path = (sometimes(ODD_PREFIXES, '/v2.1')
            + sometimes(ODD_PROJECTS, project)
            + PLACEHOLDER.sub(lambda _: sometimes(ODD_IDS, 's1'), template)
            + sometimes(ODD_SUFFIXES, ''))
    override = draw(st.sampled_from([method, method.lower(), 'GET', 'POST']))
    query = sometimes(st.sampled_from([
        '_method=' + override, '%5Fmethod=' + override,
        '_method=GET&_method=' + override, '_method=', '_method=%FF']), '')
    sent = sometimes(ODD_METHODS, method)
    if query and draw(st.booleans()):
        sent = draw(ODD_METHODS)
    headers = tuple((name, value) for name, value in [
        ('Content-Type', sometimes(ODD_CONTENT_TYPES, 'application/json')),
        ('Accept', sometimes(ODD_ACCEPTS, None)),
        ('OpenStack-API-Version', sometimes(ODD_VERSIONS, None))]
        if value is not None)
    body = draw(st.one_of(
        st.sampled_from(ACTION_BODIES),
        st.sampled_from([b'', b'{"server": {}}',
                         b'_method=' + override.encode(),
                         b'a=1&_method=' + override.encode()])))
    # How the body is framed: chunked, without a length, a wrong one.
    framing = sometimes(st.sampled_from(
        ['chunked', 'none', '0', str(len(body) + 3),
         str(max(len(body) - 3, 0)), '-1', 'x']), 'length')
    return sent, path, query, headers, body, framing


@settings(max_examples=500, deadline=None)
@given(spelling=spellings())
def test_generated_requests_freeze_as_nova_dispatches_them(pipeline,
                                                           spelling):
    check(pipeline, spelling)



def test_an_action_body_nobody_can_read_blocks_only_whom_the_mode_blocks(
        pipeline):
    """A chunked body over sizelimit's maximum: the filter read it and
    failed (fail_mode closed: a 503 for migrators too); now unparseable,
    and a migrator gets nova's own 413."""
    check(pipeline, ('POST', '/v2.1/servers/s1/action', '', JSON,
                     b'{"addFixedIp": "' + b'x' * 120000 + b'"}', 'chunked'))


@pytest.mark.parametrize('content_type', [
    'application/x-www-form-urlencoded', 'APPLICATION/X-WWW-FORM-URLENCODED',
    'application/x-www-form-urlencoded; charset=utf-8',
    'multipart/form-data; boundary=b'])
def test_no_handler_runs_on_a_form_body(pipeline, content_type):
    """routes reads ``_method`` from a form body only under a form
    Content-Type, which nova's Resource refuses (415) before any handler:
    why the filter's cost of parsing such a form (README, benchmark) buys
    no more than routes' exact answer for a request nova never runs."""
    body = b'_method=DELETE'
    if content_type.startswith('multipart'):
        body = (b'--b\r\nContent-Disposition: form-data; name="_method"'
                b'\r\n\r\nDELETE\r\n--b--\r\n')
    for path in ('/v2.1/os-keypairs/kp1', '/v2.1/servers/s1',
                 '/v2.1/flavors/f1'):
        spelling = ('POST', path, '', (('Content-Type', content_type),),
                    body)
        assert check(pipeline, spelling) is None


@pytest.mark.parametrize('header, version', [
    ('Content-Type', 'application/json;version=2.1/x'),
    ('Accept', 'application/json;version=2.1/x'),
    ('Accept', 'application/json;version=2/x')])
def test_api_chosen_by_a_header_freezes_as_nova_dispatches(pipeline, header,
                                                           version):
    """nova's urlmap also picks the API from a ``version`` parameter of the
    Content-Type or Accept header, leaving ``PATH_INFO`` without the
    version prefix."""
    headers = JSON + ((header, version),)
    handlers = [check(pipeline, (method, path, '', headers, body))
                for method, path, body in [
                    ('POST', '/servers/s1/action',
                     b'{"addFixedIp": {"networkId": 1}}'),
                    ('DELETE', f'/{PROJECT}/servers/s1', b''),
                    ('GET', '/os-hosts/h1/reboot', b''),
                    ('GET', '/flavors', b'')]]
    assert all(handlers), handlers  # each reached its handler thawed
