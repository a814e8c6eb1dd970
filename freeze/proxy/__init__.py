"""The read-only Neutron API over nova-network (issue 8)."""
