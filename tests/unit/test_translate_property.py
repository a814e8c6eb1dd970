"""Property: on any database the generator makes, Neutron holding exactly
the translation is no change, and nova's own writes afterwards are exactly
the changes. Neutron is simulated here as holding the desired state (the real
Neutron round trip: tests/e2e/test_translate_property_e2e.py)."""


import hypothesis
from hypothesis import HealthCheck, given

from tests.novawrites import (
    DATABASES, WRITES, changes, held, make, translate, write)

from freeze.translate.changes import diff

FAST = hypothesis.settings(
    max_examples=20, deadline=None, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture,
                           HealthCheck.too_slow])


@FAST
@given(db=DATABASES)
def test_what_was_applied_needs_no_change(tmp_path, db):
    gen, settings = make(tmp_path, db)
    wanted = translate(gen, settings)
    assert not [p for p in wanted.problems if p.kind == 'conflict']
    assert not diff(wanted, held(wanted))
    assert not diff(translate(gen, settings), held(wanted))  # stable


@FAST
@given(db=DATABASES, todo=WRITES)
def test_the_changes_are_exactly_what_nova_changed(tmp_path, db, todo):
    gen, settings = make(tmp_path, db)
    before = translate(gen, settings)
    expected = write(gen, settings, todo)
    assert changes(diff(translate(gen, settings), held(before))) == (
        expected)
