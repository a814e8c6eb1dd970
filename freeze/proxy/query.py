"""Pure: a list request's query string, as Neutron's API layer reads it.

Filters are any attribute of the collection (repeated = OR, different
attributes = AND), values converted to the attribute's type; ``fixed_ips``
takes ``ip_address=...``/``subnet_id=...``; ``tags``/``tags-any``/
``not-tags``/``not-tags-any`` take comma-separated lists; ``fields`` picks
attributes; ``limit``/``marker``/``page_reverse`` page and ``sort_key``/
``sort_dir`` sort. Bad input raises ApiError with the type and message
Neutron 29 answers with (neutron/api/api_common.py, neutron_lib converters).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from freeze.proxy import view

TAG_FILTERS = ('tags', 'tags-any', 'not-tags', 'not-tags-any')
CONTROL = frozenset({'fields', 'limit', 'marker', 'page_reverse',
                     'sort_key', 'sort_dir', *TAG_FILTERS})
FIXED_IP_KEYS = frozenset({'ip_address', 'subnet_id'})
_TRUE = frozenset({'1', 't', 'true', 'on', 'y', 'yes'})
_FALSE = frozenset({'0', 'f', 'false', 'off', 'n', 'no'})


class ApiError(Exception):
    """An error answered as ``{"NeutronError": {type, message, detail}}``."""

    def __init__(self, status: int, type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.type = type
        self.message = message


def bad_request(message: str) -> ApiError:
    return ApiError(400, 'HTTPBadRequest', message)


def invalid_input(message: str) -> ApiError:
    return ApiError(400, 'InvalidInput',
                    f'Invalid input for operation: {message}.')


@dataclass
class Query:
    #: attribute -> accepted values (typed); fixed_ips -> {key: values}
    filters: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, list[frozenset[str]]] = field(default_factory=dict)
    fields: tuple[str, ...] = ()
    limit: int | None = None
    marker: str | None = None
    page_reverse: bool = False
    sorts: tuple[tuple[str, bool], ...] = ()   # (attribute, ascending)


def parse(collection: str, params: Sequence[tuple[str, str]]) -> Query:
    """``params``: the query string's pairs, in order (webob's GET.items())."""
    allowed = view.FIELDS[collection] | (
        view.EXTERNAL_ONLY if collection == 'networks' else frozenset())
    values: dict[str, list[str]] = {}
    for name, value in params:
        values.setdefault(name, []).append(value)
    invalid = [name for name in values
               if name not in allowed and name not in CONTROL]
    if invalid:
        raise bad_request(f'{invalid} is invalid attribute for filtering')
    q = Query()
    for name, given in values.items():
        given = [v for v in given if v]   # Neutron drops empty values
        if name in CONTROL or not given:
            continue
        q.filters[name] = (_fixed_ips(given) if name == 'fixed_ips'
                           else [_convert(name, v) for v in given])
    for name in TAG_FILTERS:
        if values.get(name):
            q.tags[name] = [frozenset(t for t in v.split(',') if t)
                            for v in values[name] if v]
    q.fields = tuple(v for v in values.get('fields', ()) if v)
    q.limit = _limit(values.get('limit', ['0'])[0])
    q.marker = (values.get('marker') or [None])[0] if q.limit else None
    q.page_reverse = (values.get('page_reverse') or ['False'])[0].lower() == (
        'true')
    q.sorts = _sorts(allowed, [v for v in values.get('sort_key', ()) if v],
                     [v for v in values.get('sort_dir', ()) if v])
    return q


def _convert(name: str, value: str) -> Any:
    if name in view.BOOLEAN:
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise invalid_input(f"'{value}' cannot be converted to boolean")
    if name in view.INTEGER:
        try:
            return int(value)
        except ValueError:
            raise invalid_input(f"'{value}' is not an integer") from None
    return value


def _fixed_ips(given: list[str]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for item in given:
        key, sep, value = item.partition('=')
        if not sep or not key:
            raise invalid_input(f"'{item}' is not of the form <key>=[value]")
        if key not in FIXED_IP_KEYS:
            raise bad_request(f"['{key}'] is invalid attribute for "
                              'filtering fixed_ips')
        out.setdefault(key, set()).add(value)
    return out


def _limit(text: str) -> int | None:
    try:
        limit = int(text)
    except ValueError:
        limit = -1
    if limit < 0:
        raise ApiError(400, 'BadRequest',
                       'Bad limit request: Limit must be an integer 0 or '
                       f"greater and not '{text}'.")
    return limit or None


def _sorts(allowed: frozenset[str], keys: list[str], dirs: list[str]
           ) -> tuple[tuple[str, bool], ...]:
    if len(keys) != len(dirs):
        raise bad_request('The number of sort_keys and sort_dirs must be same')
    absent = [k for k in keys if k not in allowed]
    if absent:
        raise bad_request(f'{absent} is invalid attribute for sort_keys')
    wrong = [d for d in dirs if d not in ('asc', 'desc')]
    if wrong:
        raise bad_request(f"{wrong} is invalid value for sort_dirs, valid "
                          "value is 'asc' and 'desc'")
    return tuple((k, d == 'asc') for k, d in zip(keys, dirs))


def links(url: str, params: Sequence[tuple[str, str]],
          page: list[dict], q: Query) -> list[dict]:
    """``<collection>_links`` as Neutron's get_pagination_links makes them:
    next unless a forward page came up short, previous unless a backward
    one did; the other parameters kept, in order."""
    kept = [(k, v) for k, v in params if k not in ('marker', 'page_reverse')]
    out = []
    short = len(page) < q.limit
    if not (short and not q.page_reverse):
        out.append({'rel': 'next', 'href': _href(
            url, kept + ([('marker', page[-1]['id'])] if page else []))})
    if not (short and q.page_reverse):
        out.append({'rel': 'previous', 'href': _href(
            url, kept + ([('marker', page[0]['id'])] if page else [])
            + [('page_reverse', 'True')])})
    return out


def _href(url: str, params: list[tuple[str, str]]) -> str:
    return f'{url}?{urllib.parse.urlencode(params)}'
