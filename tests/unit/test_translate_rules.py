"""freeze.translate.rules against Neutron 29's own code, on generated rules.

Neutron's API converters (neutron/extensions/securitygroup.py) and its
database mixin's canonicalisation and duplicate key
(neutron/db/securitygroups_db.py) are called as the server calls them; the
module must store every valid rule as they do and call two rules the same
exactly when Neutron's duplicate check does.
"""

import pytest
from hypothesis import given, settings, strategies as st

from freeze.translate import rules

sg_ext = pytest.importorskip('neutron.extensions.securitygroup')
from neutron.common import _constants as neutron_constants  # noqa: E402
from neutron.db import securitygroups_db  # noqa: E402
from neutron_lib import exceptions as n_exc  # noqa: E402

MIXIN = securitygroups_db.SecurityGroupDbMixin()

protocols = st.sampled_from([
    None, 'any', 'tcp', 'TCP', 'udp', 'icmp', 'ICMP', 'icmpv6', 'ipv6-icmp',
    '6', '17', '1', '58', '132', 'sctp', '47', 'gre', 6, 1])
ports = st.one_of(st.none(), st.sampled_from([0, 1, 8, 22, 255, 65535]),
                  st.integers(1, 65535))
prefixes = st.sampled_from([
    None, '0.0.0.0/0', '::/0', '10.0.0.0/8', '10.0.0.5', '10.0.0.5/32',
    '10.1.2.3/8', 'fd00::/64', 'FD00:0::1/128', '::'])
#: mostly ordered pairs (what Neutron accepts), some not
numbers = st.tuples(st.sampled_from([1, 8, 22, 255, 65535])
                    | st.integers(1, 65535), st.integers(1, 65535))
port_pairs = st.one_of(numbers.map(sorted), st.tuples(ports, ports))
raw_rules = st.builds(
    lambda pair, **rule: dict(rule, port_range_min=pair[0],
                              port_range_max=pair[1]),
    st.one_of(st.just((None, None)), st.just((1, 65535)),
              numbers.map(sorted), port_pairs),
    security_group_id=st.just('sg'),
    direction=st.sampled_from(['ingress', 'egress']),
    ethertype=st.sampled_from(['IPv4', 'IPv6']), protocol=protocols,
    remote_ip_prefix=prefixes,
    remote_group_id=st.sampled_from([None, 'other']))


def neutron_stores(rule):
    """The rule as Neutron's API and database layer would store it, or None
    when Neutron refuses it."""
    out = dict(rule, project_id='p', remote_address_group_id=None)
    try:
        out['protocol'] = sg_ext.convert_protocol(rule['protocol'])
        out['ethertype'] = sg_ext.convert_ethertype_to_case_insensitive(
            rule['ethertype'])
        for f in ('port_range_min', 'port_range_max'):
            out[f] = sg_ext.convert_validate_port_value(rule[f])
        out['remote_ip_prefix'] = sg_ext.convert_ip_prefix_to_cidr(
            rule['remote_ip_prefix'])
        MIXIN._validate_base_security_group_rule_attributes(out)
    except (n_exc.NeutronException, ValueError):
        return None
    if out['remote_ip_prefix'] and out['remote_group_id']:
        return None
    return {f: out[f] for f in rules.FIELDS}


@settings(max_examples=400, deadline=None)
@given(raw_rules)
def test_stored_is_what_neutron_stores(rule):
    expected = neutron_stores(rule)
    if expected is not None:
        assert rules.stored(rule) == expected


@settings(max_examples=400, deadline=None)
@given(raw_rules, raw_rules)
def test_same_key_exactly_when_neutron_calls_them_duplicates(a, b):
    sa, sb = neutron_stores(a), neutron_stores(b)
    if sa is None or sb is None:
        return
    neutron_same = MIXIN._rule_to_key(sa) == MIXIN._rule_to_key(sb)
    assert (rules.key(a) == rules.key(b)) == neutron_same


@settings(max_examples=300, deadline=None)
@given(raw_rules)
def test_a_rule_is_its_own_duplicate_in_any_spelling(rule):
    """The pairs above rarely meet by chance: respell one rule the ways
    Neutron accepts (number for name, any-prefix for none)."""
    stored = neutron_stores(rule)
    if stored is None:
        return
    respelled = dict(rule)
    name, number = rules.protocol_name_and_number(stored['protocol']) if (
        stored['protocol']) else (None, None)
    respelled['protocol'] = number if rule['protocol'] == name else name
    if stored['remote_ip_prefix'] is None and not rule['remote_group_id']:
        respelled['remote_ip_prefix'] = {'IPv4': '0.0.0.0/0',
                                         'IPv6': '::/0'}[rule['ethertype']]
    other = neutron_stores(respelled)
    if other is None:
        return
    assert MIXIN._rule_to_key(stored) == MIXIN._rule_to_key(other)
    assert rules.key(rule) == rules.key(respelled)


def test_constants_are_neutrons():
    assert rules.PROTO_ANY == neutron_constants.SG_RULE_PROTO_ANY
    assert list(rules.IPV6_ICMP_LEGACY) == (
        neutron_constants.IPV6_ICMP_LEGACY_PROTO_LIST)


@pytest.mark.parametrize('nova, neutron', [
    (('tcp', 1, 65535), ('tcp', None, None)),       # nova's "every port"
    (('UDP', 1, 65535), ('udp', None, None)),
    (('icmp', -1, -1), ('icmp', None, None)),       # any type, any code
    (('icmp', 8, -1), ('icmp', 8, None)),
    (('icmp', -1, 0), ('icmp', None, None)),        # a code needs a type
    (('tcp', 22, 22), ('tcp', 22, 22)),
    ((None, None, None), (None, None, None)),
])
def test_nova_rules_as_neutron_stores_them(nova, neutron):
    body = rules.from_nova(*nova, 'IPv4')
    assert (body['protocol'], body['port_range_min'],
            body['port_range_max']) == neutron
    assert neutron_stores({**body, 'security_group_id': 'sg',
                           'remote_ip_prefix': None,
                           'remote_group_id': None}) is not None


def test_nova_icmp_on_ipv6_is_ipv6_icmp():
    assert rules.from_nova('icmp', -1, -1, 'IPv6')['protocol'] == 'ipv6-icmp'


@pytest.mark.parametrize('nova', [('tcp', 0, 10), ('tcp', 10, 5),
                                  ('tcp', 22, None), ('icmp', 300, 0)])
def test_what_neutron_refuses_is_none(nova):
    assert rules.from_nova(*nova, 'IPv4') is None
