"""The proxy's API in process: filters, fields, paging, sorting, Neutron's
error bodies, writes refused."""

import urllib.parse

import pytest
import webob
from hypothesis import HealthCheck, given, settings, strategies as st

from freeze.proxy import app, loader
from freeze.translate.settings import Settings

from tools.novanet import generate

ADMIN = 'ad' * 16


@pytest.fixture(scope='module')
def api(tmp_path_factory):
    path = tmp_path_factory.mktemp('nova') / 'nova.sqlite'
    gen = generate.generate(f'sqlite:///{path}', ports=20, manager='Vlan')
    views = loader.Loader(gen.url,
                          Settings.parse(generate.settings(gen, ADMIN)))
    assert views.refresh()
    return app.ProxyApp(views, retry_after=42)


def call(api, path, method='GET'):
    response = webob.Request.blank(path, method=method).get_response(api)
    assert response.content_type == 'application/json'
    return response.status_code, response.json


def get(api, path):
    status, body = call(api, path)
    assert status == 200, body
    return body


def error(api, path, method='GET'):
    status, body = call(api, path, method)
    return status, body['NeutronError']['type'], body['NeutronError'][
        'message']


def test_documents(api):
    assert get(api, '/')['versions'][0]['id'] == 'v2.0'
    names = {r['collection'] for r in get(api, '/v2.0/')['resources']}
    assert {'ports', 'security-group-rules', 'floatingips'} <= names
    aliases = {e['alias'] for e in get(api, '/v2.0/extensions')['extensions']}
    assert {'router', 'external-net', 'binding', 'security-group',
            'standard-attr-tag', 'pagination', 'sorting'} <= aliases
    assert get(api, '/v2.0/extensions/router.json')['extension']['name'] == (
        'Neutron L3 Router')


def test_show_and_filters(api):
    ports = get(api, '/v2.0/ports')['ports']
    port = next(p for p in ports if p['device_owner'].startswith('compute'))
    assert get(api, f'/v2.0/ports/{port["id"]}.json')['port'] == port
    assert get(api, f'/v2.0/ports?device_id={port["device_id"]}')[
        'ports'] == [port]
    ip = port['fixed_ips'][0]
    for spec in (f'ip_address={ip["ip_address"]}',
                 f'subnet_id={ip["subnet_id"]}'):
        found = get(api, '/v2.0/ports?fixed_ips=' + urllib.parse.quote(spec))
        assert port in found['ports']
    both = get(api, f'/v2.0/ports?device_id={port["device_id"]}'
                    f'&device_id={ports[0]["device_id"]}')['ports']
    assert {p['id'] for p in both} == {port['id'], ports[0]['id']}  # OR
    mine = get(api, f'/v2.0/ports?project_id={port["project_id"]}'
                    f'&network_id={port["network_id"]}&mac_address='
                    f'{port["mac_address"]}')['ports']
    assert mine == [port]                                            # AND
    assert get(api, '/v2.0/ports?device_id=nothing')['ports'] == []
    assert get(api, '/v2.0/ports?device_id=') == get(api, '/v2.0/ports')
    groups = get(api, f'/v2.0/ports?security_groups='
                      f'{port["security_groups"][0]}')['ports']
    assert port in groups


def test_boolean_filters_fields_and_tags(api):
    external = get(api, '/v2.0/networks?router:external=True'
                        '&fields=name&fields=router:external')['networks']
    assert external == [{'name': 'nova', 'router:external': True}]
    internal = get(api, '/v2.0/networks?router:external=false&shared=0')
    assert len(internal['networks']) == 3
    tagged = get(api, '/v2.0/ports?tags=nova-cutover&fields=id')['ports']
    plain = get(api, '/v2.0/ports?not-tags-any=nova-cutover,x')['ports']
    assert {p['device_owner'] for p in plain} == {'network:router_interface'}
    assert len(tagged) + len(plain) == len(get(api, '/v2.0/ports')['ports'])
    assert get(api, '/v2.0/ports?tags-any=x,nova-cutover&fields=id')[
        'ports'] == tagged


def test_pagination_walks_forward_and_back(api):
    everything = [p['id'] for p in get(api, '/v2.0/ports')['ports']]
    seen, url = [], '/v2.0/ports?limit=4&fields=id'
    while True:
        body = get(api, url)
        seen += [p['id'] for p in body['ports']]
        nxt = [l['href'] for l in body['ports_links'] if l['rel'] == 'next']
        if not nxt:
            break
        url = nxt[0].removeprefix('http://localhost')
    assert seen == everything
    assert 'fields=id' in url and 'limit=4' in url
    back = get(api, f'/v2.0/ports?limit=3&marker={everything[5]}'
                    '&page_reverse=True')
    assert [p['id'] for p in back['ports']] == everything[2:5]


def test_sorting(api):
    body = get(api, '/v2.0/ports?sort_key=mac_address&sort_dir=desc'
                    '&fields=mac_address')
    macs = [p['mac_address'] for p in body['ports']]
    assert macs == sorted(macs, reverse=True)


@pytest.mark.parametrize('path, status, type, message', [
    ('/v2.0/ports?bogus=1', 400, 'HTTPBadRequest',
     "['bogus'] is invalid attribute for filtering"),
    ('/v2.0/networks?shared=nope', 400, 'InvalidInput',
     "Invalid input for operation: 'nope' cannot be converted to boolean."),
    ('/v2.0/subnets?ip_version=four', 400, 'InvalidInput',
     "Invalid input for operation: 'four' is not an integer."),
    ('/v2.0/ports?fixed_ips=bogus', 400, 'InvalidInput',
     ("Invalid input for operation: 'bogus' is not of the form "
      '<key>=[value].')),
    ('/v2.0/ports?limit=-1', 400, 'BadRequest',
     ("Bad limit request: Limit must be an integer 0 or greater and not "
      "'-1'.")),
    ('/v2.0/ports?sort_key=id', 400, 'HTTPBadRequest',
     'The number of sort_keys and sort_dirs must be same'),
    ('/v2.0/ports?sort_key=x&sort_dir=asc', 400, 'HTTPBadRequest',
     "['x'] is invalid attribute for sort_keys"),
    ('/v2.0/ports/nope', 404, 'PortNotFound', 'Port nope could not be found.'),
    ('/v2.0/security-groups/x', 404, 'SecurityGroupNotFound',
     'Security group x does not exist'),
    ('/v2.0/nothing', 404, 'HTTPNotFound', 'The resource could not be found.'),
    ('/v3', 404, 'HTTPNotFound', 'The resource could not be found.'),
    ('/v2.0/ports/x/tags', 404, 'PortNotFound', 'Port x could not be found.'),
    ('/v2.0/ports/x/bogus', 404, 'HTTPNotFound',
     'The resource could not be found.'),
    ('/v2.0/security-group-rules/x/tags', 404, 'HTTPNotFound',
     'The resource could not be found.'),
    ('/v2.0/networks/%ff%fe', 400, 'HTTPBadRequest', app.MALFORMED),
    ('/v2.0/networks?name=%ff%fe', 400, 'HTTPBadRequest', app.MALFORMED),
    ('/v2.0/networks?%ff=1', 400, 'HTTPBadRequest', app.MALFORMED),
    ('/v2.0/networks?limit=1&marker=nope', 404, 'NetworkNotFound',
     'Network nope could not be found.'),
    ('/v2.0/routers/x/add_router_interface', 405, 'HTTPMethodNotAllowed',
     app.MALFORMED),
])
def test_bad_input_gets_neutrons_errors(api, path, status, type, message):
    assert error(api, path) == (status, type, message)


@pytest.mark.parametrize('method, path', [
    *((m, '/v2.0/ports/x') for m in ('POST', 'PUT', 'DELETE', 'PATCH')),
    ('PUT', '/v2.0/routers/x/add_router_interface'),
    ('PUT', '/v2.0/routers/x/remove_router_interface'),
    ('PUT', '/v2.0/networks/x/tags'), ('DELETE', '/v2.0/networks/x/tags'),
    ('PUT', '/v2.0/ports/x/tags/a'), ('DELETE', '/v2.0/ports/x/tags/a')])
def test_writes_are_refused_while_frozen(api, method, path):
    response = webob.Request.blank(path, method=method,
                                   body=b'{"port": {}}').get_response(api)
    assert response.status_code == 503
    assert response.headers['Retry-After'] == '42'
    assert response.json['NeutronError']['type'] == 'ServiceUnavailable'
    assert 'frozen for the migration' in response.json['NeutronError'][
        'message']


@pytest.mark.parametrize('method, path', [('OPTIONS', '/v2.0/ports'),
                                          ('POST', '/')])
def test_other_methods_are_not_allowed(api, method, path):
    response = webob.Request.blank(path, method=method).get_response(api)
    assert response.status_code == 405
    assert response.json['NeutronError']['type'] == 'HTTPMethodNotAllowed'
    assert response.headers['Allow'] == 'GET, HEAD'


def test_tags_sub_resource(api):
    port = get(api, '/v2.0/ports?limit=1')['ports'][0]
    assert get(api, f'/v2.0/ports/{port["id"]}/tags') == {'tags': port['tags']}
    response = webob.Request.blank(
        f'/v2.0/ports/{port["id"]}/tags/{port["tags"][0]}').get_response(api)
    assert (response.status_code, response.body) == (204, b'')
    assert error(api, f'/v2.0/ports/{port["id"]}/tags/other') == (
        404, 'TagNotFound', 'Tag other could not be found.')


def test_paging_with_a_known_marker_still_works(api):
    first, second = get(api, '/v2.0/ports?limit=2')['ports']
    assert get(api, f'/v2.0/ports?limit=1&marker={first["id"]}')[
        'ports'] == [second]
    # Without a limit Neutron ignores the marker altogether.
    assert get(api, '/v2.0/ports?marker=nope')['ports']


def test_head_has_no_body(api):
    response = webob.Request.blank('/v2.0/ports',
                                   method='HEAD').get_response(api)
    assert response.status_code == 200 and response.body == b''


def test_mounted_under_v2_by_urlmap(api):
    request = webob.Request.blank('/ports?limit=1')
    request.script_name = '/v2.0'
    assert len(request.get_response(api).json['ports']) == 1


def scoped(api, path, roles, project='', status='Confirmed'):
    """As auth_token leaves a request: its headers and its token data."""
    request = webob.Request.blank(path, headers={
        'X-Identity-Status': status, 'X-Roles': roles,
        'X-Project-Id': project}, environ={'keystone.token_info': {}})
    return request.get_response(api)


def test_members_see_their_project_as_with_neutrons_policy(api):
    ports = get(api, '/v2.0/ports')['ports']
    project = ports[0]['project_id']
    theirs = next(p for p in ports if p['project_id'] != project)
    mine = scoped(api, '/v2.0/ports', 'member,reader', project).json['ports']
    assert mine and {p['project_id'] for p in mine} == {project}
    assert scoped(api, f'/v2.0/ports/{theirs["id"]}', 'member',
                  project).status_code == 404
    networks = scoped(api, '/v2.0/networks', 'member', project).json[
        'networks']
    assert {n['name'] for n in networks if n['project_id'] != project} == {
        'nova'}  # the external network
    subnets = scoped(api, '/v2.0/subnets?fields=network_id', 'member',
                     project).json['subnets']
    assert {s['network_id'] for s in subnets} == {n['id'] for n in networks}
    assert scoped(api, '/v2.0/ports', 'Admin').json == get(api, '/v2.0/ports')
    assert scoped(api, '/v2.0/ports', 'service').json['ports'] == ports
    assert scoped(api, '/v2.0/ports', 'admin', project,
                  status='Invalid').json['ports'] == []
    forged = webob.Request.blank('/v2.0/ports', headers={
        'X-Identity-Status': 'Confirmed', 'X-Roles': 'admin'})
    assert forged.get_response(api).json['ports'] == []  # no auth_token data


_PIECES = st.sampled_from([
    'name', 'id', 'limit', 'marker', 'fields', 'sort_key', 'sort_dir',
    'fixed_ips', 'tags', 'not-tags-any', 'shared', 'mtu', 'page_reverse',
    'ip_address', 'asc', '1', '-1', 'x', '', '=', '%ff', '%fe%80', '%00',
    '%2F', '%3D', '%26', '\u00e9', 'ports', 'networks', 'tags', '..'])


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=st.sampled_from(['GET', 'HEAD', 'PUT', 'DELETE', 'POST']),
       path=st.lists(_PIECES, max_size=5).map('/'.join),
       query=st.lists(st.tuples(_PIECES, _PIECES, _PIECES).map(''.join),
                      max_size=6).map('&'.join))
def test_no_input_is_a_server_error(api, method, path, query):
    """Whatever a client sends, the answer is Neutron's 2xx/4xx/503."""
    request = webob.Request.blank('/')
    request.method = method
    request.environ['PATH_INFO'] = urllib.parse.unquote(
        f'/v2.0/{path}', encoding='latin-1')
    request.environ['QUERY_STRING'] = query
    response = request.get_response(api)
    assert response.status_code < 500 or response.status_code == 503, (
        response.body)
    if response.status_code == 503:
        assert method in app.WRITES
