"""The hosts of a plan read from Nova instead of listed in it.

``inventory: {from: nova, cloud: NAME, group_by: zone|none}``: every
``nova-compute`` service that Nova's os-services API lists, grouped into
cells by availability zone (the compute API does not expose cells), with
openstacksdk's usual configuration (clouds.yaml, ``OS_*``).  Read once when
a run starts; the run keeps the list, so ``resume`` asks Nova nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from freeze.cutover.plan import PlanError
from typing import Any


def settings(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict) or raw.get('from') != 'nova':
        raise PlanError('inventory: only {from: nova} is supported')
    unknown = set(raw) - {'from', 'cloud', 'group_by', 'disabled'}
    if unknown:
        raise PlanError('inventory: unknown key(s): '
                        + ', '.join(sorted(unknown)))
    if raw.get('group_by', 'zone') not in ('zone', 'none'):
        raise PlanError('inventory: group_by is zone or none')
    return raw


def group(services: Iterable[tuple[str, str, str]], group_by: str = 'zone',
          disabled: bool = False) -> dict[str, list[str]]:
    """Pure: (host, zone, status) triples -> host -> cell, sorted."""
    hosts = {}
    for host, zone, status in sorted(services, key=lambda s: (s[1] or '',
                                                              s[0])):
        if status == 'disabled' and not disabled:
            continue
        hosts.setdefault(host, (zone or 'nova') if group_by == 'zone'
                         else 'all')
    return hosts


def from_nova(raw: Any) -> dict[str, list[str]]:
    """host -> cell from the compute services Nova knows."""
    import openstack  # only when a plan asks for it: it is slow to import
    options = settings(raw)
    try:
        conn = openstack.connect(cloud=options.get('cloud'))
        services = [(s.host, s.availability_zone, s.status)
                    for s in conn.compute.services(binary='nova-compute')]
    except openstack.exceptions.SDKException as exc:
        raise PlanError(f'inventory: cannot list Nova compute services: {exc}')
    hosts = group(services, options.get('group_by', 'zone'),
                  options.get('disabled', False))
    if not hosts:
        raise PlanError('inventory: Nova lists no nova-compute service')
    return hosts
