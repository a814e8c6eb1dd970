"""translate restore: nova-network written straight into Neutron's database,
then a real Neutron 29 started on it and used as if it had made every row
itself. Twice: on sqlite (schema from Neutron's models, stamped at its
heads) and on PostgreSQL migrated by ``neutron-db-manage``
(tools/localneutron.py: all but its MySQL-only migration).

One Neutron start serves each database: the tests run in order on it, each
leaving it converged.
"""

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
import sqlalchemy
import yaml

from freeze.cli import cutover_translate
from freeze.novanet import schema
from tools.novanet import generate
from freeze.translate import fromnova, keys, neutrondb, verify
from freeze.translate.held import fetch
from freeze.translate.neutron import Neutron, NeutronError
from freeze.translate.settings import Settings
from tools.localneutron import LocalNeutron
from tools.localproxy import ProxyServer

ADMIN = 'ad' * 16


def rows(url, skip=()):
    """Every row of every Neutron table, in a comparable form."""
    eng = sqlalchemy.create_engine(url)
    out = {}
    with eng.connect() as conn:
        for name, table in sorted(neutrondb.tables().items()):
            if name not in skip:
                out[name] = sorted(map(repr, conn.execute(
                    sqlalchemy.select(table)).all()))
    eng.dispose()
    return out


def run(capsys, *argv):
    rc = cutover_translate.main(['translate', *argv])
    captured = capsys.readouterr()
    return rc, captured.out + captured.err


@pytest.fixture(scope='module', params=['sqlite', 'postgresql'])
def site(request, tmp_path_factory):
    """A generated FlatDHCP multi_host nova-network (IPv6, floating IPs,
    group rules, dangling rows) and a Neutron database made for it."""
    work = tmp_path_factory.mktemp(f'restore-{request.param}')
    gen = generate.generate(f'sqlite:///{work}/nova.sqlite', ports=24)
    database = None   # LocalNeutron's sqlite file
    if request.param == 'postgresql':
        database = request.getfixturevalue('postgres').create_database(
            'neutron_restore')
    server = LocalNeutron(str(work / 'neutron'), database=database)
    server.prepare()
    conf = work / 'translate.yaml'
    conf.write_text(yaml.safe_dump({**generate.settings(gen, ADMIN),
                                    'neutron_url': server.url}))
    yield gen, server, str(conf), work
    server.stop()


def test_restore_then_neutron_serves_it(site, capsys):
    gen, server, conf, work = site
    db = ['--settings', conf, '--neutron-db', server.database]
    rc, out = run(capsys, 'restore', *db)
    assert rc == 0, out
    assert 'in one transaction' in out
    before = rows(server.database)
    rc, out = run(capsys, 'restore', *db)
    assert rc == 0 and 'no change' in out, out
    assert rows(server.database) == before   # wrote nothing

    server.start()
    neutron = Neutron.noauth(server.url)
    rc, out = run(capsys, 'verify', '--settings', conf)
    assert rc == 0, out
    # What the step-0 proxy served is what the restored Neutron serves.
    with ProxyServer(str(work / 'proxy'), yaml.safe_load(open(conf)),
                     workers=1) as proxy:
        served = fetch(Neutron.noauth(proxy.url))
        device = next(p['device_id'] for p in neutron.list(
            'ports', device_owner='compute:nova'))
        shown, listed = (openstack_port_list(url, device)
                         for url in (proxy.url, server.url))
    real = fetch(neutron)
    assert verify.compare(served, real) == verify.compare(real, served) == []
    assert shown == listed and shown   # even the ids: both are stable

    wanted = fromnova.desired(gen.url, Settings.load(conf))
    ports = neutron.list('ports', tags=keys.MARK,
                         device_owner='compute:nova')
    port = sorted(ports, key=lambda p: p['mac_address'])[0]

    # Neutron works on the restored rows: groups, rules, floating IPs.
    groups = port['security_groups']
    updated = neutron.update('ports', port['id'],
                             {'security_groups': groups[:1]})
    assert updated['security_groups'] == groups[:1]
    assert updated['revision_number'] > port['revision_number']
    # Neutron changed a restored resource (maybe within the very second
    # restore wrote in): it is serving from the database, and that is seen.
    rc, err = refused(capsys, 'restore', *db)
    assert 'serving from this database' in err, err
    rule = neutron.create('security-group-rules', {
        'security_group_id': groups[0], 'direction': 'ingress',
        'ethertype': 'IPv4', 'protocol': 'tcp', 'port_range_min': 9999,
        'port_range_max': 9999, 'remote_ip_prefix': '198.51.100.0/24'})
    fip = next(f for f in neutron.list('floatingips') if f['port_id'])
    assert neutron.update('floatingips', fip['id'],
                          {'port_id': None})['fixed_ip_address'] is None
    again = neutron.update('floatingips', fip['id'],
                           {'port_id': fip['port_id']})
    assert again['fixed_ip_address'] == fip['fixed_ip_address']
    assert again['router_id'] == fip['router_id'] is not None

    # Every restored subnet hands out an address nova never used.
    used = nova_addresses(gen.url)
    fresh = []
    for subnet in neutron.list('subnets', tags=keys.MARK):
        if subnet['ip_version'] != 4:
            continue
        new = neutron.create('ports', {
            'network_id': subnet['network_id'], 'project_id': ADMIN,
            'fixed_ips': [{'subnet_id': subnet['id']}]})
        fresh.append(new)
        address = new['fixed_ips'][0]['ip_address']
        assert address not in used, (subnet['name'], address)
    assert len(fresh) == len([k for k in wanted.resources['subnet']
                              if k.startswith('subnet4:')])

    # A deleted restored port frees its address; its network stays (409).
    victim = sorted(ports, key=lambda p: p['mac_address'])[1]
    neutron.delete('ports', victim['id'])
    ip = victim['fixed_ips'][0]
    thief = neutron.create('ports', {
        'network_id': victim['network_id'], 'project_id': ADMIN,
        'fixed_ips': [{'subnet_id': ip['subnet_id'],
                       'ip_address': ip['ip_address']}]})
    assert thief['fixed_ips'][0]['ip_address'] == ip['ip_address']
    with pytest.raises(NeutronError) as exc:
        neutron.delete('networks', victim['network_id'])
    assert exc.value.status == 409

    # The difference, as plan --neutron-db reads it from the database.
    outcome = neutrondb.run(server.database, wanted, write_it=False)
    assert outcome.changes.counts() == {'port': {'create': 1, 'update': 1},
                                        'rule': {'delete': 1}}
    rc, out = run(capsys, 'diff', *db)
    assert rc == 0 and 'rule              delete 1' in out, out
    assert 'restore would refuse' in out and ip['ip_address'] in out
    state = rows(server.database)
    # Neutron is serving: refused, with one line, nothing written.
    rc, err = refused(capsys, 'restore', *db)
    assert 'serving from this database' in err, err
    # Forced, it finds the address taken by a port it did not create.
    rc, err = refused(capsys, 'restore', *db, '--force')
    assert (f'port:{victim["id"]}: address {ip["ip_address"]} is taken by '
            f'port {thief["id"]}, which the translation did not create'
            in err), err
    assert rows(server.database) == state
    for extra in fresh + [thief]:
        neutron.delete('ports', extra['id'])
    rc, out = run(capsys, 'restore', *db, '--force')
    assert rc == 0, out
    rc, out = run(capsys, 'verify', '--settings', conf)
    assert rc == 0, out
    assert rule['id'] not in {r['id'] for g in neutron.list(
        'security-groups', id=groups[0]) for r in g['security_group_rules']}


def openstack_port_list(url, device):
    """``openstack port list --device-id`` as an operator types it: each
    port's id, MAC and addresses."""
    out = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), 'openstack'),
         '--os-auth-type', 'none', '--os-endpoint', url, 'port', 'list',
         '--device-id', device, '-f', 'json', '-c', 'ID', '-c', 'MAC Address',
         '-c', 'Fixed IP Addresses'],
        check=True, capture_output=True, text=True).stdout
    return sorted(json.loads(out), key=lambda port: port['ID'])


def refused(capsys, *argv):
    """A refusal: exit 1 (refused: nothing changed) and one line on stderr."""
    rc = cutover_translate.main(['translate', *argv])
    err = capsys.readouterr().err
    assert rc == 1 and err.count('\n') == 1, (rc, err)
    return rc, err


def refused_unchanged(capsys, database, *argv):
    """A refusal that leaves every row of ``database`` as it was: its
    line."""
    state = rows(database)
    _, err = refused(capsys, *argv)
    assert rows(database) == state
    return err


def nova_addresses(url):
    """Every address nova-network ever handed out or reserved."""
    eng = sqlalchemy.create_engine(url)
    t = schema.fixed_ips
    with eng.connect() as conn:
        out = {r.address for r in conn.execute(sqlalchemy.select(t)).all()
               if r.allocated or r.leased or r.reserved or r.instance_uuid
               or r.host}
    eng.dispose()
    return out


def test_second_restore_writes_only_the_delta(site, capsys):
    gen, server, conf, _ = site
    db = ['--settings', conf, '--neutron-db', server.database, '--force']
    state = rows(server.database)
    rc, out = run(capsys, 'restore', *db)
    assert rc == 0 and 'no change' in out, out
    assert rows(server.database) == state

    generate.mutate(gen, 4)   # nova meanwhile: 2 boots, a release, a rule
    # Meanwhile someone's port (no address) took a new instance's MAC.
    wanted = fromnova.desired(gen.url, Settings.load(conf))
    network_id, mac, _ = neutrondb.run(server.database, wanted,
                                       write_it=False).writes.macs[0]
    neutron = Neutron.noauth(server.url)
    other = neutron.create('ports', {'network_id': network_id,
                                     'project_id': ADMIN, 'fixed_ips': [],
                                     'mac_address': mac})
    err = refused_unchanged(capsys, server.database, 'restore', *db)
    assert (f': MAC {mac} is taken by port {other["id"]}, which the '
            f'translation did not create' in err), err
    neutron.delete('ports', other['id'])
    rc, out = run(capsys, 'restore', *db)
    assert rc == 0, out
    assert 'rule              create 1' in out
    assert 'port              create 2' in out
    assert 'floatingip        delete 1' in out
    assert 'restored 4 change(s)' in out
    rc, out = run(capsys, 'verify', '--settings', conf)
    assert rc == 0, out

    # A rule for every TCP port is stored as Neutron stores it (no range),
    # and found again as the same rule: no perpetual difference.
    generate.add_rule(gen.url, gen.group_ids[gen.projects[0]]['web'], 'tcp',
                      1, 65535, '10.9.0.0/16')
    rc, out = run(capsys, 'restore', *db)
    assert rc == 0 and 'restored 1 change(s)' in out, out
    eng = sqlalchemy.create_engine(server.database)
    with eng.connect() as conn:
        stored = conn.execute(sqlalchemy.text(
            "SELECT port_range_min, port_range_max FROM securitygrouprules "
            "WHERE remote_ip_prefix = '10.9.0.0/16'")).all()
    eng.dispose()
    assert stored == [(None, None)]
    # Without --force: what restore itself just wrote (the rule and its
    # group's new revision) is not mistaken for a serving Neutron.
    rc, out = run(capsys, 'restore', *db[:-1])
    assert rc == 0 and 'no change' in out, out
    eng = sqlalchemy.create_engine(gen.url)
    with eng.begin() as conn:
        conn.execute(schema.security_group_rules.update().where(
            schema.security_group_rules.c.cidr == '10.9.0.0/16').values(
                deleted=schema.security_group_rules.c.id))   # as nova does
    eng.dispose()


def test_rollback_removes_exactly_what_restore_wrote(site, capsys):
    gen, server, conf, _ = site
    db = ['--settings', conf, '--neutron-db', server.database, '--force']
    neutron = Neutron.noauth(server.url)
    rc, out = run(capsys, 'rollback', *db)
    assert rc == 0, out
    assert not neutron.list('ports', tags=keys.MARK)
    assert not neutron.list('networks')
    emptied = rows(server.database)
    rc, out = run(capsys, 'restore', *db)
    assert rc == 0, out
    rc, out = run(capsys, 'rollback', *db)
    assert rc == 0, out
    assert rows(server.database) == emptied
    # Meanwhile someone took the flat physnet the translation needs.
    other = neutron.create('networks', {
        'name': 'someone-else', 'project_id': ADMIN,
        'provider:network_type': 'flat',
        'provider:physical_network': 'physnet1'})
    err = refused_unchanged(capsys, server.database, 'restore', *db)
    assert (f': flat physnet1 is taken by network {other["id"]}, which the '
            f'translation did not create' in err), err
    # A port of a nova project makes Neutron give it its default group,
    # with Neutron's own rules: restore adopts it (nova's default group
    # becomes it), and rollback gives it back as Neutron made it.
    project = gen.projects[0]
    port = neutron.create('ports', {'network_id': other['id'],
                                    'project_id': project})
    neutron.delete('ports', port['id'])
    neutron.delete('networks', other['id'])
    default = neutron.list('security-groups', project_id=project,
                           name='default')[0]
    rc, out = run(capsys, 'restore', *db)
    assert rc == 0 and 'tag security_group' in out, out   # adopted
    rc, out = run(capsys, 'verify', '--config', conf)
    assert rc == 0, out
    adopted, = neutron.list('security-groups', id=default['id'])
    assert keys.MARK in adopted['tags'], adopted
    assert adopted['revision_number'] > default['revision_number']
    rc, out = run(capsys, 'restore', *db)
    assert rc == 0 and 'no change' in out, out
    rc, out = run(capsys, 'rollback', *db)
    assert rc == 0, out
    back, = neutron.list('security-groups', id=default['id'])
    assert back['tags'] == [] and contents(back) == contents(default)
    rc, out = run(capsys, 'restore', *db)
    assert rc == 0, out
    rc, out = run(capsys, 'verify', '--settings', conf)
    assert rc == 0, out


def contents(group):
    """A group's rules as Neutron compares them (ids aside)."""
    return sorted((r['direction'], r['ethertype'], str(r['protocol']),
                   str(r['port_range_min']), str(r['port_range_max']),
                   str(r['remote_ip_prefix']), str(r['remote_group_id']))
                  for r in group['security_group_rules'])


def test_refuses_a_database_not_at_neutrons_heads(site, tmp_path, capsys):
    gen, server, conf, _ = site
    url = f'sqlite:///{tmp_path}/old.sqlite'
    eng = sqlalchemy.create_engine(url)
    with eng.begin() as conn:
        conn.execute(sqlalchemy.text(
            'CREATE TABLE alembic_version (version_num VARCHAR(32))'))
        conn.execute(sqlalchemy.text(
            "INSERT INTO alembic_version VALUES ('kilo')"))
    eng.dispose()
    rc, out = refused(capsys, 'restore', '--settings', conf, '--neutron-db',
                      url)
    heads = ', '.join(sorted(neutrondb.expected_heads()))
    assert (f"not at the installed Neutron's alembic heads: expected "
            f'{heads}, found kilo' in out), out


def test_kill_9_mid_restore_then_again(tmp_path, capsys):
    """VlanManager this time (a VLAN network per project). SIGKILL while
    the transaction is open (sqlite's journal exists): the database is as
    before, and the next run gives the whole result, which a Neutron
    started on it serves."""
    gen = generate.generate(f'sqlite:///{tmp_path}/nova.sqlite', ports=3000,
                            manager='Vlan', projects=15, dangling=False)
    server = LocalNeutron(str(tmp_path / 'neutron'))
    server.prepare()
    conf = tmp_path / 'translate.yaml'
    conf.write_text(yaml.safe_dump({**generate.settings(gen, ADMIN),
                                    'neutron_url': server.url}))
    before = rows(server.database)
    wanted = fromnova.desired(gen.url, Settings.load(str(conf)))

    # A row the database rejects (a leftover L3 provider association of
    # the router's id): nothing written, the resource and reason named.
    router = next(iter(wanted.resources['router'].values()))
    leftover = neutrondb.tables()['providerresourceassociations']
    eng = sqlalchemy.create_engine(server.database)
    with eng.begin() as conn:
        conn.execute(leftover.insert().values(
            provider_name='single_node', resource_id=router.stable_id))
    rc, err = refused(capsys, 'restore', '--settings', str(conf),
                      '--neutron-db', server.database)
    assert f'{router.key}: providerresourceassociations: UNIQUE' in err, err
    with eng.begin() as conn:
        conn.execute(leftover.delete())
    eng.dispose()
    assert rows(server.database) == before

    argv = [sys.executable, '-m', 'freeze.cli.cutover_translate',
            'translate', 'restore', '--settings', str(conf), '--neutron-db',
            server.database]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    journal = server.database.removeprefix('sqlite:///') + '-journal'
    deadline = time.monotonic() + 120
    while not os.path.exists(journal) and time.monotonic() < deadline:
        assert proc.poll() is None, 'finished before it could be killed'
        time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)   # the journal: rows are being written
    assert proc.wait() == -signal.SIGKILL
    assert rows(server.database) == before
    assert subprocess.run(argv, env=env, capture_output=True).returncode == 0
    assert not neutrondb.run(server.database, wanted, write_it=False).changes
    eng = sqlalchemy.create_engine(server.database)
    with eng.connect() as conn:
        ports = conn.execute(sqlalchemy.text(
            "SELECT count(*) FROM ports WHERE device_owner LIKE 'compute:%'"
        )).scalar()
    eng.dispose()
    assert ports == len([k for k in wanted.resources['port']
                         if k.startswith('port:')])
    with server:
        rc, out = run(capsys, 'verify', '--settings', str(conf))
        assert rc == 0, out
        neutron = Neutron.noauth(server.url)
        net = next(n for n in neutron.list('networks', tags=keys.MARK)
                   if n['provider:network_type'] == 'vlan')
        port = neutron.create('ports', {'network_id': net['id'],
                                        'project_id': net['project_id']})
        assert port['fixed_ips'][0]['ip_address'] not in nova_addresses(
            gen.url)
        # Neutron serving: its own change is seen, and an agent's report
        rc, err = refused(capsys, 'restore', '--settings', str(conf),
                          '--neutron-db', server.database)
        assert 'ports (standard attribute' in err, err
        eng = sqlalchemy.create_engine(server.database)
        with eng.begin() as conn:
            conn.execute(neutrondb.tables()['agents'].insert().values(
                id='a' * 36, agent_type='Linux bridge agent',
                binary='neutron-linuxbridge-agent', topic='N/A',
                host='cmp001', created_at=neutrondb.now(),
                started_at=neutrondb.now(),
                heartbeat_timestamp=neutrondb.now(), configurations='{}'))
        eng.dispose()
        rc, err = refused(capsys, 'restore', '--settings', str(conf),
                          '--neutron-db', server.database)
        assert 'agent neutron-linuxbridge-agent on cmp001 reported' in err


def vlan_site(tmp_path):
    """A small VlanManager nova-network (a VLAN network per project), its
    settings, and a Neutron database made for it (no server)."""
    gen = generate.generate(f'sqlite:///{tmp_path}/nova.sqlite', ports=6,
                            manager='Vlan', projects=2, dangling=False)
    server = LocalNeutron(str(tmp_path / 'neutron'))
    server.prepare()
    conf = tmp_path / 'translate.yaml'
    conf.write_text(yaml.safe_dump(generate.settings(gen, ADMIN)))
    return gen, server, conf


def test_refuses_a_vlan_held_by_someone_elses_network(tmp_path, capsys):
    """VlanManager: a translated network's (physnet, VLAN) already held
    by a network the translation did not create, as Neutron's ML2 keeps
    it (the network, its segment, the allocation): refused, unchanged."""
    gen, server, conf = vlan_site(tmp_path)
    wanted = fromnova.desired(gen.url, Settings.load(str(conf)))
    vlan = next(r.body for r in wanted.resources['network'].values()
                if r.body['provider:network_type'] == 'vlan')
    physnet = vlan['provider:physical_network']
    segment = vlan['provider:segmentation_id']
    t = neutrondb.tables()
    other = str(uuid.uuid4())
    eng = sqlalchemy.create_engine(server.database)
    with eng.begin() as conn:
        sids = [conn.execute(t['standardattributes'].insert().values(
            resource_type=kind, created_at=neutrondb.now(),
            updated_at=neutrondb.now())).inserted_primary_key[0]
            for kind in ('networks', 'networksegments')]
        conn.execute(t['networks'].insert().values(
            id=other, name='someone-else', project_id=ADMIN, mtu=1500,
            standard_attr_id=sids[0]))
        conn.execute(t['networksegments'].insert().values(
            id=str(uuid.uuid4()), network_id=other, network_type='vlan',
            physical_network=physnet, segmentation_id=segment,
            standard_attr_id=sids[1]))
        conn.execute(t['ml2_vlan_allocations'].insert().values(
            physical_network=physnet, vlan_id=segment, allocated=True))
    eng.dispose()
    err = refused_unchanged(capsys, server.database, 'restore', '--settings',
                            str(conf), '--neutron-db', server.database,
                            '--force')
    assert (f': VLAN {segment} on {physnet} is taken by network {other}, '
            f'which the translation did not create' in err), err


def test_a_subnet_added_is_a_new_revision_of_its_network(tmp_path, capsys):
    """nova gives a restored VLAN network an IPv6 range: the next restore
    adds its SLAAC subnet, and the network gets a new revision, once, as
    Neutron's Subnet model (``revises_on_change``) gives it; its instance
    ports get their SLAAC address, each a new revision too (router ports
    get none, as Neutron's IPAM leaves them out)."""
    gen, server, conf = vlan_site(tmp_path)
    db = ['--config', str(conf), '--neutron-db', server.database]
    rc, out = run(capsys, 'restore', *db)
    assert rc == 0, out
    nets = schema.networks
    eng = sqlalchemy.create_engine(gen.url)
    with eng.begin() as conn:
        network = conn.execute(sqlalchemy.select(nets.c.uuid).where(
            nets.c.id == gen.network_ids[0])).scalar()
        revisions = standard_attributes(server.database, network)
        conn.execute(nets.update().where(nets.c.uuid == network).values(
            cidr_v6='fd00:99::/64'))
    eng.dispose()
    rc, out = run(capsys, 'restore', *db)   # right after: not refused
    assert rc == 0 and 'subnet            create 1' in out, out
    after = standard_attributes(server.database, network)
    assert after['networks'] == [revisions['networks'][0] + 1]
    assert len(after['ports']) == len(revisions['ports']) > 0
    assert all(a == b + 1 for a, b in zip(after['ports'],
                                          revisions['ports']))


def standard_attributes(url, network_id):
    """The revision numbers of a network and of its instances' ports (by
    id)."""
    t = neutrondb.tables()
    sa = t['standardattributes']
    eng = sqlalchemy.create_engine(url)
    with eng.connect() as conn:
        out = {name: [r for r, in conn.execute(
            sqlalchemy.select(sa.c.revision_number)
            .join(t[name], t[name].c.standard_attr_id == sa.c.id)
            .where(t[name].c[column] == network_id, *extra)
            .order_by(t[name].c.id))]
            for name, column, extra in (
                ('networks', 'id', ()),
                ('ports', 'network_id',
                 (t['ports'].c.device_owner.like('compute:%'),)))}
    eng.dispose()
    return out
