"""The translation against a Neutron behind Keystone, as in production:
``nova-cutover translate`` finds it in the catalog with OS_* credentials.

A Neutron of its own (own database, ``auth_strategy = keystone``) on the
session's Keystone; its catalog entry goes with it."""

import openstack.config
import pytest
import yaml

from freeze.cli import cutover_translate
from tools.novanet import generate
from freeze.translate import fromnova, keys
from freeze.translate.neutron import Neutron
from freeze.translate.settings import Settings
from tests.e2e.test_translate_e2e import ADMIN, run
from freeze.window import DEFAULT_DOMAIN
from tools.localcloud import REGION, USERS, call, check_reply
from tools.localneutron import LocalNeutron


@pytest.fixture(scope='module')
def keystone_neutron(cloud, tmp_path_factory):
    """Neutron validating tokens as the admin user, listed in the catalog
    while it runs."""
    password, project, _ = USERS['admin']
    authtoken = {
        'www_authenticate_uri': cloud.keystone_url,
        'auth_url': cloud.keystone_url, 'auth_type': 'password',
        'username': 'admin', 'password': password, 'project_name': project,
        'user_domain_name': DEFAULT_DOMAIN,
        'project_domain_name': DEFAULT_DOMAIN}
    with LocalNeutron(str(tmp_path_factory.mktemp('neutron-keystone')), {
            'DEFAULT': {'auth_strategy': 'keystone'},
            'keystone_authtoken': authtoken}) as server:
        token = cloud.token('admin')

        def admin(method, path, body=None):
            reply = call(method, cloud.keystone_url + path, body, token)
            return check_reply(reply, f'{method} {path}').body

        service = admin('POST', '/services', {'service': {
            'name': 'neutron', 'type': 'network'}})['service']
        try:
            for interface in ('public', 'internal', 'admin'):
                admin('POST', '/endpoints', {'endpoint': {
                    'service_id': service['id'], 'interface': interface,
                    'region_id': REGION, 'url': server.url}})
            yield server
        finally:  # its endpoints go with it
            admin('DELETE', f'/services/{service["id"]}')


def test_cli_with_os_credentials(keystone_neutron, neutron_server, cloud,
                                 tmp_path, capsys, monkeypatch):
    assert call('GET', keystone_neutron.url + '/v2.0/networks').status == 401
    gen = generate.generate(f'sqlite:///{tmp_path}/nova.sqlite', ports=2,
                            projects=1, hosts=1, dangling=False, seed=5)
    conf = tmp_path / 'translate.yaml'
    conf.write_text(yaml.safe_dump({**generate.settings(gen, ADMIN),
                                    'floating_pools': {}}))
    args = ['--settings', str(conf)]
    monkeypatch.delenv('OS_CLOUD', raising=False)
    for name, value in cloud.os_env('admin').items():
        monkeypatch.setenv(name, value)

    rc, out = run(capsys, 'apply', *args, '--no-progress')
    assert rc == 0, out
    rc, out = run(capsys, 'verify', *args)
    assert rc == 0, out
    neutron = Neutron(openstack.config.OpenStackConfig().get_one()
                      .get_session())
    wanted = fromnova.desired(gen.url, Settings.load(str(conf)))
    assert len(neutron.list('ports', tags=keys.MARK)) == len(
        wanted.resources['port'])
    # An endpoint given wins over the catalog's: the session's Neutron,
    # which holds none of it.
    monkeypatch.setenv('OS_NETWORK_ENDPOINT_OVERRIDE', neutron_server.url)
    rc, out = run(capsys, 'verify', *args)
    assert rc == 1 and 'missing in Neutron' in out
    monkeypatch.delenv('OS_NETWORK_ENDPOINT_OVERRIDE')
    rc, out = run(capsys, 'rollback', *args, '--no-progress')
    assert rc == 0, out
    assert not neutron.list('ports', tags=keys.MARK)

    monkeypatch.setenv('OS_PASSWORD', 'wrong')
    assert cutover_translate.main(['translate', 'verify', *args]) == 1
    err = capsys.readouterr().err
    assert 'HTTP 401' in err and err.count('\n') == 1
