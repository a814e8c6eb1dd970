"""decision.decide: the whole table, plus properties over random requests."""

import datetime

from hypothesis import given
from hypothesis import strategies as st
import pytest

from freeze import decision
from freeze.state.document import FreezeState

NOW = datetime.datetime(2026, 11, 25, 12, tzinfo=datetime.timezone.utc)
RULES = decision.Rules(
    allow=(decision.AllowRule.parse('service:POST:/os-server-external-events'),))
MEMBER = frozenset({'member', 'reader'})
ADMIN = frozenset({'admin', 'member', 'reader'})
MIGRATION = frozenset({'member', 'migration'})
SERVICE = frozenset({'service'})
NOBODY = frozenset()


def frozen(mode, **kw):
    return FreezeState(epoch=1, frozen=True, mode=mode, reason='test', **kw)


def allowed(method, path, roles, state, action=None):
    facts = decision.RequestFacts(method, path, roles, action)
    return decision.decide(facts, state, RULES, NOW).allowed


# (mode, roles, method, path, action) -> allowed
TABLE = [
    # full
    ('full', MIGRATION, 'POST', '/flavors', None, True),
    ('full', MIGRATION, 'DELETE', '/servers/x', None, True),
    ('full', ADMIN, 'GET', '/servers', None, True),
    ('full', ADMIN, 'HEAD', '/servers', None, True),
    ('full', ADMIN, 'POST', '/flavors', None, False),
    ('full', MEMBER, 'GET', '/servers', None, False),
    ('full', MEMBER, 'POST', '/os-keypairs', None, False),
    ('full', SERVICE, 'POST', '/os-server-external-events', None, True),
    ('full', MEMBER, 'POST', '/os-server-external-events', None, False),
    ('full', NOBODY, 'GET', '/', None, True),
    ('full', NOBODY, 'GET', '/versions/v2.1', None, True),
    ('full', NOBODY, 'GET', '/servers', None, False),
    ('full', ADMIN, 'OPTIONS', '/servers', None, False),
    # writes
    ('writes', MEMBER, 'GET', '/servers', None, True),
    ('writes', MEMBER, 'POST', '/os-keypairs', None, False),
    ('writes', ADMIN, 'POST', '/flavors', None, False),
    ('writes', MIGRATION, 'POST', '/os-keypairs', None, True),
    ('writes', NOBODY, 'GET', '/servers', None, False),
    ('writes', SERVICE, 'POST', '/os-server-external-events', None, True),
    # network
    ('network', MEMBER, 'POST', '/os-keypairs', None, True),
    ('network', MEMBER, 'POST', '/servers', None, False),
    ('network', ADMIN, 'POST', '/servers/x/action', 'migrate', False),
    ('network', ADMIN, 'POST', '/servers/x/action', 'reboot', True),
    ('network', ADMIN, 'POST', '/servers/x/action', None, False),
    ('network', MIGRATION, 'POST', '/servers', None, True),
    ('network', MEMBER, 'DELETE', '/os-security-groups/1', None, False),
    ('network', MEMBER, 'GET', '/os-security-groups', None, True),
    ('network', SERVICE, 'POST', '/os-server-external-events', None, True),
]


@pytest.mark.parametrize('mode, roles, method, path, action, expected', TABLE)
def test_table(mode, roles, method, path, action, expected):
    assert allowed(method, path, roles, frozen(mode), action) is expected


def test_thawed_allows_everything():
    assert allowed('DELETE', '/servers/x', NOBODY, FreezeState())


def test_unknown_mode_fails_closed():
    state = FreezeState(epoch=1, frozen=True, mode='future-mode')
    assert not allowed('POST', '/os-keypairs', MEMBER, state)
    assert not allowed('GET', '/servers', MEMBER, state)


def test_until_does_not_thaw_without_auto_thaw():
    past = NOW - datetime.timedelta(hours=1)
    assert not allowed('POST', '/os-keypairs', MEMBER,
                       frozen('full', until=past))
    assert allowed('POST', '/os-keypairs', MEMBER,
                   frozen('full', until=past, auto_thaw=True))
    future = NOW + datetime.timedelta(hours=1)
    assert not allowed('POST', '/os-keypairs', MEMBER,
                       frozen('full', until=future, auto_thaw=True))


def test_block_reason_is_explained():
    facts = decision.RequestFacts('POST', '/servers', MEMBER)
    verdict = decision.decide(facts, frozen('network'), RULES, NOW)
    assert not verdict.allowed
    assert 'network' in verdict.reason


@pytest.mark.parametrize('text', ['', 'service', 'a:b', 'a::x', 'r:GET:(',
                                  ':GET:/x'])
def test_bad_allow_rule_is_refused(text):
    with pytest.raises(ValueError):
        decision.AllowRule.parse(text)


def test_allow_rule_wildcards():
    rule = decision.AllowRule.parse('*:GET:/os-hypervisors(/.*)?')
    assert rule.matches(decision.RequestFacts('GET', '/os-hypervisors/1',
                                              MEMBER))
    assert not rule.matches(decision.RequestFacts('PUT', '/os-hypervisors/1',
                                                  MEMBER))
    assert str(rule) == '*:GET:/os-hypervisors(/.*)?'


role_names = st.sampled_from(['admin', 'member', 'reader', 'migration',
                              'service', 'other'])
methods = st.sampled_from(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE',
                           'OPTIONS', 'TRACE', 'get'])
paths = st.sampled_from(['/', '/servers', '/servers/x', '/servers/x/action',
                         '/os-keypairs', '/flavors', '/os-freeze',
                         '/os-server-external-events', '/os-networks/add',
                         '/versions/v2.1', '/whatever'])
requests = st.builds(decision.RequestFacts, methods, paths,
                     st.frozensets(role_names),
                     st.one_of(st.none(), st.sampled_from(['migrate',
                                                           'reboot'])))


@given(requests)
def test_full_mode_passes_only_what_it_must(facts):
    """In full mode only the allow-list, migration roles, version documents
    and reader GET/HEAD ever pass."""
    verdict = decision.decide(facts, frozen('full'), RULES, NOW)
    if verdict.allowed:
        assert (any(rule.matches(facts) for rule in RULES.allow)
                or 'migration' in facts.roles
                or (facts.method == 'GET' and facts.path in ('/',
                                                            '/versions/v2.1'))
                or (facts.method in ('GET', 'HEAD') and 'admin' in facts.roles))


@given(requests, st.sampled_from(['full', 'writes', 'network']))
def test_modes_nest(facts, mode):
    """full is the strictest, network the loosest: whatever a stricter mode
    allows, a looser one allows too; migration roles always pass."""
    order = ['full', 'writes', 'network']
    verdict = decision.decide(facts, frozen(mode), RULES, NOW)
    if verdict.allowed and facts.roles:
        for looser in order[order.index(mode):]:
            assert decision.decide(facts, frozen(looser), RULES, NOW).allowed
    if 'migration' in facts.roles:
        assert verdict.allowed


def test_host_power_gets_count_as_writes():
    assert allowed('GET', '/os-hosts/h1', ADMIN, frozen('full'))
    assert not allowed('GET', '/os-hosts/h1/reboot', ADMIN, frozen('full'))
    assert not allowed('GET', '/os-hosts/h1/shutdown', MEMBER,
                       frozen('writes'))
