"""The translation's settings: what nova's database does not say.

A network's kind is its row's, as nova-network's bridge plugging decides
(linux_net: VLAN when the row has a ``vlan``, on ``vlan_interface`` or the
row's bridge_interface; else flat on ``flat_interface`` or the
bridge_interface). ``network_manager`` is what the operator expects: a
network whose row says otherwise is a conflict that ``translate diff``
lists and ``apply`` refuses, until ``networks`` says which it is.

A YAML file, e.g.::

    source: mysql+pymysql://nova:secret@db/nova   # the nova-network database
    network_manager: FlatDHCP        # Flat | FlatDHCP | Vlan (or the class path)
    admin_project_id: 0123abcd...    # owns shared and external resources
    flat_interface: eth1             # nova.conf's, if set there
    vlan_interface: eth2             # nova.conf's, if set there
    physnets:                        # bridge, or interface -> physnet
      br100: physnet1
      eth2: physnet2
    networks:                        # per nova network uuid, where needed
      1d7d...: {type: flat, physnet: physnet3}
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
TYPES = ('flat', 'vlan')


class SettingsError(ValueError):
    """Settings that cannot be: the one-line reason."""


@dataclass(frozen=True)
class FloatingPool:
    cidr: str
    gateway: str
    physnet: str


@dataclass(frozen=True)
class NetworkOverride:
    """The operator's word on one network, over its row."""
    type: str | None = None
    physnet: str | None = None


@dataclass(frozen=True)
class Settings:
    network_manager: str
    admin_project_id: str
    physnets: dict[str, str] = field(default_factory=dict)
    flat_interface: str | None = None
    vlan_interface: str | None = None
    networks: dict[str, NetworkOverride] = field(default_factory=dict)
    floating_pools: dict[str, FloatingPool] = field(default_factory=dict)
    allow_same_net_traffic: bool = True
    share_dhcp_address: bool = False
    include_unassociated_vlans: bool = False
    source: str | None = None
    neutron_url: str | None = None
    workers: int = 4
    bulk_size: int = 50

    def physnet(self, bridge: str | None, interface: str | None
                ) -> str | None:
        """The physnet of a bridge (as Neutron's linuxbridge
        bridge_mappings) or else of its interface; key ``default`` for any
        other, None when unmapped."""
        for name in (bridge, interface):
            if name and name in self.physnets:
                return self.physnets[name]
        return self.physnets.get('default')

    @classmethod
    def load(cls, path: str) -> Settings:
        """The settings in a YAML file."""
        with open(path) as f:
            return cls.parse(yaml.safe_load(f) or {})

    @classmethod
    def parse(cls, data: dict) -> Settings:
        """The settings in a mapping (a YAML file's), checked."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise SettingsError(
                f'unknown settings: {", ".join(sorted(unknown))}')
        data = dict(data)
        manager = str(data.get('network_manager', '')).rsplit('.', 1)[-1]
        manager = manager.removesuffix('Manager')
        if manager not in MANAGERS:
            raise SettingsError(f'network_manager must be one of {MANAGERS}, '
                                f'not {data.get("network_manager")!r}')
        data['network_manager'] = manager
        if not data.get('admin_project_id'):
            raise SettingsError('admin_project_id is required: it owns shared '
                                'and external networks')
        data['networks'] = {str(uuid): _override(str(uuid), override)
                            for uuid, override in
                            (data.get('networks') or {}).items()}
        try:
            data['floating_pools'] = {
                name: FloatingPool(**pool)
                for name, pool in (data.get('floating_pools') or {}).items()}
        except TypeError as exc:
            raise SettingsError(f'floating_pools: {exc}') from None
        return cls(**data)


def _override(uuid: str, data: dict | None) -> NetworkOverride:
    try:
        override = NetworkOverride(**(data or {}))
    except TypeError as exc:
        raise SettingsError(f'networks: {uuid}: {exc}') from None
    if override.type not in (None, *TYPES):
        raise SettingsError(f'networks: {uuid}: type must be one of {TYPES}, '
                            f'not {override.type!r}')
    return override
