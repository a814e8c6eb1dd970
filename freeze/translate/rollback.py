"""rollback: remove everything the tool created, put default groups back.

It is convergence onto nothing: every tagged resource is deleted in reverse
dependency order, and each adopted default group gets back the stock rules
recorded in its tags (or is deleted when this tool made Neutron create it).
"""

from __future__ import annotations

from freeze.translate import converge
from freeze.translate.desired import Desired
from freeze.translate.neutron import Neutron


def plan(neutron: Neutron) -> tuple[converge.Plan, converge.Actual]:
    actual = converge.fetch(neutron)
    return converge.diff(Desired.empty(), actual), actual


def rollback(neutron: Neutron, workers: int = 4, progress=None
             ) -> converge.Result:
    changes, actual = plan(neutron)
    return converge.apply(changes, neutron, actual, workers,
                          progress=progress)
