"""nova-network -> Neutron against a real Neutron 29: generate, apply,
verify, change the source, apply the delta, roll back to where it was."""

import pytest
import yaml

from freeze.cli import cutover_translate
from freeze.novanet import model, source
from tools.novanet import generate
from freeze.translate import fromnova, keys
from freeze.translate.apply import apply
from freeze.translate.changes import diff
from freeze.translate.desired import Desired
from freeze.translate.held import fetch
from freeze.translate.settings import Settings

ADMIN = 'ad' * 16


def snapshot(neutron):
    """Neutron's state, ids and timestamps aside."""
    def strip(obj):
        return {k: v for k, v in obj.items() if k not in (
            'id', 'created_at', 'updated_at', 'revision_number',
            'security_group_id', 'remote_group_id', 'network_id',
            'subnets', 'security_group_rules', 'tenant_id')}
    out = {}
    for collection in ('networks', 'subnets', 'ports', 'routers',
                       'floatingips', 'security-groups'):
        items = neutron.list(collection)
        out[collection] = sorted(repr(sorted(strip(o).items()))
                                 for o in items)
    out['rules'] = sorted(
        (g['project_id'], g['name'], r['direction'], r['ethertype'],
         str(r['protocol']), r['remote_group_id'] == g['id'])
        for g in neutron.list('security-groups')
        for r in g['security_group_rules'])
    return out


def baseline(neutron):
    """Neutron's state before a run. Neutron gives a project its default
    group with its first network, whoever makes it: the admin project's,
    which owns the shared networks and keeps the group, is made first."""
    net = neutron.create('networks', {
        'name': 'baseline', 'project_id': ADMIN,
        'provider:network_type': 'vlan',
        'provider:physical_network': 'physnet2',
        'provider:segmentation_id': 3001})
    neutron.delete('networks', net['id'])
    return snapshot(neutron)


def run(capsys, *argv):
    rc = cutover_translate.main(['translate', *argv])
    return rc, capsys.readouterr().out


def test_apply_verify_delta_rollback(neutron, neutron_server, tmp_path,
                                     capsys):
    # Something Neutron held before, owned by the admin project: untouched.
    neutron.create('networks', {
        'name': 'pre-existing', 'project_id': ADMIN,
        'provider:network_type': 'vlan',
        'provider:physical_network': 'physnet2',
        'provider:segmentation_id': 3000})
    gen = generate.generate(f'sqlite:///{tmp_path}/nova.sqlite', ports=24)
    conf = tmp_path / 'translate.yaml'
    conf.write_text(yaml.safe_dump({
        **generate.settings(gen, ADMIN), 'neutron_url': neutron_server.url,
        'workers': 3, 'bulk_size': 8}))
    args = ['--settings', str(conf)]
    before = snapshot(neutron)

    rc, out = run(capsys, 'apply', *args, '--no-progress')
    assert rc == 0, out
    assert 'problem(s)' in out and 'MAC fa:16:3e:00:00:01 already used' in out
    rc, out = run(capsys, 'verify', *args)
    assert rc == 0, out
    rc, out = run(capsys, 'diff', *args)
    assert 'no change' in out

    # nova keeps working while the API is live: a boot, a release, a rule.
    project = gen.projects[0]
    groups = gen.group_ids[project]
    settings = Settings.load(str(conf))
    nova = model.build(source.read(gen.url))
    released = next(f.address for f in nova.floating_ips if f.port)
    generate.add_instance(gen.url, project, gen.network_ids[0], 'compute-2',
                          [groups['default'], groups['web']])
    generate.release_floating_ip(gen.url, released)
    generate.add_rule(gen.url, groups['web'], 'tcp', 8080, 8080,
                      '192.168.0.0/16')
    rc, out = run(capsys, 'verify', *args)
    assert rc == 1
    assert f'extra in Neutron: floatingip fip:{released}' in out
    plan = diff(fromnova.desired(gen.url, settings), fetch(neutron))
    assert plan.counts() == {'rule': {'create': 1}, 'port': {'create': 1},
                             'floatingip': {'delete': 1}}
    rc, out = run(capsys, 'apply', *args, '--no-progress')
    assert rc == 0, out
    rc, out = run(capsys, 'verify', *args)
    assert rc == 0, out

    rc, out = run(capsys, 'rollback', *args, '--no-progress')
    assert rc == 0, out
    assert snapshot(neutron) == before


def test_bulk_conflict_is_bisected_and_reported(neutron, neutron_server,
                                                tmp_path):
    gen = generate.generate(f'sqlite:///{tmp_path}/nova.sqlite', ports=6,
                            projects=1, dangling=False)
    settings = Settings.parse({**generate.settings(gen, ADMIN),
                             'neutron_url': neutron_server.url})
    wanted = fromnova.desired(gen.url, settings)
    # A crash in the middle of the first apply; the next one converges.
    def crash(n, done=[0]):
        done[0] += n
        if done[0] > 25:
            raise KeyboardInterrupt('operator lost patience')
    actual = fetch(neutron)
    with pytest.raises(KeyboardInterrupt):
        apply(diff(wanted, actual), neutron, actual,
              workers=2, bulk_size=4, progress=crash)
    assert not converge_to(wanted, neutron).failures
    assert not diff(wanted, fetch(neutron))
    assert len(neutron.list('ports', tags=keys.MARK)) == len(
        wanted.resources['port'])  # no duplicate
    # Two ports gone; someone else took the address of one of them.
    ports = sorted(neutron.list('ports', tags=keys.MARK,
                                device_owner='compute:nova'),
                   key=lambda p: p['mac_address'])[:2]
    for port in ports:
        neutron.delete('ports', port['id'])
    thief = neutron.create('ports', {
        'network_id': ports[0]['network_id'], 'project_id': ADMIN,
        'fixed_ips': [{'ip_address': ports[0]['fixed_ips'][0]['ip_address'],
                       'subnet_id': ports[0]['fixed_ips'][0]['subnet_id']}]})
    actual = fetch(neutron)
    plan = diff(wanted, actual)
    assert plan.counts()['port'] == {'create': 2}
    result = apply(plan, neutron, actual, workers=2, bulk_size=2)
    failed = [(key, message) for kind, key, message in result.failures
              if kind == 'port']
    assert len(failed) == 1 and 'IP address' in failed[0][1], failed
    left = diff(wanted, fetch(neutron)).items
    assert [c.key for c in left if c.kind == 'port'] == [failed[0][0]]
    neutron.delete('ports', thief['id'])
    assert not converge_to(wanted, neutron).failures
    assert not converge_to(Desired.empty(), neutron).failures
    assert not neutron.list('ports', tags=keys.MARK)


def converge_to(wanted, neutron):
    actual = fetch(neutron)
    return apply(diff(wanted, actual), neutron, actual)


def test_crash_before_tagging_a_described_group(neutron, neutron_server,
                                                tmp_path, monkeypatch):
    """A group keeping nova's description dies created but untagged (the
    reply lost): the next apply finds it again, no duplicate."""
    gen = generate.generate(f'sqlite:///{tmp_path}/nova.sqlite', ports=1,
                            projects=1, hosts=1, dangling=False, seed=3)
    settings = Settings.parse({**generate.settings(gen, ADMIN),
                             'floating_pools': {}})
    wanted = fromnova.desired(gen.url, settings)
    before = baseline(neutron)

    def create(collection, body, real=neutron.create):
        obj = real(collection, body)
        if collection == 'security-groups':
            raise KeyboardInterrupt('the reply is lost')
        return obj
    monkeypatch.setattr(neutron, 'create', create)
    with pytest.raises(KeyboardInterrupt):
        converge_to(wanted, neutron)
    monkeypatch.undo()
    assert not converge_to(wanted, neutron).failures
    assert not diff(wanted, fetch(neutron))
    groups = neutron.list('security-groups', project_id=gen.projects[0])
    assert sorted((g['name'], g['description']) for g in groups) == sorted(
        (r.body['name'], r.body.get('description', 'Default security group'))
        for r in wanted.resources['security_group'].values())
    assert not converge_to(Desired.empty(), neutron).failures
    assert snapshot(neutron) == before


def test_local_neutron_has_the_stock_default_rule_templates(neutron):
    """As Neutron's migration inserts them: a project's default group gets
    ingress from itself and egress to anywhere, a new group the egress."""
    templates = neutron.list('default-security-group-rules')
    assert sorted((t['direction'], t['ethertype'], t['remote_group_id'],
                   t['used_in_default_sg'], t['used_in_non_default_sg'],
                   t['description']) for t in templates) == sorted(
        [('egress', e, None, True, True,
          'Legacy default SG rule for egress traffic')
         for e in ('IPv4', 'IPv6')]
        + [('ingress', e, 'PARENT', True, False,
            'Legacy default SG rule for ingress traffic')
           for e in ('IPv4', 'IPv6')])
