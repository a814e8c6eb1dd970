"""The WSGI filter: identity, classification, nova-style faults, monitoring."""

import dataclasses
import datetime
import json
import logging
import os

from oslo_config import cfg
from oslo_context import context as oslo_context
import pytest
import webob

from freeze import conf as freeze_conf
from freeze import middleware
from freeze.state import document
from freeze.state import file as file_backend
from freeze.state import watch
from tests.helpers import wait_until

NOW = datetime.datetime(2026, 11, 25, 12, tzinfo=datetime.timezone.utc)


class Downstream:
    """Stands in for nova's router: records what reached it."""

    def __init__(self):
        self.calls = []

    def __call__(self, environ, start_response):
        body = webob.Request(environ).body
        self.calls.append((environ['REQUEST_METHOD'], environ['PATH_INFO'],
                           body))
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [b'nova']


@pytest.fixture
def state_path(tmp_path):
    return tmp_path / 'state.json'


@pytest.fixture
def app(state_path):
    conf = cfg.ConfigOpts()
    conf([], project='nova', default_config_files=[])
    settings = freeze_conf.load_settings(
        conf, {'state_url': f'file://{state_path}', 'check_interval': '0'})
    downstream = Downstream()
    # Without the background threads, check_interval=0 means every request
    # reads the file itself: each test sees exactly the state it wrote.
    watcher = watch.StateWatcher(file_backend.FileBackend(str(state_path)),
                                 settings.fail_mode, 0)
    filt = middleware.FreezeMiddleware(downstream, settings, watcher=watcher,
                                       clock=lambda: NOW)
    filt.downstream = downstream
    return filt


def set_state(state_path, **fields):
    backend = file_backend.FileBackend(str(state_path))
    backend.update(lambda old: document.FreezeState(
        epoch=old.epoch + 1, **fields), 'test', NOW)


def call(app, method, path, roles=None, body=None, headers=None,
         script_name='/v2.1', environ=None):
    request = webob.Request.blank(path, method=method,
                                  headers=headers or {})
    request.script_name = script_name
    if roles is not None:
        request.environ['nova.context'] = oslo_context.RequestContext(
            user_id='u1', project_id='p1', roles=list(roles),
            request_id='req-test')
    if body is not None:
        request.body = body if isinstance(body, bytes) else json.dumps(
            body).encode()
        request.content_type = 'application/json'
    request.environ.update(environ or {})
    return request.get_response(app)


def test_thawed_passes_everything(app):
    response = call(app, 'DELETE', '/servers/x', roles=['member'])
    assert response.status_int == 200
    assert app.downstream.calls == [('DELETE', '/servers/x', b'')]


def test_full_freeze_blocks_like_nova(app, state_path):
    set_state(state_path, frozen=True, mode='full', reason='neutron cutover',
              until=NOW + datetime.timedelta(minutes=10))
    response = call(app, 'POST', '/os-keypairs', roles=['member'],
                    body={'keypair': {'name': 'k'}})
    assert response.status_int == 503
    assert response.content_type == 'application/json'
    assert response.headers['Retry-After'] == '600'
    fault = response.json['serviceUnavailable']
    assert fault['code'] == 503
    assert 'full' in fault['message']
    assert 'neutron cutover' in fault['message']
    assert '2026-11-25T12:10:00Z' in fault['message']
    assert app.downstream.calls == []


def test_full_freeze_roles(app, state_path):
    set_state(state_path, frozen=True, mode='full', reason='r')
    assert call(app, 'GET', '/servers', roles=['admin']).status_int == 200
    assert call(app, 'HEAD', '/servers', roles=['admin']).status_int == 200
    assert call(app, 'POST', '/flavors', roles=['admin']).status_int == 503
    assert call(app, 'GET', '/servers', roles=['member']).status_int == 503
    assert call(app, 'POST', '/flavors',
                roles=['member', 'MIGRATION']).status_int == 200
    assert call(app, 'GET', '/', roles=[]).status_int == 200


def test_retry_after_default_without_end(app, state_path):
    set_state(state_path, frozen=True, mode='writes', reason='r')
    response = call(app, 'POST', '/os-keypairs', roles=['member'])
    assert response.headers['Retry-After'] == '300'
    assert 'not set' in response.json['serviceUnavailable']['message']


def test_headers_count_only_when_authtoken_confirmed_them(app, state_path):
    set_state(state_path, frozen=True, mode='full', reason='r')
    spoofed = {'X-Identity-Status': 'Confirmed', 'X-Roles': 'migration'}
    assert call(app, 'POST', '/flavors', headers=spoofed).status_int == 503
    assert call(app, 'POST', '/flavors', headers=spoofed, environ={
        'keystone.token_info': {'token': {}}}).status_int == 200
    invalid = {'X-Identity-Status': 'Invalid', 'X-Roles': 'migration'}
    assert call(app, 'POST', '/flavors', headers=invalid, environ={
        'keystone.token_info': {}}).status_int == 503


def test_nova_context_wins_over_headers(app, state_path):
    set_state(state_path, frozen=True, mode='full', reason='r')
    headers = {'X-Identity-Status': 'Confirmed', 'X-Roles': 'migration'}
    response = call(app, 'POST', '/flavors', roles=['member'],
                    headers=headers,
                    environ={'keystone.token_info': {}})
    assert response.status_int == 503


def test_method_override_headers_are_ignored(app, state_path):
    set_state(state_path, frozen=True, mode='full', reason='r')
    response = call(app, 'POST', '/flavors', roles=['admin'],
                    headers={'X-HTTP-Method-Override': 'GET'})
    assert response.status_int == 503


@pytest.mark.parametrize('path, script_name', [
    ('/servers', '/v2.1'),
    ('/servers/', '/v2.1'),
    ('//servers', '/v2.1'),
    ('/0123456789abcdef0123456789abcdef/servers', '/v2'),
    ('/%73ervers', '/v2.1'),
    ('/v2.1/servers', ''),
])
def test_network_mode_normalises_paths(app, state_path, path, script_name):
    set_state(state_path, frozen=True, mode='network', reason='r')
    response = call(app, 'POST', path, roles=['member'], body={'server': {}},
                    script_name=script_name)
    assert response.status_int == 503


def test_network_mode_reads_the_action_and_keeps_the_body(app, state_path):
    set_state(state_path, frozen=True, mode='network', reason='r')
    assert call(app, 'POST', '/servers/x/action', roles=['admin'],
                body={'migrate': None}).status_int == 503
    response = call(app, 'POST', '/servers/x/action', roles=['admin'],
                    body={'reboot': {'type': 'SOFT'}})
    assert response.status_int == 200
    assert app.downstream.calls == [
        ('POST', '/servers/x/action', b'{"reboot": {"type": "SOFT"}}')]


@pytest.mark.parametrize('body', [b'{not json', b'[]', b'{"a": 1, "b": 2}',
                                  b'', b'\xff\xfe'])
def test_network_mode_fails_closed_on_unreadable_actions(app, state_path,
                                                         body):
    set_state(state_path, frozen=True, mode='network', reason='r')
    assert call(app, 'POST', '/servers/x/action', roles=['admin'],
                body=body).status_int == 503


def test_external_events_from_service_always_pass(app, state_path):
    set_state(state_path, frozen=True, mode='full', reason='r')
    assert call(app, 'POST', '/os-server-external-events',
                roles=['service']).status_int == 200
    assert call(app, 'POST', '/os-server-external-events',
                roles=['member']).status_int == 503


def test_corrupt_state_fails_closed_never_500(app, state_path):
    state_path.write_text('{"frozen": tru')
    response = call(app, 'POST', '/os-keypairs', roles=['member'])
    assert response.status_int == 503
    assert 'cannot be read' in response.json['serviceUnavailable']['message']
    assert call(app, 'POST', '/flavors', roles=['migration']).status_int == 200


@pytest.mark.parametrize('fail_mode, status', [('closed', 503),
                                                ('open', 200)])
def test_a_bug_in_the_filter_follows_fail_mode_never_500(
        app, state_path, monkeypatch, caplog, fail_mode, status):
    set_state(state_path, frozen=True, mode='full')
    monkeypatch.setattr(app, 'settings', dataclasses.replace(
        app.settings, fail_mode=fail_mode))

    def broken(*args):
        raise KeyError('a bug')
    monkeypatch.setattr(middleware.decision, 'decide', broken)
    with caplog.at_level(logging.ERROR, logger='freeze.middleware'):
        response = call(app, 'GET', '/servers', roles=['migration'])
    assert response.status_int == status
    assert len(app.downstream.calls) == (status == 200)
    assert 'Freeze filter failed on GET /servers' in caplog.text
    if status == 503:
        assert response.headers['Retry-After']
        assert 'fails closed' in (
            response.json['serviceUnavailable']['message'])


def test_errors_downstream_are_novas_own(app):
    def nova_fails(environ, start_response):
        raise RuntimeError('nova')
    app.application = nova_fails
    with pytest.raises(RuntimeError, match='nova'):
        call(app, 'GET', '/servers', roles=['member'])


def test_blocked_calls_are_logged(app, state_path, caplog):
    set_state(state_path, frozen=True, mode='full', reason='r')
    with caplog.at_level(logging.WARNING, logger='freeze.middleware'):
        call(app, 'POST', '/os-keypairs', roles=['member'],
             environ={'openstack.request_id': 'req-42'})
    line = caplog.records[-1].getMessage()
    for expected in ('req-42', 'u1', 'p1', 'POST', '/os-keypairs', 'full'):
        assert expected in line


def test_monitor_endpoint(app, state_path):
    set_state(state_path, frozen=True, mode='writes', reason='cut')
    response = call(app, 'GET', '/os-freeze', roles=['admin'])
    assert response.status_int == 200
    assert response.json['freeze']['mode'] == 'writes'
    assert response.json['freeze']['in_force'] is True
    assert call(app, 'GET', '/0123abcd/os-freeze/', roles=['migration'],
                script_name='/v2').status_int == 200
    assert call(app, 'GET', '/os-freeze', roles=['member']).status_int == 403
    assert call(app, 'GET', '/os-freeze', roles=None).status_int == 403
    assert call(app, 'PUT', '/os-freeze', roles=['admin']).status_int == 405
    assert app.downstream.calls == []


def test_filter_factory_reads_paste_overrides(tmp_path, monkeypatch):
    monkeypatch.setattr(cfg, 'CONF', cfg.ConfigOpts())
    cfg.CONF([], project='nova', default_config_files=[])
    make = middleware.filter_factory(
        {}, state_url=f'file://{tmp_path}/s.json',
        migration_roles='Cutover,migration', surprise='x')
    filt = make(Downstream())
    assert filt.rules.migration_roles == {'cutover', 'migration'}
    with pytest.raises(ValueError):
        middleware.filter_factory({}, fail_mode='sometimes')
    with pytest.raises(ValueError):
        middleware.filter_factory({}, allow='not-a-rule')


def call_raw(app, method, path, roles, query='', body=b'', content_type=''):
    """A request spelled exactly as given: raw query string and body."""
    request = webob.Request.blank(path, method=method)
    request.script_name = '/v2.1'
    request.environ['QUERY_STRING'] = query
    request.environ['nova.context'] = oslo_context.RequestContext(
        user_id='u1', project_id='p1', roles=list(roles))
    if body or content_type:
        request.body = body
        request.environ['CONTENT_TYPE'] = content_type
    return request.get_response(app)


@pytest.mark.parametrize('mode, roles, method, path, query, body', [
    # Harmless methods overridden into writes: nova's router acts on the
    # overriding method.
    ('writes', ['member'], 'GET', '/os-keypairs/kp1', '_method=DELETE', b''),
    ('full', ['admin'], 'HEAD', '/flavors/f1', '_method=DELETE', b''),
    ('network', ['member'], 'PUT', '/servers', '_method=POST', b''),
    ('network', ['member'], 'GET', '/servers/s1', '_method=DELETE', b''),
    ('network', ['member'], 'OPTIONS', '/servers/s1/os-interface/p1',
     '_method=DELETE', b''),
    ('network', ['member'], 'PUT', '/servers/s1/action', '_method=POST',
     b'{"addFixedIp": {"networkId": "n1"}}'),
    # Any case of the value; the last _method wins; encoded names count.
    ('writes', ['member'], 'GET', '/os-keypairs/kp1', '_method=dElEtE', b''),
    ('writes', ['member'], 'GET', '/os-keypairs/kp1',
     '_method=GET&_method=DELETE', b''),
    ('writes', ['member'], 'GET', '/os-keypairs/kp1',
     'x_method=1&%5Fmethod=DEL%45TE', b''),
])
def test_method_overrides_are_classified_as_nova_routes_them(
        app, state_path, mode, roles, method, path, query, body):
    set_state(state_path, frozen=True, mode=mode, reason='r')
    response = call_raw(app, method, path, roles, query, body,
                        'application/json' if body else '')
    assert response.status_int == 503
    assert app.downstream.calls == []


def test_a_read_spelled_as_a_write_is_a_read(app, state_path):
    """``POST ...?_method=GET`` is routed as a GET by nova: a read."""
    set_state(state_path, frozen=True, mode='writes', reason='r')
    assert call_raw(app, 'POST', '/os-keypairs', ['member'],
                    '_method=get').status_int == 200
    # An override name that routes does not see leaves the method alone.
    assert call_raw(app, 'POST', '/os-keypairs', ['member'],
                    '%5Fmethod=GET').status_int == 503


@pytest.mark.parametrize('content_type, routed', [
    ('application/x-www-form-urlencoded', True),
    ('multipart/form-data; boundary=b', True),
    # routes accepts any case as a form, webob then parses no fields: nova
    # routes the POST itself, and so does the filter.
    ('Multipart/Form-Data; boundary=b', False),
])
def test_form_body_override(app, state_path, content_type, routed):
    set_state(state_path, frozen=True, mode='full', reason='r')
    body = (b'_method=DELETE' if 'urlencoded' in content_type else
            b'--b\r\nContent-Disposition: form-data; name="_method"\r\n\r\n'
            b'DELETE\r\n--b--\r\n')
    # A form POST overriding to a write: blocked for a reader...
    assert call_raw(app, 'POST', '/flavors/f1', ['admin'], '', body,
                    content_type).status_int == 503
    # ...and overriding to a read passes a reader in full mode.
    as_read = call_raw(app, 'POST', '/flavors/f1', ['admin'], '',
                       body.replace(b'DELETE', b'GET'), content_type)
    assert as_read.status_int == (200 if routed else 503)


def test_undetermined_method_is_a_write(app, state_path):
    """A form body routes cannot parse (webob refuses non-UTF-8 charsets):
    the method nova would route cannot be told, so it counts as a write."""
    set_state(state_path, frozen=True, mode='writes', reason='r')
    form = 'application/x-www-form-urlencoded; charset=latin-1'
    assert call_raw(app, 'POST', '/os-keypairs', ['member'], '',
                    b'_method=GET', form).status_int == 503
    set_state(state_path, frozen=True, mode='network', reason='r')
    assert call_raw(app, 'POST', '/servers/s1/os-interface', ['member'], '',
                    b'_method=GET', form).status_int == 503
    assert call_raw(app, 'POST', '/os-keypairs', ['member'], '',
                    b'_method=GET', form).status_int == 200
    assert call_raw(app, 'POST', '/servers/s1/os-interface', ['migration'],
                    '', b'_method=GET', form).status_int == 200


def test_deeply_nested_action_body_is_unparseable_not_a_failure(
        app, state_path, caplog):
    set_state(state_path, frozen=True, mode='network', reason='r')
    body = b'{"a": ' * 100000 + b'1' + b'}' * 100000
    blocked = call(app, 'POST', '/servers/s1/action', roles=['member'],
                   body=body)
    assert blocked.status_int == 503
    assert 'network state' in blocked.json['serviceUnavailable']['message']
    assert call(app, 'POST', '/servers/s1/action', roles=['migration'],
                body=body).status_int == 200
    assert 'Freeze filter failed' not in caplog.text


def test_the_pipelines_of_a_process_share_one_watcher(tmp_path, monkeypatch,
                                                      caplog):
    """nova's api-paste.ini builds the filter for v2.1 and for legacy v2: a
    process keeps one view and one record, or one pipeline could acknowledge
    an epoch the other does not enforce yet."""
    monkeypatch.setattr(cfg, 'CONF', cfg.ConfigOpts())
    cfg.CONF([], project='nova', default_config_files=[])
    url = f'file://{tmp_path}/state.json'
    make = middleware.filter_factory({}, state_url=url)
    v21, legacy = make(lambda *a: []), make(lambda *a: [])
    assert v21.watcher is legacy.watcher
    other = middleware.filter_factory({}, state_url=url,
                                      heartbeat_interval='1')(lambda *a: [])
    assert other.watcher is v21.watcher
    assert 'different options' in caplog.text
    store = file_backend.FileBackend(str(tmp_path / 'state.json')).ack_store()
    wait_until(lambda: store.records())
    assert [a.pid for a in store.records()] == [os.getpid()]
    v21.watcher.stop()
