"""A FlatDHCP database whose rows also hold a second flat network on its own
bridge and a VLAN per project (nova-network plugs each as its row says),
against the real Neutron that already holds the operator's own network,
group and port in the same projects: conflicts stop apply until the
settings confirm the rows; then apply, verify, an empty plan, and a
rollback that leaves the operator's resources as they were."""

import yaml

from freeze.cli import cutover_translate
from tools.novanet import generate
from freeze.translate import keys
from tests.e2e.test_translate_e2e import ADMIN, baseline, run, snapshot


def operators_own(neutron, project, vlan):
    net = neutron.create('networks', {
        'name': 'ops-net', 'project_id': project,
        'provider:network_type': 'vlan',
        'provider:physical_network': 'physnet2',
        'provider:segmentation_id': vlan})
    neutron.create('subnets', {'network_id': net['id'], 'project_id': project,
                               'ip_version': 4, 'cidr': '192.168.50.0/24'})
    group = neutron.create('security-groups', {'name': 'ops',
                                               'project_id': project})
    neutron.create('security-group-rules', {
        'security_group_id': group['id'], 'direction': 'ingress',
        'ethertype': 'IPv4', 'protocol': 'tcp', 'port_range_min': 1,
        'port_range_max': 65535, 'remote_ip_prefix': '0.0.0.0/0'})
    neutron.create('ports', {'network_id': net['id'], 'project_id': project,
                             'name': 'ops-port',
                             'security_groups': [group['id']]})


def test_mixed_flat_and_vlan_with_operator_resources(neutron, neutron_server,
                                                     tmp_path, capsys):
    gen = generate.generate(f'sqlite:///{tmp_path}/nova.sqlite', ports=18,
                            mixed=True, dangling=False, seed=7)
    for i, project in enumerate(gen.projects[:2]):
        operators_own(neutron, project, 3100 + i)
    before = baseline(neutron)
    settings = {**generate.settings(gen, ADMIN),
                'neutron_url': neutron_server.url}
    conf = tmp_path / 'translate.yaml'
    conf.write_text(yaml.safe_dump({**settings, 'networks': {}}))
    args = ['--settings', str(conf)]

    rc, out = run(capsys, 'diff', *args)
    assert rc == 0
    assert out.count('conflict: networks') == len(gen.vlan_uuids)
    assert 'network_manager is FlatDHCP but the row says VLAN 200' in out
    assert 'apply refuses until the settings say which is right' in out
    rc = cutover_translate.main(['translate', 'apply', *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and 'conflict(s)' in err[0], err
    rc, out = run(capsys, 'verify', *args)
    assert rc == 1 and 'verify: 3 conflict(s)' in out
    assert snapshot(neutron) == before

    conf.write_text(yaml.safe_dump(settings))
    rc, out = run(capsys, 'apply', *args, '--no-progress')
    assert rc == 0, out
    assert 'conflict' not in out
    rc, out = run(capsys, 'verify', *args)
    assert rc == 0, out
    rc, out = run(capsys, 'diff', *args)
    assert 'no change' in out, out
    nets = sorted((n['provider:network_type'], n['provider:physical_network'],
                   n['provider:segmentation_id'], n['mtu'], n['shared'])
                  for n in neutron.list('networks', tags=keys.MARK)
                  if not n['router:external'])
    assert nets == sorted([('flat', 'physnet1', None, 1500, True),
                           ('flat', 'physnet3', None, 1400, True)]
                          + [('vlan', 'physnet2', generate.MIXED_VLAN + i,
                              1450, False) for i in range(len(gen.projects))])
    ops = neutron.list('ports', name='ops-port')
    assert len(ops) == 2 and not any(keys.MARK in p['tags'] for p in ops)

    rc, out = run(capsys, 'rollback', *args, '--no-progress')
    assert rc == 0, out
    assert snapshot(neutron) == before
