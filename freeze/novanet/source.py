"""Read-only access to a nova-network database: the live rows of each table.

Only the columns declared in schema.py are selected, so a real queens
database and a generated one read the same, and of those not the
bookkeeping every table carries (timestamps, ``deleted``): nothing reads
them from here, and converting them is a third of the reading. Nothing is
ever written: sqlite files are opened read-only, other databases in a
transaction that is rolled back. Interpreting the rows (and reporting what
does not fit) is model.py's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy

from freeze.novanet import schema
from freeze.novanet.gcpause import gc_paused

Rows = dict[str, list[Mapping[str, Any]]]


def engine(url: str) -> sqlalchemy.Engine:
    """An engine that cannot write where the driver allows saying so."""
    parsed = sqlalchemy.engine.make_url(url)
    if parsed.get_backend_name() == 'sqlite' and parsed.database not in (
            None, '', ':memory:'):
        return sqlalchemy.create_engine(
            f'sqlite:///file:{parsed.database}?mode=ro&uri=true')
    return sqlalchemy.create_engine(url)


@gc_paused()
def read(url_or_engine: str | sqlalchemy.Engine) -> Rows:
    """Every live row (``deleted = 0``) of the nova-network tables."""
    eng = (engine(url_or_engine) if isinstance(url_or_engine, str)
           else url_or_engine)
    rows: Rows = {}
    with eng.connect() as conn:
        try:
            for table in schema.TABLES:
                rows[table.name] = conn.execute(
                    sqlalchemy.select(*(c for c in table.c
                                        if c.name not in schema.SOFT_DELETE))
                    .where(table.c.deleted == 0)).mappings().all()
        finally:
            conn.rollback()
    return rows
