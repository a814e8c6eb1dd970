"""diff and verify on hand-made states: what changes, and how it reads;
apply against an in-memory Neutron where a crash must be survived."""

import copy

import pytest

from freeze.translate import keys, rules, verify
from freeze.translate.apply import apply
from freeze.translate.changes import diff
from freeze.translate.desired import KINDS, Desired, Ref, Resource
from freeze.translate.held import COLLECTION, Actual, fetch
from freeze.translate.neutron import NeutronError


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
    raw = {key: {'id': ids[key], 'tags': [keys.KEY_TAG + key]}
           for key in items}
    return Actual(have, ids, raw, set(), {})


NET = {'name': 'a', 'project_id': 'p', 'provider:network_type': 'flat'}
PORT = {'network_id': Ref('net:1'), 'mac_address': 'fa:16:3e:00:00:01',
        'binding:host_id': 'h1',
        'fixed_ips': frozenset({(Ref('subnet4:net:1'), '10.0.0.3')})}


def ops(plan):
    return sorted((c.op, c.key, c.fields) for c in plan.items)


def test_nothing_to_do_when_equal():
    same = dict(NET)
    assert not diff(state(**{'net:1': ('network', NET)}),
                    actual(**{'net:1': ('network', same)}))


def test_create_update_replace_delete():
    plan = diff(
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
    plan = diff(
        state(**{'net:1': ('network', NET), 'port:a': ('port', PORT)}),
        actual(**{'net:1': ('network', dict(NET, project_id='q')),
                  'port:a': ('port', PORT)}))
    assert [c.op for c in plan.items] == ['replace', 'replace']


def test_auto_slaac_address_counts_only_where_wanted():
    slaac = (Ref('subnet6:net:1'), 'fd00::1')
    have = dict(PORT, fixed_ips=PORT['fixed_ips'] | {slaac})
    assert not diff(state(**{'port:a': ('port', PORT)}),
                    actual(**{'port:a': ('port', have)}))
    want = dict(PORT, fixed_ips=have['fixed_ips'])
    assert ops(diff(state(**{'port:a': ('port', want)}),
                    actual(**{'port:a': ('port', PORT)}))) == [
        ('update', 'port:a', ('fixed_ips',))]


def test_verify_reads_like_a_diff():
    plan = diff(
        state(**{'port:a': ('port', PORT), 'port:b': ('port', PORT)}),
        actual(**{'port:a': ('port', dict(PORT, **{'binding:host_id': 'h2'})),
                  'port:x': ('port', PORT)}))
    lines = verify.mismatches(plan)
    assert 'port port:a: binding:host_id: nova h1 != neutron h2' in lines
    assert any(line.startswith('missing in Neutron: port port:b {')
               for line in lines)
    assert any(line.startswith('extra in Neutron: port port:x')
               for line in lines)


class FakeNeutron:
    """Enough of Neutron for groups and rules: objects per collection, list
    filters by equality (tags by membership), rules inside their group."""

    def __init__(self):
        self.objects = {c: {} for c in COLLECTION.values()}
        self.deleted = []   # collections, one per DELETE
        self.bulks = []     # sizes of the bulk POSTs

    def list(self, collection, **filters):
        return [copy.deepcopy(o) for o in self.objects[collection].values()
                if all(v in o['tags'] if f == 'tags' else o.get(f) == v
                       for f, v in filters.items())]

    def create(self, collection, body):
        obj = {'id': f'id-{len(self.objects[collection])}', 'tags': [],
               'security_group_rules': [], **body}
        self.objects[collection][obj['id']] = obj
        return copy.deepcopy(obj)

    def create_bulk(self, collection, bodies):
        assert collection == 'security-group-rules'
        self.bulks.append(len(bodies))
        if len({b['security_group_id'] for b in bodies}) > 1:
            raise NeutronError(400, 'Only allowed to update rules for one '
                               'security profile at a time')
        made = [{**dict.fromkeys(rules.FIELDS), **b,
                 'id': f'rule-{b["security_group_id"]}-{n}'}
                 for n, b in enumerate(bodies)]
        group = self.objects['security-groups'][bodies[0]['security_group_id']]
        group['security_group_rules'] += made
        return made

    def delete(self, collection, id):
        self.deleted.append(collection)
        del self.objects[collection][id]

    def update(self, collection, id, body):
        self.objects[collection][id].update(body)

    def set_tags(self, collection, id, tags):
        self.objects[collection][id]['tags'] = list(tags)


GROUP = {'name': 'web', 'description': 'web servers', 'project_id': 'p'}


def converge_to(wanted, neutron):
    have = fetch(neutron)
    return apply(diff(wanted, have), neutron, have)


@pytest.mark.parametrize('step', ['set_tags', 'update'])
def test_a_crash_creating_a_described_group_leaves_no_duplicate(step):
    neutron = FakeNeutron()
    real = getattr(neutron, step)

    def crash(*args):
        setattr(neutron, step, real)
        raise KeyboardInterrupt
    setattr(neutron, step, crash)
    wanted = state(**{'sg:1': ('security_group', GROUP)})
    with pytest.raises(KeyboardInterrupt):
        converge_to(wanted, neutron)
    assert not converge_to(wanted, neutron).failures
    (group,) = neutron.list('security-groups')
    assert group['description'] == 'web servers'
    assert keys.KEY_TAG + 'sg:1' in group['tags']
    assert not diff(wanted, fetch(neutron))


def rule(group, port):
    body = {'security_group_id': Ref(group), 'direction': 'ingress',
            'ethertype': 'IPv4', 'protocol': 'tcp', 'port_range_min': port,
            'port_range_max': port, 'remote_ip_prefix': None,
            'remote_group_id': None}
    return keys.rule(body), ('rule', body)


def test_rules_are_sent_in_bulk_per_group_and_go_with_their_group():
    neutron = FakeNeutron()
    wanted = state(**{'sg:1': ('security_group', GROUP),
                      'sg:2': ('security_group', dict(GROUP, name='db')),
                      **dict(rule(g, p) for g in ('sg:1', 'sg:2')
                             for p in (22, 80))})
    assert not converge_to(wanted, neutron).failures
    assert neutron.bulks == [2, 2]
    assert not diff(wanted, fetch(neutron))
    result = converge_to(Desired.empty(), neutron)
    assert not result.failures and result.done == 6
    assert neutron.deleted == ['security-groups'] * 2


def test_rules_neutron_calls_the_same_are_no_change():
    """nova's tcp 1-65535 from anywhere is Neutron's tcp, no range, no
    prefix; an operator's rule spelled 6 / 0.0.0.0/0 is that rule too."""
    from freeze.translate import rules
    want = rules.stored({'security_group_id': Ref('sg:1'),
                         'remote_group_id': None,
                         'remote_ip_prefix': '0.0.0.0/0',
                         **rules.from_nova('tcp', 1, 65535, 'IPv4')})
    have = {**want, 'protocol': '6', 'remote_ip_prefix': None}
    assert want['port_range_min'] is want['port_range_max'] is None
    assert not diff(
        state(**{keys.rule(want): ('rule', want)}),
        actual(**{keys.rule(have): ('rule', have)}))


def test_adopting_a_default_group_is_a_decision_not_a_change_of_actual():
    """A project's untracked default group (Neutron made it) is adopted:
    the diff says so in its result and leaves what it was given as it was;
    the group's own rules are compared with the wanted ones."""
    stock = {'id': 'r1', 'security_group_id': 'g1', 'direction': 'egress',
             'ethertype': 'IPv4', 'protocol': None, 'port_range_min': None,
             'port_range_max': None, 'remote_ip_prefix': None,
             'remote_group_id': None}
    group = {'id': 'g1', 'name': 'default', 'project_id': 'p',
             'description': 'Default security group', 'tags': [],
             'security_group_rules': [stock,
                                      dict(stock, id='r2',
                                           direction='ingress',
                                           remote_group_id='g1')]}
    have = actual()
    have.defaults['p'] = group
    before = copy.deepcopy(have)
    egress = {**{f: stock[f] for f in rules.FIELDS},
              'security_group_id': Ref('sg:1')}
    wanted = state(**{'sg:1': ('security_group', {'name': 'default',
                                                  'project_id': 'p'}),
                      keys.rule(egress): ('rule', egress)})
    changes = diff(wanted, have)
    assert changes.adopted == {'sg:1': group}
    assert ops(changes) == [
        ('delete', 'rule:sg:1/ingress/IPv4/////sg:1', ()),
        ('tag', 'sg:1', ())]
    assert have == before
