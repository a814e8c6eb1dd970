"""``-f table|json|yaml`` output, as the OpenStack clients print it."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import json
from typing import Any

from freeze.cli import lazy

yaml = lazy.module('yaml')  # for -f yaml only

FORMATS = ('table', 'json', 'yaml')


def add_format_option(
        parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``-f/--format`` on a (sub)command, defaulting to a table."""
    parser.add_argument('-f', '--format', choices=FORMATS, default='table',
                        help='output format')
    return parser


def _cell(value: Any) -> str:
    if value is None:
        return ''
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max([len(h)] + [len(r[i]) for r in rows])
              for i, h in enumerate(headers)]
    rule = '+' + '+'.join('-' * (w + 2) for w in widths) + '+'

    def line(cells: list[str]) -> str:
        return '| ' + ' | '.join(c.ljust(w) for c, w in zip(cells, widths)) + ' |'
    return '\n'.join([rule, line(headers), rule]
                     + [line(r) for r in rows] + [rule])


def render(data: Any, fmt: str, columns: Sequence[str] | None = None) -> str:
    """Render a dict (shown Field/Value) or a list of dicts (one row each).

    ``columns`` names a list's columns, so that an empty one still shows them.
    """
    if fmt == 'json':
        return json.dumps(data, indent=2, sort_keys=True)
    if fmt == 'yaml':
        return yaml.safe_dump(data, default_flow_style=False,
                              sort_keys=True).rstrip('\n')
    if isinstance(data, dict):
        return _table(['Field', 'Value'],
                      [[k, _cell(v)] for k, v in data.items()])
    headers = columns or (list(data[0]) if data else [])
    return _table(headers, [[_cell(item.get(h)) for h in headers]
                            for item in data])
