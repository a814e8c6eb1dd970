"""The property of tests/unit/test_translate_property.py against the real
Neutron, on a couple of random generated databases: apply, then verify
passes and the next plan is empty; nova's writes are exactly the plan;
rollback leaves Neutron as it was."""


import hypothesis
from hypothesis import HealthCheck, given
from tests.e2e.test_translate_e2e import baseline, snapshot

from tests.novawrites import (
    DATABASES, WRITES, changes, make, translate, write)

from freeze.translate import verify
from freeze.translate.apply import apply
from freeze.translate.changes import diff
from freeze.translate.desired import Desired
from freeze.translate.held import fetch


def converge_once(neutron, gen, settings):
    actual = fetch(neutron)
    result = apply(diff(translate(gen, settings), actual),
                   neutron, actual, workers=3)
    assert not result.failures


@hypothesis.settings(max_examples=2, deadline=None, database=None,
                     suppress_health_check=[
                         HealthCheck.function_scoped_fixture,
                         HealthCheck.too_slow])
@given(db=DATABASES, todo=WRITES)
def test_random_databases_against_neutron(neutron, tmp_path_factory, db,
                                          todo):
    db = {**db, 'ports': min(db['ports'], 8)}   # Neutron's time, not ours
    gen, settings = make(tmp_path_factory.mktemp('nova'), db)
    before = baseline(neutron)
    try:
        converge_once(neutron, gen, settings)
        plan = diff(translate(gen, settings), fetch(neutron))
        assert verify.mismatches(plan) == [] and not plan
        expected = write(gen, settings, todo)
        plan = diff(translate(gen, settings), fetch(neutron))
        assert changes(plan) == expected
        converge_once(neutron, gen, settings)
        assert not diff(translate(gen, settings), fetch(neutron))
    finally:
        rest = fetch(neutron)
        assert not apply(diff(Desired.empty(), rest), neutron,
                         rest).failures
    assert snapshot(neutron) == before
