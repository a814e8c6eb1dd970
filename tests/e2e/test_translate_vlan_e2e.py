"""VlanManager -> Neutron against the real Neutron: a VLAN network per
project, floating IPs through per-network routers, one shared DHCP address
kept from Neutron's IPAM; apply, verify, roll back to where it was.

Shares the session's Neutron with the FlatDHCP tests, so it keeps off their
flat physnets: its VLANs and its floating pool are on physnet2."""

import sqlalchemy
import yaml

from freeze.novanet import schema
from tools.novanet import generate
from freeze.translate import keys
from tests.e2e.test_translate_e2e import ADMIN, baseline, run


def test_vlan_apply_verify_rollback(neutron, neutron_server, tmp_path,
                                    capsys):
    gen = generate.generate(f'sqlite:///{tmp_path}/nova.sqlite', ports=6,
                            manager='Vlan', projects=2, dangling=False,
                            seed=4)
    # A DHCP address set by hand outside nova's reserved rows: what
    # share_dhcp_address must keep from Neutron's IPAM.
    shared_dhcp = '10.1.0.254'
    engine = sqlalchemy.create_engine(gen.url)
    with engine.begin() as conn:
        conn.execute(schema.networks.update().where(
            schema.networks.c.id == gen.network_ids[0]).values(
                dhcp_server=shared_dhcp))
    engine.dispose()
    settings = generate.settings(gen, ADMIN)
    settings['floating_pools'][generate.FLOATING_POOL]['physnet'] = 'physnet2'
    conf = tmp_path / 'translate.yaml'
    conf.write_text(yaml.safe_dump({
        **settings, 'share_dhcp_address': True,
        'neutron_url': neutron_server.url}))
    args = ['--settings', str(conf)]
    before = baseline(neutron)

    rc, out = run(capsys, 'apply', *args, '--no-progress')
    assert rc == 0, out
    assert 'VLAN network not associated with a project' in out
    rc, out = run(capsys, 'verify', *args)
    assert rc == 0, out
    nets = {p: neutron.list('networks', project_id=p, tags=keys.MARK)
            for p in gen.projects}
    assert {p: [(n['provider:network_type'], n['provider:physical_network'],
                 n['provider:segmentation_id'], n['shared']) for n in ns]
            for p, ns in nets.items()} == {
        p: [('vlan', 'physnet2', 100 + i, False)]
        for i, p in enumerate(gen.projects)}
    (dhcp,) = neutron.list('ports', device_owner='nova-network:dhcp',
                           network_id=nets[gen.projects[0]][0]['id'])
    assert [ip['ip_address'] for ip in dhcp['fixed_ips']] == [shared_dhcp]
    assert neutron.list('routers', project_id=gen.projects[0])
    assert any(f['port_id'] for f in neutron.list(
        'floatingips', project_id=gen.projects[0]))

    rc, out = run(capsys, 'rollback', *args, '--no-progress')
    assert rc == 0, out
    assert baseline(neutron) == before
