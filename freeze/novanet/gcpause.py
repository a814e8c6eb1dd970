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
    back afterwards. What was built is then counted as old (``freeze`` then
    ``unfreeze`` puts it in the oldest generation without a pass): else the
    first young collection afterwards would walk all of it at once (0.7 s
    for a million small objects), only to find none of it garbage. Where
    objects are frozen on purpose (the proxy's views), left as it is."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if not gc.get_freeze_count():
                gc.freeze()
                gc.unfreeze()
            gc.enable()
