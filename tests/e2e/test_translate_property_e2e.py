"""The property of tests/unit/test_translate_property.py against the real
Neutron, on a couple of random generated databases: apply, then verify
passes and the next plan is empty; nova's writes are exactly the plan;
rollback leaves Neutron as it was."""

from hypothesis import HealthCheck, given, settings

from freeze.translate import converge, rollback, verify
from tests.e2e.test_translate_e2e import baseline, snapshot
from tests.novawrites import (
    DATABASES, WRITES, changes, make, translate, write)


def converge_once(neutron, gen, conf):
    actual = converge.fetch(neutron)
    result = converge.apply(converge.diff(translate(gen, conf), actual),
                            neutron, actual, workers=3)
    assert not result.failures


@settings(max_examples=2, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(db=DATABASES, todo=WRITES)
def test_random_databases_against_neutron(neutron, tmp_path_factory, db,
                                          todo):
    db = {**db, 'ports': min(db['ports'], 8)}   # Neutron's time, not ours
    gen, conf = make(tmp_path_factory.mktemp('nova'), db)
    before = baseline(neutron)
    try:
        converge_once(neutron, gen, conf)
        plan = converge.diff(translate(gen, conf), converge.fetch(neutron))
        assert verify.mismatches(plan) == [] and not plan
        expected = write(gen, conf, todo)
        plan = converge.diff(translate(gen, conf), converge.fetch(neutron))
        assert changes(plan) == expected
        converge_once(neutron, gen, conf)
        assert not converge.diff(translate(gen, conf),
                                 converge.fetch(neutron))
    finally:
        assert not rollback.rollback(neutron).failures
    assert snapshot(neutron) == before
