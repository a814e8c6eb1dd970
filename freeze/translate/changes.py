"""The changes that take Neutron from what it holds to what is desired.

Pure: ``diff`` compares the desired resources (desired.py) with what
Neutron holds (held.py, or neutrondb.py for its database) and returns its
decisions, changing neither. Both writers take the same ``Changes``:
applying.py through the API, restore.py as rows. ``verify`` prints them.
Neutron's own default group of a project, not tracked yet, is adopted
(tagged) rather than created: a decision ``Changes.adopted`` carries.
Diffing against an empty desired state is the rollback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

from freeze.translate import keys
from freeze.translate.held import Actual
from freeze.translate.desired import KINDS, Desired, Ref

#: fields Neutron will not change in place: a difference means replace
IMMUTABLE = {
    'network': {'project_id', 'provider:network_type',
                'provider:physical_network', 'provider:segmentation_id'},
    'subnet': {'network_id', 'project_id', 'ip_version', 'cidr',
               'ipv6_address_mode', 'ipv6_ra_mode'},
    'port': {'network_id', 'project_id', 'mac_address'},
    'security_group': {'project_id'},
    'rule': {'security_group_id'},
    'router': {'project_id'},
    'router_interface': {'router', 'subnet'},
    'floatingip': {'floating_network_id', 'floating_ip_address',
                   'project_id'},
}


@dataclass(frozen=True)
class Change:
    op: str                 # create | update | replace | delete | tag
    kind: str
    key: str
    want: dict | None = None
    have: dict | None = None
    fields: tuple[str, ...] = ()


@dataclass
class Changes:
    items: list[Change]
    #: desired default group key -> the project's untracked default group
    #: (Neutron's object) that the changes adopt instead of creating one
    adopted: dict[str, dict] = field(default_factory=dict)

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for c in self.items:
            ops = out.setdefault(c.kind, {})
            ops[c.op] = ops.get(c.op, 0) + 1
        return out

    def __iter__(self) -> Iterator[Change]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)


def diff(desired: Desired, actual: Actual) -> Changes:
    adopted = adoptable_defaults(desired, actual)
    seen = actual.adopting(adopted)
    changes: list[Change] = []
    replaced: set[str] = set()
    for kind in KINDS:
        want, have = desired.resources[kind], seen.items[kind]
        for key, res in want.items():
            cur = have.get(key)
            if cur is None:
                changes.append(Change('create', kind, key, res.body))
                continue
            # A rule's key is all of it, as Neutron compares rules: the
            # same key with other words (6 for tcp, 0.0.0.0/0 for none) is
            # the same rule.
            # An unchanged body compared at once: most of a no-change run.
            fields = () if kind == 'rule' or res.body == cur else tuple(
                f for f in res.body if not _same(f, res.body[f], cur.get(f)))
            if any(f in IMMUTABLE[kind] for f in fields) or any(
                    isinstance(res.body[f], Ref) and res.body[f].key in replaced
                    for f in IMMUTABLE[kind] if f in res.body):
                replaced.add(key)
                changes.append(Change('replace', kind, key, res.body, cur,
                                      fields))
            elif fields:
                changes.append(Change('update', kind, key, res.body, cur,
                                      fields))
            elif key in seen.untagged or key in adopted:
                changes.append(Change('tag', kind, key, res.body, cur))
        for key in have.keys() - want.keys():
            if kind == 'rule' and _kept_on_release(key, have[key], desired,
                                                   seen):
                continue
            changes.append(Change('delete', kind, key, None, have[key]))
    return Changes(changes, adopted)


def _same(field: str, want: Any, have: Any) -> bool:
    """Neutron adds a SLAAC address to every port of a network with a SLAAC
    subnet: compared only where the desired port lists one (instance ports,
    whose MAC fixes it), not on reserved-address ports."""
    if field == 'fixed_ips' and have:
        subnets = {s for s, _ in want}
        have = frozenset(p for p in have if p[0] in subnets
                         or not keys.is_slaac(p[0].key))
    return want == have


def adoptable_defaults(desired: Desired, actual: Actual) -> dict[str, dict]:
    """Desired default groups -> the untracked project default to adopt."""
    adopt = {}
    for key, res in desired.resources['security_group'].items():
        group = actual.defaults.get(res.body['project_id'])
        if (res.body['name'] == 'default' and key not in actual.ids
                and group is not None and not keys.of(group)):
            adopt[key] = group
    return adopt


def _kept_on_release(key: str, body: dict, desired: Desired,
                     actual: Actual) -> bool:
    """A default group leaving the translation keeps the rules Neutron gave
    it; only the rules the tool added go (rollback)."""
    group = body['security_group_id'].key
    raw = actual.raw.get(group, {})
    return (raw.get('name') == 'default'
            and group not in desired.resources['security_group']
            and actual.raw[key].get('description') != keys.MARK)
