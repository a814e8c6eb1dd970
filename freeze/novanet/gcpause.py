"""The cyclic garbage collector paused while many objects are made: reading
nova-network's rows, its model, the translation, Neutron's rows."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off for a while: building 100k objects
    in one go, none of them garbage, triggers hundreds of collections whose
    full passes walk everything built so far (a fifth of the time or more
    of a 100k-port model and translation). Whatever state it was in comes
    back afterwards; the objects are collected as usual from then on."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
