"""The desired Neutron state of a nova-network database.

The one chain every command, tool and test uses: read the live rows
(novanet/source.py), build the model (novanet/model.py, which reports what
it cannot use), translate it with the settings (desired.py).
"""

from __future__ import annotations

import sqlalchemy

from freeze.novanet import model, source
from freeze.translate.settings import Settings
from freeze.translate.desired import Desired, translate


def desired(nova: str | sqlalchemy.Engine, settings: Settings) -> Desired:
    """nova's database (URL or engine) -> what Neutron should hold."""
    return translate(model.build(source.read(nova)), settings)
