"""The key and tag convention: how a Neutron resource names its origin.

Every desired resource has a *key*, stable across runs and made of nova's
own identifiers (``net:<network uuid>``, ``port:<vif uuid>``,
``fip:<address>``, ...): Neutron picks its own ids, so the key is what ties
a Neutron resource to what it was made from. What the translation creates
carries the tags ``nova-cutover`` and ``nova-cutover:key=<key>``, and the
key in its description too (``nova-cutover key=<key>``, sent with the
creation itself). Rules take no tags: their key is their content. A
reference to something the translation did not make is ``neutron:<id>``.

This module is the one place that writes or reads these strings: the
translation (desired.py), reading Neutron (held.py), applying, restore,
verify and the read-only proxy all use it.
"""

from __future__ import annotations

import uuid
from typing import Any

from freeze.translate import rules

MARK = 'nova-cutover'
KEY_TAG = MARK + ':key='
DESCRIPTION = MARK + ' key='
#: on a default group Neutron created because the translation asked for it
CREATED_DEFAULT = MARK + ':created-default'
#: on an adopted default group: a stock rule the translation removed
REMOVED = MARK + ':removed='
FOREIGN = 'neutron:'

#: stable ids for the proxy and restore where nova has none:
#: uuid5(NAMESPACE, key)
NAMESPACE = uuid.UUID('6c1b3e1e-5b8a-4f0e-9a57-2f1d0c0ffee5')

#: key prefix -> kind of resource
KIND = {'net': 'network', 'ext': 'network', 'subnet4': 'subnet',
        'subnet6': 'subnet', 'port': 'port', 'hostip': 'port',
        'sg': 'security_group', 'samenet': 'security_group',
        'router': 'router', 'fip': 'floatingip', 'rule': 'rule',
        'rif': 'router_interface'}


# -- making keys --------------------------------------------------------------

def network(network_uuid: str) -> str:
    return 'net:' + network_uuid


def external(pool: str) -> str:
    """A floating pool's external network."""
    return 'ext:' + pool


def subnet4(network_key: str) -> str:
    return 'subnet4:' + network_key


def subnet6(network_key: str) -> str:
    """A network's SLAAC subnet."""
    return 'subnet6:' + network_key


def port(vif_uuid: str) -> str:
    return 'port:' + vif_uuid


def reserved(network_uuid: str, address: str) -> str:
    """A port holding an address nova handed to a host (DHCP, gateway)."""
    return f'hostip:{network_uuid}:{address}'


def group(group_id: int) -> str:
    return f'sg:{group_id}'


def same_net(network_uuid: str, project_id: str) -> str:
    """The allow_same_net_traffic group of a project on a network."""
    return f'samenet:{network_uuid}:{project_id}'


def router(network_key: str) -> str:
    """The router that gives a network its floating IPs."""
    return 'router:' + network_key


def router_interface(router_key: str, subnet_key: str) -> str:
    return f'rif:{router_key}:{subnet_key}'


def floatingip(address: str) -> str:
    return 'fip:' + address


def rule(body: dict[str, Any]) -> str:
    """A rule's identity is its content, as Neutron's duplicate check sees
    it (rules.key): Neutron rejects a second such rule anyway."""
    return 'rule:' + rules.key(body)


def foreign(neutron_id: str) -> str:
    """A reference to a Neutron resource the translation did not make."""
    return FOREIGN + neutron_id


# -- reading keys -------------------------------------------------------------

def kind(key: str) -> str:
    return KIND[key.split(':', 1)[0]]


def is_slaac(subnet_key: str) -> bool:
    """Neutron gives every port of such a subnet its address by itself."""
    return subnet_key.startswith('subnet6:')


def is_reserved(port_key: str) -> bool:
    """A host's address: nova had no MAC for it, Neutron picks one."""
    return port_key.startswith('hostip:')


def is_instance_port(port_key: str) -> bool:
    return port_key.startswith('port:')


def is_router_interface(key: str) -> bool:
    return key.startswith('rif:')


def foreign_id(key: str) -> str | None:
    """The Neutron id in a ``neutron:`` reference, else None."""
    return key[len(FOREIGN):] if key.startswith(FOREIGN) else None


def stable_id(key: str) -> str:
    """nova's uuid where there is one (networks, ports), else derived."""
    prefix, _, rest = key.partition(':')
    if prefix in ('net', 'port'):
        return rest
    return str(uuid.uuid5(NAMESPACE, key))


def sub_id(key: str, part: str) -> str:
    """A stable id for a row that belongs to a resource (its segment, its
    gateway port, ...)."""
    return str(uuid.uuid5(NAMESPACE, f'{key}#{part}'))


# -- tags and descriptions ----------------------------------------------------

def tags(key: str, *more: str) -> list[str]:
    return [MARK, KEY_TAG + key, *more]


def description(key: str) -> str:
    return DESCRIPTION + key


def of(obj: dict) -> str | None:
    """The key a Neutron object carries: in its tags, else (a creation
    whose tagging a crash interrupted) in its description."""
    for tag in obj.get('tags', ()):
        if tag.startswith(KEY_TAG):
            return tag[len(KEY_TAG):]
    text = obj.get('description') or ''
    if text.startswith(DESCRIPTION):
        return text[len(DESCRIPTION):]
    return None


def from_tag(tag: str) -> str | None:
    return tag[len(KEY_TAG):] if tag.startswith(KEY_TAG) else None


def is_tagged(obj: dict, key: str) -> bool:
    return KEY_TAG + key in obj.get('tags', ())


# -- a stock rule removed from an adopted default group -----------------------

def removed_tag(body: dict[str, Any], group_key: str) -> str:
    """The tag that records a rule leaving an adopted default group, so
    that rollback can put it back (``self``: the group itself)."""
    return REMOVED + ';'.join(
        'self' if getattr(v, 'key', None) == group_key
        else '' if v is None else str(v)
        for f, v in body.items() if f != 'security_group_id')


def removed_rules(tags: list[str], group_id: str) -> list[dict[str, Any]]:
    """The rules the ``removed_tag``s of a group record, as request
    bodies."""
    out = []
    for tag in tags:
        if tag.startswith(REMOVED):
            values = tag[len(REMOVED):].split(';')
            body = dict(zip(rules.FIELDS[1:], values))
            out.append({f: (group_id if v == 'self' else
                            int(v) if f.startswith('port_range') and v
                            else v or None) for f, v in body.items()}
                       | {'security_group_id': group_id})
    return out
