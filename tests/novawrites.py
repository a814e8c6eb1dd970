"""Random generated nova-network databases, nova's own writes to them, and
the plan each write must make: shared by the property tests (pure, and
against the real Neutron)."""

import itertools

import sqlalchemy
from hypothesis import strategies as st

from freeze.novanet import model, schema, source
from tools.novanet import generate
from freeze.translate import desired, fromnova, keys, rules
from freeze.translate.held import Actual
from freeze.translate.settings import Settings

ADMIN = 'ad' * 16
_COUNTER = itertools.count()

DATABASES = st.fixed_dictionaries({
    'ports': st.integers(1, 24), 'projects': st.integers(1, 3),
    'hosts': st.integers(1, 4), 'seed': st.integers(0, 2**16),
    'shape': st.sampled_from(['FlatDHCP', 'Vlan', 'mixed']),
    'dangling': st.booleans()})
WRITES = st.lists(st.sampled_from(['boot', 'release', 'rule', 'mtu']),
                  min_size=1, max_size=4, unique=True)


def make(directory, db: dict, **overrides):
    """A generated database and its settings."""
    url = f'sqlite:///{directory}/nova-{next(_COUNTER)}.sqlite'
    shape = db['shape']
    gen = generate.generate(
        url, ports=db['ports'], projects=db['projects'], hosts=db['hosts'],
        seed=db['seed'], dangling=db['dangling'],
        manager='Vlan' if shape == 'Vlan' else 'FlatDHCP',
        mixed=shape == 'mixed')
    return gen, Settings.parse({**generate.settings(gen, ADMIN), **overrides})


def translate(gen, settings) -> desired.Desired:
    return fromnova.desired(gen.url, settings)


def changes(plan) -> set[tuple[str, str, str]]:
    return {(c.op, c.kind, c.key) for c in plan.items}


def write(gen, settings, todo: list[str]) -> set[tuple[str, str, str]]:
    """nova's writes (a boot, a floating IP released, a rule over every
    port, a network's MTU) and the (op, kind, key) changes they imply."""
    nova = model.build(source.read(gen.url))
    before = translate(gen, settings)
    expected = set()
    project = gen.projects[0]
    groups = gen.group_ids[project]
    if 'boot' in todo:
        # on a network the project has a port on already: no new group
        port = next(p for p in nova.ports.values()
                    if p.instance.project_id == project
                    and f'port:{p.vif_uuid}' in before.resources['port'])
        _, vif = generate.add_instance(gen.url, project, port.network.id,
                                       'compute-0', [groups['default']])
        expected.add(('create', 'port', f'port:{vif}'))
    if 'release' in todo:
        # allocated to a project, not associated: only the floating IP goes
        fip = next((f for f in nova.floating_ips
                    if f.project_id and f.port is None
                    and f'fip:{f.address}' in before.resources['floatingip']),
                   None)
        if fip is not None:
            generate.release_floating_ip(gen.url, fip.address)
            expected.add(('delete', 'floatingip', f'fip:{fip.address}'))
    if 'rule' in todo:
        generate.add_rule(gen.url, groups['web'], 'tcp', 1, 65535,
                          '10.20.0.0/16')
        body = rules.stored({
            'security_group_id': desired.Ref(f'sg:{groups["web"]}'),
            'remote_group_id': None, 'remote_ip_prefix': '10.20.0.0/16',
            **rules.from_nova('tcp', 1, 65535, 'IPv4')})
        expected.add(('create', 'rule', desired.keys.rule(body)))
    if 'mtu' in todo:
        net = min((n for n in nova.networks.values()
                   if f'net:{n.uuid}' in before.resources['network']),
                  key=lambda n: n.id)
        engine = sqlalchemy.create_engine(gen.url)
        with engine.begin() as conn:
            conn.execute(schema.networks.update().where(
                schema.networks.c.id == net.id).values(mtu=1300))
        engine.dispose()
        expected.add(('update', 'network', f'net:{net.uuid}'))
    return expected


def held(wanted: desired.Desired) -> Actual:
    """Neutron after a perfect apply: every resource, tagged, as wanted."""
    items = {kind: {key: res.body for key, res in resources.items()}
             for kind, resources in wanted.resources.items()}
    raw = {key: {'id': key, 'tags': [keys.MARK, keys.KEY_TAG + key],
                 **body}
           for resources in items.values() for key, body in resources.items()}
    return Actual(items, {key: key for key in raw}, raw, set(), {})
