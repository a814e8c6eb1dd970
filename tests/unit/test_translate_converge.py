"""diff and verify on hand-made states: what changes, and how it reads."""

from freeze.translate import converge, verify
from freeze.translate.desired import KINDS, Desired, Ref, Resource


def state(**resources):
    wanted = {k: {} for k in KINDS}
    for key, (kind, body) in resources.items():
        wanted[kind][key] = Resource(kind, key, body)
    return Desired(wanted, [])


def actual(**items):
    have = {k: {} for k in KINDS}
    for key, (kind, body) in items.items():
        have[kind][key] = body
    ids = {key: f'id-{key}' for key in items}
    raw = {key: {'id': ids[key], 'tags': [converge.KEY_TAG + key]}
           for key in items}
    return converge.Actual(have, ids, raw, set(), {})


NET = {'name': 'a', 'project_id': 'p', 'provider:network_type': 'flat'}
PORT = {'network_id': Ref('net:1'), 'mac_address': 'fa:16:3e:00:00:01',
        'binding:host_id': 'h1',
        'fixed_ips': frozenset({(Ref('subnet4:net:1'), '10.0.0.3')})}


def ops(plan):
    return sorted((c.op, c.key, c.fields) for c in plan.changes)


def test_nothing_to_do_when_equal():
    same = dict(NET)
    assert not converge.diff(state(**{'net:1': ('network', NET)}),
                             actual(**{'net:1': ('network', same)}))


def test_create_update_replace_delete():
    plan = converge.diff(
        state(**{'net:1': ('network', NET),
                 'port:a': ('port', PORT),
                 'port:b': ('port', PORT)}),
        actual(**{'net:1': ('network', dict(NET, name='old')),
                  'port:b': ('port', dict(PORT, mac_address='fa:16:3e:ff:ff:ff')),
                  'port:gone': ('port', PORT)}))
    assert ops(plan) == [('create', 'port:a', ()),
                         ('delete', 'port:gone', ()),
                         ('replace', 'port:b', ('mac_address',)),
                         ('update', 'net:1', ('name',))]


def test_replacing_a_network_replaces_what_hangs_on_it():
    plan = converge.diff(
        state(**{'net:1': ('network', NET), 'port:a': ('port', PORT)}),
        actual(**{'net:1': ('network', dict(NET, project_id='q')),
                  'port:a': ('port', PORT)}))
    assert [c.op for c in plan.changes] == ['replace', 'replace']


def test_auto_slaac_address_counts_only_where_wanted():
    slaac = (Ref('subnet6:net:1'), 'fd00::1')
    have = dict(PORT, fixed_ips=PORT['fixed_ips'] | {slaac})
    assert not converge.diff(state(**{'port:a': ('port', PORT)}),
                             actual(**{'port:a': ('port', have)}))
    want = dict(PORT, fixed_ips=have['fixed_ips'])
    assert ops(converge.diff(state(**{'port:a': ('port', want)}),
                             actual(**{'port:a': ('port', PORT)}))) == [
        ('update', 'port:a', ('fixed_ips',))]


def test_verify_reads_like_a_diff():
    plan = converge.diff(
        state(**{'port:a': ('port', PORT), 'port:b': ('port', PORT)}),
        actual(**{'port:a': ('port', dict(PORT, **{'binding:host_id': 'h2'})),
                  'port:x': ('port', PORT)}))
    lines = verify.mismatches(plan)
    assert 'port port:a: binding:host_id: nova h1 != neutron h2' in lines
    assert any(line.startswith('missing in Neutron: port port:b {')
               for line in lines)
    assert any(line.startswith('extra in Neutron: port port:x')
               for line in lines)
