"""Applying changes through Neutron's API, converging it.

What the tool creates carries its key (keys.py) in the description sent
with the creation itself, then in its tags: a crash between creating and
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
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from freeze.translate import keys
from freeze.translate.held import (
    COLLECTION, Actual, group_ref, normalize_rule)
from freeze.translate.changes import Change, Changes
from freeze.translate.desired import KINDS, Ref
from freeze.translate.neutron import Neutron, NeutronError

# -- applying it ----------------------------------------------------------

@dataclass
class Result:
    done: int = 0
    failures: list[tuple[str, str, str]] = field(default_factory=list)

    def fail(self, kind: str, key: str, message: str) -> None:
        self.failures.append((kind, key, message))


class _MissingRef(Exception):
    pass


def apply(changes: Changes, neutron: Neutron, actual: Actual,
          workers: int = 4, bulk_size: int = 50,
          progress: Callable[[int], None] | None = None) -> Result:
    """The changes ``diff`` found between the desired state and
    ``actual``, sent to Neutron; what it rejects is reported, the rest goes
    on."""
    return _Applier(neutron, actual.adopting(changes.adopted), workers,
                    bulk_size, progress or (lambda n: None)).run(changes)


class _Applier:
    def __init__(self, neutron: Neutron, actual: Actual, workers: int,
                 bulk_size: int, progress: Callable[[int], None]) -> None:
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

    def run(self, changes: Changes) -> Result:
        by = {(op, kind): [] for op in ('create', 'update', 'replace',
                                        'delete', 'tag') for kind in KINDS}
        for change in changes:
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
        0 for work the changes do not list."""
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
        request['description'] = keys.description(key)
        obj = self.n.create(COLLECTION[kind], request)
        self.ids[key] = obj['id']
        if kind == 'security_group':
            self._note_neutron_rules(key, obj)
        self.n.set_tags(COLLECTION[kind], obj['id'], keys.tags(key))
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
            body['tags'] = keys.tags(change.key)
            body['description'] = keys.description(change.key)
        else:
            body['description'] = keys.MARK
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
        tags |= set(keys.tags(change.key))
        self.n.set_tags(COLLECTION[change.kind], self.ids[change.key],
                        sorted(tags))

    # -- default groups ------------------------------------------------------

    def _adopt_default(self, key: str, project: str) -> None:
        """Neutron creates a project's default group when asked for it;
        tagged so rollback knows whether to delete it or only restore it."""
        group = self.actual.defaults.get(project)
        tags = keys.tags(key)
        if group is None:
            group = next(g for g in self.n.list(
                'security-groups', project_id=project, name='default'))
            tags.append(keys.CREATED_DEFAULT)
            self._note_neutron_rules(key, group)
        self.ids[key] = group['id']
        self.actual.raw[key] = group
        self.n.set_tags('security-groups', group['id'], tags)

    def _note_neutron_rules(self, key: str, group: dict) -> None:
        ref = group_ref(key, group['id'])
        for rule in group['security_group_rules']:
            self.neutron_rules[keys.rule(normalize_rule(rule, ref))] = (
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
                or keys.CREATED_DEFAULT in self.actual.raw[c.key].get(
                    'tags', ())}
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
                or self.actual.raw[change.key].get('description') == keys.MARK
                or keys.CREATED_DEFAULT in raw.get('tags', ())):
            return
        tag = keys.removed_tag(change.have, group)
        with self.lock:
            raw['tags'] = sorted({*raw.get('tags', ()), tag})
            self.n.set_tags('security-groups', raw['id'], raw['tags'])

    def _release_default(self, key: str) -> None:
        group = self.actual.raw[key]
        if keys.CREATED_DEFAULT in group.get('tags', ()):
            self.n.delete('security-groups', group['id'])
            return
        for rule in keys.removed_rules(group.get('tags', ()), group['id']):
            try:
                self.n.create('security-group-rules', rule)
            except NeutronError as exc:
                if exc.status != 409:  # already back
                    raise
        self.n.set_tags('security-groups', group['id'], [
            t for t in group.get('tags', ()) if not t.startswith(keys.MARK)])

    # -- request bodies -------------------------------------------------------

    def _request(self, kind: str, body: dict) -> dict:
        """A desired body (or part of one) as Neutron's request body."""
        out = {}
        for f, v in body.items():
            if f == 'fixed_ips':
                out[f] = [{'subnet_id': self._id(s), 'ip_address': ip}
                          for s, ip in sorted(v, key=lambda p: p[1])
                          if not keys.is_slaac(s.key)]  # SLAAC: auto
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
