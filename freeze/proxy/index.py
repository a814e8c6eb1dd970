"""Pure, immutable: a View indexed for the queries clients make.

Per collection the objects are kept sorted by id, with a dict by id and, for
the attributes nova and the tools filter on (``INDEXED``), value -> positions.
A filtered list starts from the smallest matching index entry and checks the
remaining filters on those objects only, so ``GET /v2.0/ports?device_id=X``
costs a dict lookup at any size; pages are bisected by position, which is id
order. A refresh builds a new Index and swaps the reference (loader.py), so
a request reads one consistent snapshot without locks.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterable
from typing import Any

from freeze.proxy import query, view

#: collection -> attributes with a value index ('fixed_ips.<key>' for the
#: addresses and subnets of ports)
INDEXED = {
    'networks': ('project_id', 'tenant_id', 'name', 'router:external',
                 'shared'),
    'subnets': ('network_id', 'project_id', 'tenant_id', 'cidr'),
    'ports': ('device_id', 'network_id', 'project_id', 'tenant_id',
              'mac_address', 'device_owner', 'fixed_ips.ip_address',
              'fixed_ips.subnet_id'),
    'floatingips': ('port_id', 'project_id', 'tenant_id',
                    'floating_ip_address', 'floating_network_id',
                    'router_id'),
    'security-groups': ('project_id', 'tenant_id', 'name'),
    'security-group-rules': ('security_group_id', 'project_id', 'tenant_id',
                             'remote_group_id'),
    'routers': ('project_id', 'tenant_id'),
}


class Collection:
    def __init__(self, objs: list[dict], indexed: Iterable[str]) -> None:
        self.objs = objs                     # sorted by id
        self.ids = [o['id'] for o in objs]
        self.by_id = {o['id']: o for o in objs}
        self.index: dict[str, dict[Any, list[int]]] = {f: {} for f in indexed}
        for pos, obj in enumerate(objs):
            for name, entries in self.index.items():
                for value in _values(obj, name):
                    positions = entries.setdefault(value, [])
                    if not positions or positions[-1] != pos:
                        positions.append(pos)

    def select(self, q: query.Query,
               visible: Callable[[dict], bool] | None = None) -> list[dict]:
        """The objects matching every filter, in id order (or sorted), then
        the page after (or, reversed, before) the marker."""
        positions, rest = self._candidates(q.filters)
        if rest or q.tags or visible:
            objs = self.objs
            positions = [p for p in positions
                         if all(_matches(objs[p], n, v) for n, v in rest)
                         and _tagged(objs[p], q.tags)
                         and (visible is None or visible(objs[p]))]
        if q.sorts:
            found = [self.objs[p] for p in positions]
            for name, ascending in reversed(q.sorts):
                found.sort(key=lambda o: _sort_key(o.get(name)),
                           reverse=not ascending)
            at = next((i for i, o in enumerate(found)
                       if o['id'] == q.marker), None)
            bounds = (0, len(found)) if at is None else (at + 1, at)
            return _page(found, *bounds, q)
        bounds = (0, len(positions))
        if q.marker in self.by_id:
            at = bisect.bisect_left(self.ids, q.marker)
            bounds = (bisect.bisect_right(positions, at),
                      bisect.bisect_left(positions, at))
        return [self.objs[p] for p in _page(positions, *bounds, q)]

    def _candidates(self, filters: dict[str, Any]
                    ) -> tuple[Iterable[int], list[tuple[str, Any]]]:
        """Positions from the most selective indexed filter (all of them
        without one), and the filters still to check on them."""
        best, best_name = None, None
        for name, values in filters.items():
            for key, wanted in _index_lookups(name, values):
                if key in self.index:
                    hits = _union(self.index[key], wanted)
                    if best is None or len(hits) < len(best):
                        best, best_name = hits, name
        rest = list(filters.items())
        if best is None:
            return range(len(self.objs)), rest
        if best_name != 'fixed_ips':   # its keys combine per address
            rest = [(n, v) for n, v in rest if n != best_name]
        return best, rest


def _page(seq: list[dict], after: int, before: int,
          q: query.Query) -> list[dict]:
    """``after``/``before``: where the items after/before the marker start
    and end (0 and len without a marker)."""
    if not q.limit:
        return seq
    if q.page_reverse:
        return seq[max(0, before - q.limit):before]
    return seq[after:after + q.limit]


class Index:
    def __init__(self, objects: view.View) -> None:
        self.collections = {name: Collection(objs, INDEXED.get(name, ()))
                            for name, objs in objects.items()}
        #: networks every project sees: shared and external ones
        self.public_networks = frozenset(
            n['id'] for n in objects['networks']
            if n['shared'] or n['router:external'])

    def visible(self, collection: str, project: str
                ) -> Callable[[dict], bool]:
        """What a project's member may see, as Neutron's default policy:
        its own resources, and shared and external networks with their
        subnets."""
        if collection == 'networks':
            return lambda o: (o['project_id'] == project
                              or o['id'] in self.public_networks)
        if collection == 'subnets':
            return lambda o: (o['project_id'] == project
                              or o['network_id'] in self.public_networks)
        return lambda o: o['project_id'] == project

    def __len__(self) -> int:
        return sum(len(c.objs) for c in self.collections.values())


def _values(obj: dict, name: str) -> Iterable[Any]:
    """The index keys of one object for one indexed attribute."""
    if name.startswith('fixed_ips.'):
        sub = name.split('.', 1)[1]
        return [ip[sub] for ip in obj['fixed_ips']]
    value = obj.get(name)
    return value if isinstance(value, list) else [value]


def _index_lookups(name: str, values: Any) -> list[tuple[str, Any]]:
    if name == 'fixed_ips':
        return [(f'fixed_ips.{k}', v) for k, v in values.items()]
    return [(name, values)]


def _union(entries: dict[Any, list[int]], wanted: Iterable[Any]
           ) -> list[int]:
    lists = [entries[v] for v in wanted if v in entries]
    if len(lists) == 1:
        return lists[0]
    return sorted(set(itertools.chain.from_iterable(lists)))


def _matches(obj: dict, name: str, wanted: Any) -> bool:
    if name == 'fixed_ips':
        return any(all(ip[k] in v for k, v in wanted.items())
                   for ip in obj['fixed_ips'])
    value = obj.get(name)
    if isinstance(value, list):
        return any(v in wanted for v in value)
    return not isinstance(value, dict) and value in wanted


def _tagged(obj: dict, filters: dict[str, list[frozenset[str]]]) -> bool:
    """tags: has all of them; tags-any: one; not-tags: not all;
    not-tags-any: none. Repeated parameters: each must hold."""
    tags = set(obj.get('tags', ()))
    tests = {'tags': lambda want: want <= tags,
             'tags-any': lambda want: bool(want & tags),
             'not-tags': lambda want: not want <= tags,
             'not-tags-any': lambda want: not want & tags}
    return all(tests[name](want) for name, wants in filters.items()
               for want in wants)


def _sort_key(value: Any) -> tuple:
    """None first, like SQL ascending order; mixed types never compared."""
    return (value is not None, str(type(value)), value if isinstance(
        value, (str, int, float, bool)) else str(value))
