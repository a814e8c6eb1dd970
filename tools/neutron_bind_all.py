"""A test-only ML2 mechanism driver that binds every port at once.

Without agents, the stock openvswitch driver cannot bind a port and retries
ten times per port, which makes a local Neutron slow and its log noisy. The
translation only needs ports that Neutron accepts and reports as bound, so
this driver binds each port to its first segment and nothing else.
Registered as ``nova_freeze_bind_all`` under ``neutron.ml2.mechanism_drivers``
by tools/localneutron.py (a tiny distribution on the test Neutron's path), not
by the shipped package.
"""

from neutron_lib.api.definitions import portbindings
from neutron_lib import constants
from neutron_lib.plugins.ml2 import api


class BindAllDriver(api.MechanismDriver):

    def initialize(self):
        pass

    def bind_port(self, context):
        for segment in context.segments_to_bind:
            context.set_binding(segment[api.ID], portbindings.VIF_TYPE_OTHER,
                                {}, status=constants.PORT_STATUS_ACTIVE)
            return
