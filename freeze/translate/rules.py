"""A security group rule as Neutron 29 stores it and tells rules apart.

nova-network and Neutron say the same rule differently: nova keeps tcp/udp
"every port" as 1-65535 and ICMP "any type/code" as -1, Neutron stores a full
port range as no range (``_make_canonical_port_range``), IPv6 ICMP as
``ipv6-icmp``, a prefix with its mask; and it takes ``tcp`` and ``6``, or
``0.0.0.0/0`` and no prefix, for the same rule (``_rule_to_key``, its
duplicate check). The translation, ``verify``, the read-only proxy (and a
restore straight into Neutron's database) all use this one module, so what
is created, what is compared and what is shown agree with Neutron's own
decision. The functions mirror neutron/db/securitygroups_db.py and
neutron/extensions/securitygroup.py; tests/unit/test_translate_rules.py
checks them against that code on generated rules. Neutron itself is not
imported here: importing it selects an oslo.service backend and installs
gettext globals, which a library must not do.
"""

from __future__ import annotations

from typing import Any

import netaddr
from neutron_lib import constants as n_const

#: neutron.common._constants.SG_RULE_PROTO_ANY / IPV6_ICMP_LEGACY_PROTO_LIST
PROTO_ANY = (None, 'any')
IPV6_ICMP_LEGACY = ('icmp', 'icmpv6')
ANY_PREFIXES = (n_const.IPv4_ANY, n_const.IPv6_ANY, None)
FIELDS = ('security_group_id', 'direction', 'ethertype', 'protocol',
          'port_range_min', 'port_range_max', 'remote_ip_prefix',
          'remote_group_id')


def from_nova(protocol: str | None, from_port: int | None,
              to_port: int | None, ethertype: str) -> dict[str, Any] | None:
    """An ingress rule as nova-network stored it (any case, -1 for "any"
    ICMP type or code) as Neutron will store it; None when Neutron would
    refuse it. Ports of protocols without ports are dropped, as nova's
    filter never applied them."""
    proto = (protocol or '').lower() or None
    low = None if from_port in (None, -1) else from_port
    high = None if to_port in (None, -1) else to_port
    if proto == 'icmp':
        if low is None:
            high = None  # a code needs a type
        if not all(p is None or 0 <= p <= 255 for p in (low, high)):
            return None
    elif proto in ('tcp', 'udp'):
        if (low is None) != (high is None) or (
                low is not None and not 1 <= low <= high <= 65535):
            return None
    else:
        low = high = None
    return stored({'direction': 'ingress', 'ethertype': ethertype,
                   'protocol': proto, 'port_range_min': low,
                   'port_range_max': high})


def stored(rule: dict[str, Any]) -> dict[str, Any]:
    """A rule body (as POSTed) as Neutron stores and shows it: the entire
    port range as none, legacy IPv6 ICMP names and numbers as ipv6-icmp/58,
    the prefix with its netmask. Other fields as given."""
    out = dict(rule)
    protocol = out.get('protocol')
    if protocol in PROTO_ANY or protocol == '':
        protocol = None
    elif isinstance(protocol, int) or str(protocol).isdigit():
        protocol = str(protocol)
    else:
        protocol = protocol.lower()
    if out.get('ethertype') == n_const.IPv6:
        if protocol in IPV6_ICMP_LEGACY:
            protocol = n_const.PROTO_NAME_IPV6_ICMP
        elif protocol == str(n_const.PROTO_NUM_ICMP):
            protocol = str(n_const.PROTO_NUM_IPV6_ICMP)
    out['protocol'] = protocol
    if (out.get('port_range_min') == n_const.PORT_RANGE_MIN
            and out.get('port_range_max') == n_const.PORT_RANGE_MAX):
        out['port_range_min'] = out['port_range_max'] = None
    if out.get('remote_ip_prefix'):
        out['remote_ip_prefix'] = str(netaddr.IPNetwork(
            out['remote_ip_prefix']))
    return out


def key(rule: dict[str, Any]) -> str:
    """What Neutron's duplicate check compares: two rules with the same key
    are one rule to Neutron (``tcp`` = ``6``; ``0.0.0.0/0``, ``::/0`` = no
    prefix), whatever each says. References (Refs) by their text."""
    rule = stored(rule)
    parts = []
    for field in FIELDS:
        value = rule.get(field)
        if field == 'remote_ip_prefix' and value in ANY_PREFIXES:
            value = None
        elif field == 'protocol' and value is not None:
            value = '/'.join(protocol_name_and_number(value))
        parts.append('' if value is None else str(value))
    return '/'.join(parts)


def protocol_name_and_number(protocol: str) -> tuple[str, str]:
    """('tcp', '6') from either; unknown numbers stay as they are
    (``_get_ip_proto_name_and_num`` after stored())."""
    if protocol in n_const.IP_PROTOCOL_MAP:
        return protocol, str(n_const.IP_PROTOCOL_MAP[protocol])
    if protocol in n_const.IP_PROTOCOL_NUM_TO_NAME_MAP:
        return n_const.IP_PROTOCOL_NUM_TO_NAME_MAP[protocol], protocol
    return protocol, protocol


def normalized_cidr(prefix: str | None) -> str | None:
    """The ``normalized_cidr`` Neutron shows: the prefix's network."""
    return str(netaddr.IPNetwork(prefix).cidr) if prefix else None
