"""Converge Neutron onto the desired resources: fetch, diff, apply.

What the tool created carries the tag ``nova-cutover`` and
``nova-cutover:key=<key>``, and the key in its description too, which is
set in the same request as the creation: a crash between creating and
tagging leaves a resource found by description and tagged on the next run,
never a duplicate. A description of nova's own (security groups) replaces
the key only once the tags hold it, and an untagged resource is tagged
before any update: whatever step a crash interrupts, the next run finds the
resource again. (Matching untagged groups by project and name instead would
adopt, and on rollback delete, a group someone else made with that name.)
Ports get their tags in the bulk POST itself. Rules take no tags: they are
keyed by content within their group. Neutron's own default group of a
project is adopted (tagged) rather than created; a stock rule removed from
it is first recorded in a tag of that group so that rollback can put it
back.

Applying the diff to an empty desired state is the rollback.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from freeze.translate import rules
from freeze.translate.desired import KINDS, Desired, Ref, rule_key
from freeze.translate.neutron import Neutron, NeutronError

MARK = 'nova-cutover'
KEY_TAG = MARK + ':key='
CREATED_DEFAULT = MARK + ':created-default'
REMOVED = MARK + ':removed='

COLLECTION = {'network': 'networks', 'subnet': 'subnets', 'port': 'ports',
              'security_group': 'security-groups',
              'rule': 'security-group-rules', 'router': 'routers',
              'floatingip': 'floatingips'}
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
RULE_FIELDS = rules.FIELDS


# -- what Neutron holds -----------------------------------------------------

@dataclass
class Actual:
    items: dict[str, dict[str, dict]]   # kind -> key -> normalized body
    ids: dict[str, str]                 # key -> Neutron id
    raw: dict[str, dict]                # key -> Neutron's object
    untagged: set[str]                  # found by description only
    defaults: dict[str, dict]           # project -> its default group

    def __len__(self) -> int:
        return sum(map(len, self.items.values()))


def fetch(neutron: Neutron) -> Actual:
    """Everything the tool created, normalized like desired bodies. Reads
    only: no default group gets created by looking."""
    lists = {kind: neutron.list(COLLECTION[kind]) for kind in (
        'security_group', 'network', 'subnet', 'router', 'floatingip')}
    lists['port'] = neutron.list('ports', tags=MARK)
    interfaces = neutron.list('ports', device_owner='network:router_interface')
    ids, raw, untagged = {}, {}, set()
    for kind, objs in lists.items():
        for obj in objs:
            key = _key_of(obj)
            if key:
                ids[key], raw[key] = obj['id'], obj
                if KEY_TAG + key not in obj.get('tags', ()):
                    untagged.add(key)
    keys = {id: key for key, id in ids.items()}

    def ref(id: str | None) -> Ref | None:
        return None if id is None else Ref(keys.get(id, f'neutron:{id}'))

    items: dict[str, dict[str, dict]] = {kind: {} for kind in KINDS}
    for key, obj in list(raw.items()):
        kind = _kind_of(key)
        items[kind][key] = _NORMALIZE[kind](obj, ref)
        if kind == 'security_group':
            for rule in obj.get('security_group_rules', ()):
                body = _normalize_rule(rule, ref)
                rkey = rule_key(body)
                items['rule'][rkey] = body
                ids[rkey], raw[rkey] = rule['id'], rule
    for port in interfaces:
        router = keys.get(port['device_id'])
        for ip in port['fixed_ips']:
            subnet = keys.get(ip['subnet_id'])
            if router and subnet:
                rkey = f'rif:{router}:{subnet}'
                items['router_interface'][rkey] = {
                    'router': Ref(router), 'subnet': Ref(subnet)}
    defaults = {g['project_id']: g for g in lists['security_group']
                if g['name'] == 'default'}
    return Actual(items, ids, raw, untagged, defaults)


def _key_of(obj: dict) -> str | None:
    for tag in obj.get('tags', ()):
        if tag.startswith(KEY_TAG):
            return tag[len(KEY_TAG):]
    description = obj.get('description') or ''
    if description.startswith(MARK + ' key='):
        return description[len(MARK + ' key='):]
    return None


def _kind_of(key: str) -> str:
    prefix = key.split(':', 1)[0]
    return {'net': 'network', 'ext': 'network', 'subnet4': 'subnet',
            'subnet6': 'subnet', 'port': 'port', 'hostip': 'port',
            'sg': 'security_group', 'samenet': 'security_group',
            'router': 'router', 'fip': 'floatingip', 'rule': 'rule',
            'rif': 'router_interface'}[prefix]


def _pick(obj: dict, fields: Iterable[str]) -> dict:
    return {f: obj.get(f) for f in fields}


def _normalize_rule(rule: dict, ref) -> dict:
    body = _pick(rule, RULE_FIELDS)
    body['security_group_id'] = ref(rule['security_group_id'])
    body['remote_group_id'] = ref(rule['remote_group_id'])
    return body


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


# -- the difference -----------------------------------------------------------

@dataclass(frozen=True)
class Change:
    op: str                 # create | update | replace | delete | tag
    kind: str
    key: str
    want: dict | None = None
    have: dict | None = None
    fields: tuple[str, ...] = ()


@dataclass
class Plan:
    changes: list[Change]

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for c in self.changes:
            ops = out.setdefault(c.kind, {})
            ops[c.op] = ops.get(c.op, 0) + 1
        return out

    def __bool__(self) -> bool:
        return bool(self.changes)


def diff(desired: Desired, actual: Actual) -> Plan:
    changes: list[Change] = []
    replaced: set[str] = set()
    adopt = _adoptable_defaults(desired, actual)
    for kind in KINDS:
        want, have = desired.resources[kind], actual.items[kind]
        for key, res in want.items():
            cur = have.get(key)
            if cur is None and key in adopt:
                cur = actual.items['security_group'].get(adopt[key])
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
            elif key in actual.untagged or key in adopt:
                changes.append(Change('tag', kind, key, res.body, cur))
        for key in have.keys() - want.keys():
            if kind == 'rule' and _kept_on_release(key, have[key], desired,
                                                   actual):
                continue
            changes.append(Change('delete', kind, key, None, have[key]))
    return Plan(changes)


def _same(field: str, want: Any, have: Any) -> bool:
    """Neutron adds a SLAAC address to every port of a network with a SLAAC
    subnet: compared only where the desired port lists one (instance ports,
    whose MAC fixes it), not on reserved-address ports."""
    if field == 'fixed_ips' and have:
        subnets = {s for s, _ in want}
        have = frozenset(p for p in have if p[0] in subnets
                         or not p[0].key.startswith('subnet6:'))
    return want == have


def _adoptable_defaults(desired: Desired, actual: Actual) -> dict[str, str]:
    """Desired default groups -> the untracked project default to adopt.
    Its rules are tracked under the desired key by re-keying them here."""
    adopt = {}
    for key, res in desired.resources['security_group'].items():
        group = actual.defaults.get(res.body['project_id'])
        if (res.body['name'] == 'default' and key not in actual.ids
                and group is not None and not _key_of(group)):
            adopt[key] = key
            actual.ids[key], actual.raw[key] = group['id'], group
            actual.items['security_group'][key] = _NORMALIZE[
                'security_group'](group, None)
            for rule in group['security_group_rules']:
                body = _normalize_rule(rule, _group_ref(key, group['id']))
                rkey = rule_key(body)
                actual.items['rule'][rkey] = body
                actual.ids[rkey], actual.raw[rkey] = rule['id'], rule
    return adopt


def _group_ref(key: str, group_id: str) -> Callable[[str | None], Any]:
    """Refs for the rules of a group not tracked yet: itself by key."""
    return lambda id: None if id is None else Ref(
        key if id == group_id else f'neutron:{id}')


def _kept_on_release(key: str, body: dict, desired: Desired,
                     actual: Actual) -> bool:
    """A default group leaving the translation keeps the rules Neutron gave
    it; only the rules the tool added go (rollback)."""
    group = body['security_group_id'].key
    raw = actual.raw.get(group, {})
    return (raw.get('name') == 'default'
            and group not in desired.resources['security_group']
            and actual.raw[key].get('description') != MARK)


# -- applying it ----------------------------------------------------------

@dataclass
class Result:
    done: int = 0
    failures: list[tuple[str, str, str]] = field(default_factory=list)

    def fail(self, kind: str, key: str, message: str) -> None:
        self.failures.append((kind, key, message))


class _MissingRef(Exception):
    pass


def apply(plan: Plan, neutron: Neutron, actual: Actual, workers: int = 4,
          bulk_size: int = 50, progress: Callable[[int], None] = None
          ) -> Result:
    return _Applier(neutron, actual, workers, bulk_size,
                    progress or (lambda n: None)).run(plan)


class _Applier:
    def __init__(self, neutron: Neutron, actual: Actual, workers: int,
                 bulk_size: int, progress: Callable[[int], None]):
        self.n = neutron
        self.actual = actual
        self.ids = dict(actual.ids)
        self.workers = workers
        self.bulk_size = bulk_size
        self.progress = progress
        self.result = Result()
        self.lock = threading.Lock()
        #: rule key -> id of the rules Neutron itself put into the groups
        #: made (or default groups it created) during this run
        self.neutron_rules: dict[str, str] = {}

    def run(self, plan: Plan) -> Result:
        by = {(op, kind): [] for op in ('create', 'update', 'replace',
                                        'delete', 'tag') for kind in KINDS}
        for change in plan.changes:
            by[change.op, change.kind].append(change)
        for kind in reversed(KINDS):
            deletes = by['delete', kind] + by['replace', kind]
            if kind == 'rule':
                deletes = self._skip_going_with_group(
                    deletes, by['delete', 'security_group']
                    + by['replace', 'security_group'])
            self._parallel(self._delete, deletes)
        for kind in KINDS:
            creates = by['create', kind] + by['replace', kind]
            if kind in ('port', 'rule'):
                if kind == 'rule':
                    creates = self._skip_present_rules(creates)
                self._parallel(self._bulk, self._chunks(kind, creates),
                               bulk=True)
            elif kind == 'security_group':
                for change in creates:  # defaults: tags set one at a time
                    self._guard(self._create, change)
            else:
                self._parallel(self._create, creates)
            self._parallel(self._update, by['update', kind])
            self._parallel(self._tag, by['tag', kind])
        return self.result

    # -- plumbing ---------------------------------------------------------

    def _parallel(self, fn: Callable[[Change], None], changes: list,
                  bulk: bool = False) -> None:
        """fn over the changes (or chunks, which _bulk reports itself)
        on the worker threads."""
        if not changes:
            return
        one = fn if bulk else functools.partial(self._guard, fn)
        with ThreadPoolExecutor(self.workers) as pool:
            list(pool.map(one, changes))

    def _guard(self, fn: Callable[[Change], Any], change: Change,
               count: int = 1) -> None:
        """A change Neutron rejects is reported; the run goes on. count:
        0 for work the plan does not list."""
        try:
            fn(change)
        except (NeutronError, _MissingRef) as exc:
            self.result.fail(change.kind, change.key, str(exc))
        self._advance(count)

    def _chunks(self, kind: str, creates: list[Change]) -> list[list[Change]]:
        """Bulk requests of up to bulk_size; Neutron takes a bulk of rules
        only within one group (else 400 for the whole request)."""
        runs: dict[Any, list[Change]] = {}
        for c in creates:
            group = c.want['security_group_id'] if kind == 'rule' else None
            runs.setdefault(group, []).append(c)
        return [run[i:i + self.bulk_size] for run in runs.values()
                for i in range(0, len(run), self.bulk_size)]

    def _advance(self, n: int) -> None:
        with self.lock:
            self.result.done += n
        self.progress(n)

    def _id(self, ref: Ref | None) -> str | None:
        if ref is None:
            return None
        try:
            return self.ids[ref.key]
        except KeyError:
            raise _MissingRef(f'depends on {ref.key}, which is missing')

    # -- operations ---------------------------------------------------------

    def _delete(self, change: Change) -> None:
        kind, key = change.kind, change.key
        if kind == 'router_interface':
            self.n.router_interface(self._id(change.have['router']),
                                    self._id(change.have['subnet']), False)
        elif kind == 'security_group' and self.actual.raw[key].get(
                'name') == 'default':
            self._release_default(key)
        else:
            if kind == 'rule':
                self._record_removed(change)
            self.n.delete(COLLECTION[kind], self.actual.ids[key])
        self.ids.pop(key, None)

    def _create(self, change: Change) -> None:
        kind, key, body = change.kind, change.key, change.want
        if kind == 'router_interface':
            self.n.router_interface(self._id(body['router']),
                                    self._id(body['subnet']), True)
            return
        if kind == 'security_group' and body['name'] == 'default':
            self._adopt_default(key, body['project_id'])
            return
        request = self._request(kind, body)
        # The key travels with the creation itself, so a crash before
        # tagging cannot cause a duplicate; nova's description comes after.
        description = request.pop('description', None)
        request['description'] = f'{MARK} key={key}'
        obj = self.n.create(COLLECTION[kind], request)
        self.ids[key] = obj['id']
        if kind == 'security_group':
            self._note_neutron_rules(key, obj)
        self.n.set_tags(COLLECTION[kind], obj['id'], [MARK, KEY_TAG + key])
        if description is not None:
            self.n.update(COLLECTION[kind], obj['id'],
                          {'description': description})

    def _bulk(self, chunk: list[Change]) -> None:
        """All-or-nothing bulk POST; on rejection, halve until the
        offending items are alone, and report them."""
        try:
            bodies = [self._bulk_body(c) for c in chunk]
            created = self.n.create_bulk(COLLECTION[chunk[0].kind], bodies)
        except (NeutronError, _MissingRef) as exc:
            status = getattr(exc, 'status', 400)  # a missing ref: bisect too
            if len(chunk) > 1 and status in (400, 409):
                half = len(chunk) // 2
                self._bulk(chunk[:half])
                self._bulk(chunk[half:])
                return
            for c in chunk:
                self.result.fail(c.kind, c.key, str(exc))
            self._advance(len(chunk))
            return
        for change, obj in zip(chunk, created):
            self.ids[change.key] = obj['id']
        self._advance(len(chunk))

    def _bulk_body(self, change: Change) -> dict:
        body = self._request(change.kind, change.want)
        if change.kind == 'port':
            body['tags'] = [MARK, KEY_TAG + change.key]
            body['description'] = f'{MARK} key={change.key}'
        else:
            body['description'] = MARK
        return body

    def _update(self, change: Change) -> None:
        if change.key in self.actual.untagged:
            self._tag(change)  # before the description that finds it goes
        fields = {f: change.want[f] for f in change.fields}
        if change.kind == 'security_group' and change.want['name'] == 'default':
            fields.pop('description', None)
        self.n.update(COLLECTION[change.kind], self.ids[change.key],
                      self._request(change.kind, fields))

    def _tag(self, change: Change) -> None:
        tags = set(self.actual.raw[change.key].get('tags', ()))
        tags |= {MARK, KEY_TAG + change.key}
        self.n.set_tags(COLLECTION[change.kind], self.ids[change.key],
                        sorted(tags))

    # -- default groups ------------------------------------------------------

    def _adopt_default(self, key: str, project: str) -> None:
        """Neutron creates a project's default group when asked for it;
        tagged so rollback knows whether to delete it or only restore it."""
        group = self.actual.defaults.get(project)
        tags = [MARK, KEY_TAG + key]
        if group is None:
            group = next(g for g in self.n.list(
                'security-groups', project_id=project, name='default'))
            tags.append(CREATED_DEFAULT)
            self._note_neutron_rules(key, group)
        self.ids[key] = group['id']
        self.actual.raw[key] = group
        self.n.set_tags('security-groups', group['id'], tags)

    def _note_neutron_rules(self, key: str, group: dict) -> None:
        ref = _group_ref(key, group['id'])
        for rule in group['security_group_rules']:
            self.neutron_rules[rule_key(_normalize_rule(rule, ref))] = (
                rule['id'])

    def _skip_present_rules(self, creates: list[Change]) -> list[Change]:
        """Neutron fills new groups from its default rule templates: those
        rules are there already, and the ones not wanted go now."""
        wanted = {c.key for c in creates}
        for key, rule_id in self.neutron_rules.items():
            if key not in wanted:
                self._guard(lambda c, id=rule_id: self.n.delete(
                    'security-group-rules', id), Change('delete', 'rule', key),
                    count=0)
        kept = [c for c in creates if c.key not in self.neutron_rules]
        self._advance(len(creates) - len(kept))
        return kept

    def _skip_going_with_group(self, deletes: list[Change],
                               groups: list[Change]) -> list[Change]:
        """Deleting a group deletes its rules: no request for each (an
        adopted default group stays, so its rules are deleted one by one)."""
        gone = {c.key for c in groups
                if self.actual.raw[c.key].get('name') != 'default'
                or CREATED_DEFAULT in self.actual.raw[c.key].get('tags', ())}
        kept = [c for c in deletes
                if c.have['security_group_id'].key not in gone]
        self._advance(len(deletes) - len(kept))
        return kept

    def _record_removed(self, change: Change) -> None:
        """Before a stock rule leaves an adopted default group, note it in a
        tag of the group, for rollback."""
        group = change.have['security_group_id'].key
        raw = self.actual.raw.get(group, {})
        if (raw.get('name') != 'default'
                or self.actual.raw[change.key].get('description') == MARK
                or CREATED_DEFAULT in raw.get('tags', ())):
            return
        tag = REMOVED + ';'.join(
            'self' if isinstance(v, Ref) and v.key == group
            else '' if v is None else str(v)
            for f, v in change.have.items() if f != 'security_group_id')
        with self.lock:
            raw['tags'] = sorted({*raw.get('tags', ()), tag})
            self.n.set_tags('security-groups', raw['id'], raw['tags'])

    def _release_default(self, key: str) -> None:
        group = self.actual.raw[key]
        if CREATED_DEFAULT in group.get('tags', ()):
            self.n.delete('security-groups', group['id'])
            return
        for tag in group.get('tags', ()):
            if tag.startswith(REMOVED):
                values = tag[len(REMOVED):].split(';')
                rule = dict(zip(RULE_FIELDS[1:], values))
                rule = {f: (group['id'] if v == 'self' else
                            int(v) if f.startswith('port_range') and v
                            else v or None) for f, v in rule.items()}
                try:
                    self.n.create('security-group-rules',
                                  {**rule, 'security_group_id': group['id']})
                except NeutronError as exc:
                    if exc.status != 409:  # already back
                        raise
        self.n.set_tags('security-groups', group['id'], [
            t for t in group.get('tags', ()) if not t.startswith(MARK)])

    # -- request bodies -------------------------------------------------------

    def _request(self, kind: str, body: dict) -> dict:
        """A desired body (or part of one) as Neutron's request body."""
        out = {}
        for f, v in body.items():
            if f == 'fixed_ips':
                out[f] = [{'subnet_id': self._id(s), 'ip_address': ip}
                          for s, ip in sorted(v, key=lambda p: p[1])
                          if not s.key.startswith('subnet6:')]  # SLAAC: auto
            elif f == 'security_groups':
                out[f] = sorted(self._id(r) for r in v)
            elif f == 'allocation_pools':
                out[f] = [{'start': a, 'end': b} for a, b in v]
            elif f == 'dns_nameservers':
                out[f] = list(v)
            elif f == 'external_network':
                out['external_gateway_info'] = {'network_id': self._id(v)}
            elif isinstance(v, Ref):
                out[f] = self._id(v)
            elif v is not None or kind in ('floatingip', 'subnet'):
                out[f] = v
        return out
