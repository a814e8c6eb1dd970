"""The nova-network tables as of nova stable/queens, as SQLAlchemy Core.

nova 34 no longer ships ``networks``, ``fixed_ips`` and ``floating_ips``, so
the columns the translation reads are declared here after queens'
``nova/db/sqlalchemy/models.py``. Reads select only these columns, so the
same tables work against a real queens database (which has more columns)
and against the databases the generator writes. As in queens, most
relations exist only in the ORM: no foreign keys, so dangling references are
possible and the loader reports them.
"""

from sqlalchemy import (Boolean, Column, DateTime, Integer, MetaData, String,
                        Table)

metadata = MetaData()


def _soft_delete() -> list[Column]:
    """nova's TimestampMixin + SoftDeleteMixin: live rows have deleted = 0,
    deleted rows hold their own id."""
    return [Column('created_at', DateTime), Column('updated_at', DateTime),
            Column('deleted_at', DateTime),
            Column('deleted', Integer, default=0)]


#: the names of those bookkeeping columns
SOFT_DELETE = frozenset(c.name for c in _soft_delete())


networks = Table(
    'networks', metadata,
    Column('id', Integer, primary_key=True),
    Column('label', String(255)),
    Column('injected', Boolean, default=False),
    Column('cidr', String(43)),
    Column('cidr_v6', String(43)),
    Column('multi_host', Boolean, default=False),
    Column('gateway', String(39)),
    Column('gateway_v6', String(39)),
    Column('netmask', String(39)),
    Column('netmask_v6', String(39)),
    Column('broadcast', String(39)),
    Column('dns1', String(39)),
    Column('dns2', String(39)),
    Column('vlan', Integer),
    Column('bridge', String(255)),
    Column('bridge_interface', String(255)),
    Column('vpn_public_address', String(39)),
    Column('vpn_public_port', Integer),
    Column('vpn_private_address', String(39)),
    Column('dhcp_start', String(39)),
    Column('project_id', String(255)),
    Column('priority', Integer),
    Column('host', String(255)),
    Column('uuid', String(36)),
    Column('mtu', Integer),
    Column('dhcp_server', String(39)),
    Column('enable_dhcp', Boolean, default=True),
    Column('share_address', Boolean, default=False),
    *_soft_delete())

fixed_ips = Table(
    'fixed_ips', metadata,
    Column('id', Integer, primary_key=True),
    Column('address', String(39)),
    Column('network_id', Integer),
    Column('virtual_interface_id', Integer),
    Column('instance_uuid', String(36)),
    Column('allocated', Boolean, default=False),
    Column('leased', Boolean, default=False),
    Column('reserved', Boolean, default=False),
    Column('host', String(255)),
    *_soft_delete())

floating_ips = Table(
    'floating_ips', metadata,
    Column('id', Integer, primary_key=True),
    Column('address', String(39)),
    Column('fixed_ip_id', Integer),
    Column('project_id', String(255)),
    Column('host', String(255)),
    Column('auto_assigned', Boolean, default=False),
    Column('pool', String(255)),
    Column('interface', String(255)),
    *_soft_delete())

virtual_interfaces = Table(
    'virtual_interfaces', metadata,
    Column('id', Integer, primary_key=True),
    Column('address', String(255)),
    Column('network_id', Integer),
    Column('instance_uuid', String(36)),
    Column('uuid', String(36)),
    Column('tag', String(255)),
    *_soft_delete())

security_groups = Table(
    'security_groups', metadata,
    Column('id', Integer, primary_key=True),
    Column('name', String(255)),
    Column('description', String(255)),
    Column('user_id', String(255)),
    Column('project_id', String(255)),
    *_soft_delete())

security_group_rules = Table(
    'security_group_rules', metadata,
    Column('id', Integer, primary_key=True),
    Column('parent_group_id', Integer),
    Column('protocol', String(255)),
    Column('from_port', Integer),
    Column('to_port', Integer),
    Column('cidr', String(43)),
    Column('group_id', Integer),
    *_soft_delete())

security_group_instance_association = Table(
    'security_group_instance_association', metadata,
    Column('id', Integer, primary_key=True),
    Column('security_group_id', Integer),
    Column('instance_uuid', String(36)),
    *_soft_delete())

instances = Table(
    'instances', metadata,
    Column('id', Integer, primary_key=True),
    Column('uuid', String(36)),
    Column('host', String(255)),
    Column('availability_zone', String(255)),
    Column('project_id', String(255)),
    Column('vm_state', String(255)),
    Column('display_name', String(255)),
    *_soft_delete())

TABLES = (networks, fixed_ips, floating_ips, virtual_interfaces,
          security_groups, security_group_rules,
          security_group_instance_association, instances)
