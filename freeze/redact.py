"""Passwords out of anything printed or logged.

One helper for every URL the tools print or log (state, journal, nova
database, Neutron): ``user:password@`` in a URL, and ``password=...`` forms
(query strings, option dumps) through oslo.utils' own masking.
"""

from __future__ import annotations

import re

from oslo_utils import strutils

# scheme://user:password@ -- greedy up to the last "@" before a space, so a
# password with an unescaped "@" is masked whole.
_USERINFO = re.compile(r'([a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)\S*@')


def redact(text: object) -> str:
    return strutils.mask_password(_USERINFO.sub(r'\1***@', str(text)))
