"""The translation's settings: what nova's database does not say.

A YAML file, e.g.::

    source: mysql+pymysql://nova:secret@db/nova   # the nova-network database
    network_manager: FlatDHCP        # Flat | FlatDHCP | Vlan (or the class path)
    admin_project_id: 0123abcd...    # owns shared and external resources
    physnets:                        # bridge_interface / vlan_interface -> physnet
      eth1: physnet1
      eth2: physnet2
    floating_pools:
      nova: {cidr: 172.24.4.0/24, gateway: 172.24.4.1, physnet: public}
    allow_same_net_traffic: true
    share_dhcp_address: false
    include_unassociated_vlans: false
    neutron_url: http://127.0.0.1:9696   # noauth Neutron (tests); else OS_* / clouds.yaml
    workers: 4
    bulk_size: 50
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import yaml

MANAGERS = ('Flat', 'FlatDHCP', 'Vlan')


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class FloatingPool:
    cidr: str
    gateway: str
    physnet: str


@dataclass(frozen=True)
class Settings:
    network_manager: str
    admin_project_id: str
    physnets: dict[str, str] = field(default_factory=dict)
    floating_pools: dict[str, FloatingPool] = field(default_factory=dict)
    allow_same_net_traffic: bool = True
    share_dhcp_address: bool = False
    include_unassociated_vlans: bool = False
    source: str | None = None
    neutron_url: str | None = None
    workers: int = 4
    bulk_size: int = 50

    def physnet(self, interface: str | None) -> str | None:
        """The physnet of a bridge/vlan interface (key ``default`` for any
        other), None when unmapped."""
        return self.physnets.get(interface or '', self.physnets.get('default'))


def parse(data: dict) -> Settings:
    known = {f.name for f in dataclasses.fields(Settings)}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f'unknown settings: {", ".join(sorted(unknown))}')
    data = dict(data)
    manager = str(data.get('network_manager', '')).rsplit('.', 1)[-1]
    manager = manager.removesuffix('Manager')
    if manager not in MANAGERS:
        raise ConfigError(f'network_manager must be one of {MANAGERS}, '
                          f'not {data.get("network_manager")!r}')
    data['network_manager'] = manager
    if not data.get('admin_project_id'):
        raise ConfigError('admin_project_id is required: it owns shared and '
                          'external networks')
    try:
        data['floating_pools'] = {
            name: FloatingPool(**pool)
            for name, pool in (data.get('floating_pools') or {}).items()}
    except TypeError as exc:
        raise ConfigError(f'floating_pools: {exc}') from None
    return Settings(**data)


def load(path: str) -> Settings:
    with open(path) as f:
        return parse(yaml.safe_load(f) or {})
