"""The overlay generator: shapes, agreement with the filter, and the invariant.

The invariant is checked the way nova would see it: oslo.policy's own
Enforcer, loaded with the effective rules alone and with the overlay on top,
asked about every rule for many sampled credentials.
"""

import pathlib

from hypothesis import example
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from oslo_policy import policy as oslo_policy
import pytest
import yaml

from freeze import decision
from freeze import nova_policy
from freeze import overlay_rules
from freeze import routes
from freeze.cli import freeze_ctl
from freeze.state import document

REPO = pathlib.Path(__file__).resolve().parents[2]
EVENTS = decision.AllowRule.parse('service:POST:/os-server-external-events')
RULES = decision.Rules(allow=(EVENTS,))
DEFAULTS = nova_policy.nova_defaults()
STOCK, OPERATIONS = nova_policy.effective_rules(DEFAULTS)
ALL_OPERATIONS = sorted({(op['method'], op['path'])
                         for ops in OPERATIONS.values() for op in ops})
KEYPAIRS = 'os_compute_api:os-keypairs:create'
ROLES = ('admin', 'member', 'reader', 'manager', 'service', 'migration',
         'auditor')

# A deployment's own policy: a restriction, references from reads to
# writes, a ``not`` over a wrapped rule, a base rule referring to a wrapped
# one, an alias, and an override under a deprecated (renamed) name.
CUSTOM = {
    'os_compute_api:os-keypairs:create': 'rule:context_is_admin',
    'os_compute_api:servers:show':
        'rule:os_compute_api:servers:update or role:auditor',
    'os_compute_api:servers:index':
        'not rule:os_compute_api:servers:delete and '
        'rule:project_reader_or_admin',
    'service_api': 'role:service or rule:os_compute_api:os-keypairs:create',
    'keypair_alias': 'rule:os_compute_api:os-keypairs:create',
    'os_compute_api:os-hypervisors:list': 'rule:keypair_alias',
    'os_compute_api:os-attach-interfaces': 'role:auditor',
}


def op(method, path):
    return {'method': method, 'path': path}


# -- operations ------------------------------------------------------------

@pytest.mark.parametrize('operation, expected', [
    (op('POST', '/servers/{server_id}/action (addFloatingIp)'),
     ('POST', '/servers/x/action', 'addFloatingIp')),
    (op('POST', '/servers/{server_id}/migrations/{migration_id}/action '
                '(force_complete)'),
     ('POST', '/servers/x/migrations/x/action', 'force_complete')),
    (op('get', '/flavors/{flavor_id}/os-extra_specs/'),
     ('GET', '/flavors/x/os-extra_specs', None)),
    (op('DELETE', '/os-keypairs/{keypair_name}'),
     ('DELETE', '/os-keypairs/x', None)),
])
def test_operation_request(operation, expected):
    assert routes.operation_request(operation, 'x') == expected


@pytest.mark.parametrize('operation', [
    op('', '/servers'), op('GET', 'servers'), op('GET', '/servers (a) (b)'),
    {'method': 'GET'},
])
def test_operation_request_refuses_what_it_cannot_read(operation):
    with pytest.raises(ValueError, match='not understood'):
        routes.operation_request(operation, 'x')


def test_every_nova_operation_is_understood():
    for method, path in ALL_OPERATIONS:
        for identifier in overlay_rules.IDENTIFIERS:
            routes.operation_request(op(method, path), identifier)


# -- agreement with the filter ---------------------------------------------

role_sets = st.frozensets(st.sampled_from(ROLES + ('cutover', 'neutron')),
                          min_size=1)
freeze_rules = st.builds(
    decision.Rules,
    migration_roles=st.frozensets(st.sampled_from(('migration', 'cutover')),
                                  min_size=1),
    reader_roles=st.frozensets(st.sampled_from(('admin', 'reader'))),
    allow=st.sampled_from([
        (), (EVENTS,),
        (decision.AllowRule.parse('neutron:*:/servers/[^/]+/action'),),
        (decision.AllowRule.parse('*:GET:/os-keypairs'),
         decision.AllowRule.parse('auditor:POST:/servers/.+/action')),
    ]))


@settings(max_examples=300, deadline=None)
@given(operation=st.sampled_from(ALL_OPERATIONS),
       mode=st.sampled_from(document.MODES), roles=role_sets,
       rules=freeze_rules)
def test_a_guard_admits_whom_the_filter_passes(operation, mode, roles, rules):
    """Per operation, the overlay's guard and ``decide`` agree exactly.

    (Identity-less callers are left out: the filter refuses them reads during
    a writes freeze, while nova's rules refuse them anyway.)
    """
    state = document.FreezeState(frozen=True, mode=mode)
    guard = overlay_rules.guard([op(*operation)], mode, rules)
    for identifier in overlay_rules.IDENTIFIERS:
        method, path, action = routes.operation_request(op(*operation),
                                                        identifier)
        facts = decision.RequestFacts(method, path, roles, action)
        verdict = decision.decide(facts, state, rules, document.utcnow())
        assert verdict.allowed == admits(guard, roles), (path, guard)


def admits(guard, roles):
    return guard is overlay_rules.ANYONE or bool(guard & roles)


def test_an_allow_rule_must_match_every_identifier():
    """A rule for one literal server does not open the operation to all."""
    literal = decision.Rules(
        allow=(decision.AllowRule.parse('auditor:POST:/servers/x/action'),))
    reboot = [op('POST', '/servers/{server_id}/action (reboot)')]
    assert overlay_rules.guard(reboot, 'full', literal) == {'migration'}
    pattern = decision.Rules(
        allow=(decision.AllowRule.parse('auditor:POST:/servers/.+/action'),))
    assert overlay_rules.guard(reboot, 'full', pattern) == {'migration',
                                                            'auditor'}


# -- shapes ----------------------------------------------------------------

def overlay_for(mode, rules=RULES, effective=STOCK):
    return overlay_rules.generate(effective, OPERATIONS, mode, rules)


def test_full_mode_wraps_reads_and_writes():
    full = overlay_for('full')
    assert full['os_compute_api:os-keypairs:create'] == (
        '(role:migration) and (rule:context_is_admin or user_id:%(user_id)s)')
    assert full['os_compute_api:servers:index'] == (
        '(role:migration or role:admin) and (rule:project_reader_or_admin)')
    assert full['os_compute_api:limits'] == (
        '(role:migration or role:admin) and (@)')
    assert set(full) == set(OPERATIONS)


def test_writes_mode_leaves_reads_alone():
    writes = overlay_for('writes')
    assert 'os_compute_api:servers:index' not in writes
    assert writes['os_compute_api:os-keypairs:create'].startswith(
        '(role:migration) and ')


def test_network_mode_wraps_only_network_changes():
    network = overlay_for('network')
    assert 'os_compute_api:os-floating-ips:add' in network
    assert 'os_compute_api:os-migrate-server:migrate_live' in network
    assert 'os_compute_api:servers:create' in network
    for name in ('os_compute_api:servers:reboot',
                 'os_compute_api:servers:index',
                 'os_compute_api:os-keypairs:create',
                 'os_compute_api:os-flavor-manage:create'):
        assert name not in network
    for name in network:
        assert any(routes.changes_network(*routes.operation_request(o, 'x'))
                   for o in OPERATIONS[name]), name


def test_rules_without_operations_stay_out():
    for mode in document.MODES:
        generated = overlay_for(mode)
        for name in ('context_is_admin', 'project_member_api',
                     'project_reader_or_admin', 'service_api'):
            assert name not in generated


def test_the_allow_list_admits_its_role():
    events = 'os_compute_api:os-server-external-events:create'
    for mode in ('full', 'writes'):
        assert overlay_for(mode)[events] == (
            '(role:migration or role:service) and (rule:service_or_admin)')
    anyone = decision.AllowRule.parse('*:POST:/os-server-external-events')
    assert events not in overlay_for('full', decision.Rules(allow=(anyone,)))


def test_several_roles_and_no_roles():
    rules = decision.Rules(migration_roles=frozenset({'migration', 'cutover'}),
                           reader_roles=frozenset({'reader', 'admin'}))
    full = overlay_for('full', rules)
    assert full['os_compute_api:servers:index'].startswith(
        '(role:cutover or role:migration or role:admin or role:reader) and ')
    closed = overlay_for('full', decision.Rules(migration_roles=frozenset(),
                                                reader_roles=frozenset()))
    assert set(closed.values()) == {'!'}


def test_a_rule_with_reads_and_writes_gets_the_strictest_guard():
    """Extra specs shown by GET and PUT /flavors/{id}: the write's guard."""
    name = 'os_compute_api:os-flavor-extra-specs:index'
    methods = {o['method'] for o in OPERATIONS[name]}
    assert {'GET', 'PUT'} <= methods
    assert overlay_for('full')[name].startswith('(role:migration) and ')
    assert overlay_for('writes')[name].startswith('(role:migration) and ')


@pytest.mark.parametrize('rules, message', [
    (decision.Rules(migration_roles=frozenset({'mig ration'})), 'cannot be'),
    (decision.Rules(migration_roles=frozenset({'50%'})), 'cannot be'),
])
def test_role_names_that_policy_cannot_hold(rules, message):
    with pytest.raises(overlay_rules.PolicyError, match=message):
        overlay_for('full', rules)


def test_unknown_mode():
    with pytest.raises(overlay_rules.PolicyError, match='unknown mode'):
        overlay_for('partial')


def test_references_to_wrapped_rules_are_inlined():
    effective = {'write': 'rule:base or role:x', 'read': 'rule:write',
                 'alias': 'not rule:write', 'base': 'role:member',
                 'other': 'rule:base'}
    operations = {'write': [op('POST', '/os-keypairs')],
                  'read': [op('GET', '/os-keypairs')]}
    generated = overlay_rules.generate(effective, operations, 'writes', RULES)
    assert generated == {'write': '(role:migration) and (rule:base or role:x)',
                         'read': 'rule:base or role:x',
                         'alias': 'not (rule:base or role:x)'}


def test_cycles_are_a_clear_error():
    effective = {'a': 'rule:b', 'b': 'rule:a'}
    operations = {'a': [op('POST', '/os-keypairs')],
                  'b': [op('POST', '/flavors')]}
    with pytest.raises(overlay_rules.PolicyError, match='cycle: a -> b -> a'):
        overlay_rules.generate(effective, operations, 'full', RULES)


def test_render_is_a_policy_file_with_a_header():
    text = overlay_rules.render({'a:b': '(role:migration) and (rule:x)'},
                         ['line one', 'line two'])
    assert text.startswith('# line one\n# line two\n')
    assert oslo_policy.parse_file_contents(text) == {
        'a:b': '(role:migration) and (rule:x)'}


# -- effective rules -------------------------------------------------------

def test_effective_rules_apply_overrides_and_renames():
    rules, _ = nova_policy.effective_rules(DEFAULTS, [CUSTOM])
    assert rules[KEYPAIRS] == 'rule:context_is_admin'
    # Overriding the old name of a renamed rule sets the new one.
    assert rules['os_compute_api:os-attach-interfaces:list'] == 'role:auditor'
    assert rules['keypair_alias'] == 'rule:os_compute_api:os-keypairs:create'
    later, _ = nova_policy.effective_rules(
        DEFAULTS, [CUSTOM, {KEYPAIRS: '!'}])
    assert later[KEYPAIRS] == '!'


def test_old_defaults_are_kept_when_new_ones_are_not_enforced():
    old, _ = nova_policy.effective_rules(DEFAULTS, enforce_new_defaults=False)
    assert old['project_member_api'] == (
        '((role:member and project_id:%(project_id)s) or '
        '(is_admin:True or project_id:%(project_id)s))')


@pytest.mark.parametrize('content, message', [
    ('a: [unclosed', 'is not a valid policy file'),
    ('- a\n- b\n', 'must map rule names'),
    ('a: 3\n', 'must map rule names'),
])
def test_bad_policy_files_are_named(tmp_path, content, message):
    path = tmp_path / 'policy.yaml'
    path.write_text(content)
    with pytest.raises(nova_policy.OverlayError, match=message) as raised:
        nova_policy.read_policy_file(str(path))
    assert str(path) in str(raised.value)


def test_a_missing_policy_file_is_named(tmp_path):
    with pytest.raises(nova_policy.OverlayError,
                       match='cannot read policy file'):
        nova_policy.read_policy_file(str(tmp_path / 'nope.yaml'))


# -- the invariant, with oslo.policy's Enforcer ----------------------------

def enforcer(tmp_path, name, overrides, enforce_new_defaults,
             overlay=None):
    """An Enforcer as nova builds one: policy file, then a policy dir."""
    directory = tmp_path / name
    directory.mkdir()
    policy_file = directory / 'policy.yaml'
    policy_file.write_text(yaml.safe_dump(overrides))
    dirs = []
    if overlay is not None:
        (directory / 'policy.d').mkdir()
        (directory / 'policy.d' / nova_policy.OVERLAY_NAME).write_text(
            overlay_rules.render(overlay, []))
        dirs = [str(directory / 'policy.d')]
    return nova_policy.load_enforcer(DEFAULTS, str(policy_file), dirs,
                                     enforce_new_defaults)


@pytest.fixture(scope='module', params=[
    ('stock', {}, True), ('custom', CUSTOM, True),
    ('old-defaults', CUSTOM, False),
], ids=lambda p: p[0])
def deployment(request, tmp_path_factory):
    """Enforcers for one deployment: without the overlay, and per mode."""
    name, overrides, new_defaults = request.param
    tmp_path = tmp_path_factory.mktemp(name)
    effective, operations = nova_policy.effective_rules(DEFAULTS, [overrides],
                                                    new_defaults)
    base = enforcer(tmp_path, 'base', overrides, new_defaults)
    frozen = {}
    for mode in document.MODES:
        generated = overlay_rules.generate(effective, operations, mode, RULES)
        guards = {name: overlay_rules.guard(operations[name], mode, RULES)
                  for name in effective if name in operations}
        frozen[mode] = (enforcer(tmp_path, mode, overrides, new_defaults,
                                 generated), guards)
    return effective, base, frozen


credentials = st.fixed_dictionaries({
    'roles': st.lists(st.sampled_from(ROLES), unique=True),
    'project_id': st.sampled_from(['p1', 'p2', None]),
    'user_id': st.sampled_from(['u1', 'u2']),
    'system_scope': st.sampled_from([None, None, 'all']),
    'domain_id': st.sampled_from([None, 'd1']),
    'is_admin': st.booleans(),
})
targets = st.fixed_dictionaries({'project_id': st.sampled_from(['p1', 'p2']),
                                 'user_id': st.sampled_from(['u1', 'u2'])})


def persona(*roles, system_scope=None):
    return example(creds={'roles': list(roles), 'project_id': 'p1',
                          'user_id': 'u1', 'system_scope': system_scope,
                          'domain_id': None, 'is_admin': 'admin' in roles},
                   target={'project_id': 'p1', 'user_id': 'u1'})


@settings(max_examples=12, deadline=None)
@given(creds=credentials, target=targets)
@persona('admin')
@persona('member', 'reader')
@persona('member', 'reader', 'migration')
@persona('service')
@persona('admin', 'service')
@persona('admin', system_scope='all')
def test_the_overlay_only_takes_away(deployment, creds, target):
    """Every rule, every mode: frozen == guard admits and effective allows."""
    effective, base, frozen = deployment
    roles = frozenset(creds['roles'])
    for name in effective:
        before = base.enforce(name, dict(target), dict(creds))
        for mode, (enforcer_, guards) in frozen.items():
            after = enforcer_.enforce(name, dict(target), dict(creds))
            assert not after or before, (mode, name, creds, target)
            assert after == (before and admits(
                guards.get(name, overlay_rules.ANYONE), roles)), (
                    mode, name, creds)


# -- the checked-in overlays -----------------------------------------------

@pytest.mark.parametrize('mode', document.MODES)
def test_checked_in_overlays_are_current(mode, tmp_path, capsys):
    nova_conf = tmp_path / 'nova.conf'
    nova_conf.write_text('[oslo_policy]\npolicy_file = '
                         f'{tmp_path / "none.yaml"}\npolicy_dirs = '
                         f'{tmp_path / "none.d"}\n')
    assert freeze_ctl.main(['--config-file', str(nova_conf), 'policy',
                            'generate', '--mode', mode]) == 0
    fresh = capsys.readouterr().out
    path = REPO / 'policies' / f'freeze-{mode}.yaml'
    assert path.exists() and path.read_text() == fresh, (
        f'{path.relative_to(REPO)} is stale for the installed nova; '
        'regenerate it with: freeze-ctl '
        f'policy generate --mode {mode} -o {path.relative_to(REPO)}')
