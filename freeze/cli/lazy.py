"""Modules the CLIs import only when a command uses them.

openstacksdk, keystoneclient, SQLAlchemy, oslo.policy and the translation
code take from a tenth of a second to a second each to import; ``--help``,
``freeze-ctl status`` on a file state and ``nova-cutover status`` need none
of them.  ``name = lazy.module('package.name')`` at the top of a CLI module
reads like an import and imports on the first attribute used
(tests/unit/test_cli_startup.py checks which stay out).
"""

from __future__ import annotations

import importlib
from typing import Any


class module:  # noqa: N801 - used where an import would be
    """``name``, imported on first attribute access."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(importlib.import_module(self._name), attribute)

    def __repr__(self) -> str:
        return f'<lazy module {self._name!r}>'
