"""What Neutron holds of the translation, read through its API.

Everything the translation created (found by its key: keys.py), normalized
into the bodies desired.py builds, so that one diff (changes.py) compares
them. Reading only: no default group gets created by looking. The same
reading serves a translated Neutron and the read-only proxy alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from freeze.translate import keys, rules
from freeze.translate.desired import KINDS, Ref
from freeze.translate.neutron import Neutron

COLLECTION = {'network': 'networks', 'subnet': 'subnets', 'port': 'ports',
              'security_group': 'security-groups',
              'rule': 'security-group-rules', 'router': 'routers',
              'floatingip': 'floatingips'}


@dataclass
class Actual:
    items: dict[str, dict[str, dict]]   # kind -> key -> normalized body
    ids: dict[str, str]                 # key -> Neutron id
    raw: dict[str, dict]                # key -> Neutron's object
    untagged: set[str]                  # found by description only
    defaults: dict[str, dict]           # project -> its default group

    def __len__(self) -> int:
        return sum(map(len, self.items.values()))

    @classmethod
    def empty(cls) -> Actual:
        return cls({k: {} for k in KINDS}, {}, {}, set(), {})

    def adopting(self, adopted: dict[str, dict]) -> Actual:
        """This state with untracked default groups (desired key -> the
        Neutron group) counted as the translation's, with their rules:
        a new Actual, this one unchanged."""
        if not adopted:
            return self
        items = dict(self.items)
        items['security_group'] = dict(items['security_group'])
        items['rule'] = dict(items['rule'])
        ids, raw = dict(self.ids), dict(self.raw)
        for key, group in adopted.items():
            ids[key], raw[key] = group['id'], group
            items['security_group'][key] = normalize(
                'security_group', group, None)
            ref = group_ref(key, group['id'])
            for rule in group.get('security_group_rules', ()):
                body = normalize_rule(rule, ref)
                rkey = keys.rule(body)
                items['rule'][rkey] = body
                ids[rkey], raw[rkey] = rule['id'], rule
        return Actual(items, ids, raw, self.untagged, self.defaults)


def fetch(neutron: Neutron) -> Actual:
    """Everything the tool created, normalized like desired bodies."""
    lists = {kind: neutron.list(COLLECTION[kind]) for kind in (
        'security_group', 'network', 'subnet', 'router', 'floatingip')}
    lists['port'] = neutron.list('ports', tags=keys.MARK)
    interfaces = neutron.list('ports', device_owner='network:router_interface')
    ids, raw, untagged = {}, {}, set()
    for objs in lists.values():
        for obj in objs:
            key = keys.of(obj)
            if key:
                ids[key], raw[key] = obj['id'], obj
                if not keys.is_tagged(obj, key):
                    untagged.add(key)
    by_id = {id: key for key, id in ids.items()}

    def ref(id: str | None) -> Ref | None:
        return None if id is None else Ref(by_id.get(id) or keys.foreign(id))

    items: dict[str, dict[str, dict]] = {kind: {} for kind in KINDS}
    for key, obj in list(raw.items()):
        kind = keys.kind(key)
        items[kind][key] = normalize(kind, obj, ref)
        if kind == 'security_group':
            for rule in obj.get('security_group_rules', ()):
                body = normalize_rule(rule, ref)
                rkey = keys.rule(body)
                items['rule'][rkey] = body
                ids[rkey], raw[rkey] = rule['id'], rule
    for port in interfaces:
        router = by_id.get(port['device_id'])
        for ip in port['fixed_ips']:
            subnet = by_id.get(ip['subnet_id'])
            if router and subnet:
                items['router_interface'][
                    keys.router_interface(router, subnet)] = {
                    'router': Ref(router), 'subnet': Ref(subnet)}
    defaults = {g['project_id']: g for g in lists['security_group']
                if g['name'] == 'default'}
    return Actual(items, ids, raw, untagged, defaults)


def group_ref(key: str, group_id: str) -> Callable[[str | None], Any]:
    """Refs for the rules of a group not tracked yet: itself by key."""
    return lambda id: None if id is None else Ref(
        key if id == group_id else keys.foreign(id))


def _pick(obj: dict, fields: Iterable[str]) -> dict:
    return {f: obj.get(f) for f in fields}


def normalize_rule(rule: dict, ref: Callable[[str | None], Any]) -> dict:
    body = _pick(rule, rules.FIELDS)
    body['security_group_id'] = ref(rule['security_group_id'])
    body['remote_group_id'] = ref(rule['remote_group_id'])
    return body


def normalize(kind: str, obj: dict, ref: Callable[[str | None], Any]
              ) -> dict:
    """A Neutron object as the desired body of its kind."""
    return _NORMALIZE[kind](obj, ref)


_NORMALIZE: dict[str, Callable[[dict, Any], dict]] = {
    'network': lambda o, ref: _pick(o, (
        'name', 'project_id', 'shared', 'router:external', 'mtu',
        'provider:network_type', 'provider:physical_network',
        'provider:segmentation_id')),
    'subnet': lambda o, ref: {
        **_pick(o, ('name', 'project_id', 'ip_version', 'cidr', 'gateway_ip',
                    'enable_dhcp', 'ipv6_address_mode', 'ipv6_ra_mode')),
        'network_id': ref(o['network_id']),
        'dns_nameservers': tuple(o['dns_nameservers']),
        'allocation_pools': tuple((p['start'], p['end'])
                                  for p in o['allocation_pools'])},
    'port': lambda o, ref: {
        **_pick(o, ('project_id', 'device_id', 'device_owner',
                    'binding:host_id')),
        'mac_address': o['mac_address'].lower(),
        'network_id': ref(o['network_id']),
        'fixed_ips': frozenset((ref(ip['subnet_id']), ip['ip_address'])
                               for ip in o['fixed_ips']),
        'security_groups': frozenset(map(ref, o['security_groups']))},
    'security_group': lambda o, ref: _pick(
        o, ('name', 'description', 'project_id')),
    'router': lambda o, ref: {
        **_pick(o, ('name', 'project_id')),
        'external_network': ref((o.get('external_gateway_info') or {})
                                .get('network_id'))},
    'floatingip': lambda o, ref: {
        **_pick(o, ('floating_ip_address', 'project_id', 'fixed_ip_address')),
        'floating_network_id': ref(o['floating_network_id']),
        'port_id': ref(o['port_id'])},
}
