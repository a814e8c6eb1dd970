"""Whose identity the freeze filter and the Neutron proxy trust."""

import types

import pytest

from freeze import identity

CONFIRMED = {'HTTP_X_IDENTITY_STATUS': 'Confirmed',
             'HTTP_X_ROLES': 'Member, Admin,', 'HTTP_X_USER_ID': 'u1',
             'HTTP_X_PROJECT_ID': 'p1', 'keystone.token_info': {}}


@pytest.mark.parametrize('environ, expected', [
    ({}, None),  # no authentication in the pipeline
    (CONFIRMED, identity.Caller(frozenset({'member', 'admin'}), 'u1', 'p1')),
    (dict(CONFIRMED, HTTP_X_IDENTITY_STATUS='Invalid'),
     identity.UNCONFIRMED),
    # the headers alone, without auth_token's token data: a forgery
    ({k: v for k, v in CONFIRMED.items() if k != 'keystone.token_info'},
     identity.UNCONFIRMED),
    # nova's RequestContext comes first, whatever the headers say
    (dict(CONFIRMED, **{'nova.context': types.SimpleNamespace(
        roles=['Migration'], user_id='u2', project_id='p2')}),
     identity.Caller(frozenset({'migration'}), 'u2', 'p2')),
], ids=['noauth', 'confirmed', 'invalid', 'forged', 'nova-context'])
def test_caller(environ, expected):
    assert identity.caller(environ) == expected
