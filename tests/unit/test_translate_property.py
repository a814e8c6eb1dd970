"""Property: on any database the generator makes, Neutron holding exactly
the translation is no change, and nova's own writes afterwards are exactly
the plan. Neutron is simulated here as holding the desired state (the real
Neutron round trip: tests/e2e/test_translate_property_e2e.py)."""

from hypothesis import HealthCheck, given, settings

from freeze.translate import converge
from tests.novawrites import (
    DATABASES, WRITES, changes, held, make, translate, write)

FAST = settings(max_examples=20, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@FAST
@given(db=DATABASES)
def test_what_was_applied_plans_nothing(tmp_path, db):
    gen, conf = make(tmp_path, db)
    wanted = translate(gen, conf)
    assert not [p for p in wanted.problems if p.kind == 'conflict']
    assert not converge.diff(wanted, held(wanted))
    assert not converge.diff(translate(gen, conf), held(wanted))  # stable


@FAST
@given(db=DATABASES, todo=WRITES)
def test_the_plan_is_exactly_what_nova_changed(tmp_path, db, todo):
    gen, conf = make(tmp_path, db)
    before = translate(gen, conf)
    expected = write(gen, conf, todo)
    assert changes(converge.diff(translate(gen, conf), held(before))) == (
        expected)
