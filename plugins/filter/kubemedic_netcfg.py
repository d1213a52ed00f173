"""Filters for the network-reapply step and doctor's peer check (seed 000 #10: `netplan apply`
did not take, the nodes cannot reach each other; fixed by hand with `ifconfig <dev> <ip> netmask
<mask> up` and `ip route add default via <gateway>`)."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from ansible.errors import AnsibleFilterError


def peer_addresses(hosts: Any, hostvars: Any, me: str) -> dict[str, str]:
    """name -> ansible_host of every host in `hosts` but `me` (hosts without an address are
    reached by name)."""
    out = {}
    for name in hosts or []:
        if name == me:
            continue
        out[str(name)] = str((hostvars.get(name) or {}).get("ansible_host") or name)
    return out


def address_fix(ip_addr_json: Any, address: Any, cidr: Any) -> dict[str, Any]:
    """What makes `address` sit on its interface with the prefix of the cluster subnet `cidr`,
    from `ip -j addr show`: {device, wanted ("a.b.c.d/p"), present (bool), wrong (the same
    address with another prefix, to delete)}. Fails when no interface holds the address (the
    step then cannot know where it belongs)."""
    if isinstance(ip_addr_json, str):
        try:
            ip_addr_json = json.loads(ip_addr_json)
        except ValueError as exc:
            raise AnsibleFilterError(f"kubemedic_address_fix: not `ip -j addr` output: {exc}") from exc
    try:
        network = ipaddress.ip_network(str(cidr), strict=False)
        wanted_ip = ipaddress.ip_address(str(address))
    except ValueError as exc:
        raise AnsibleFilterError(f"kubemedic_address_fix: {exc}") from exc
    if wanted_ip not in network:
        raise AnsibleFilterError(f"kubemedic_address_fix: {address} is not in {cidr}")
    for link in ip_addr_json or []:
        infos = [i for i in link.get("addr_info") or [] if i.get("local") == str(wanted_ip)]
        if not infos:
            continue
        prefixes = [int(i.get("prefixlen", 0)) for i in infos]
        return {"device": link.get("ifname", ""),
                "wanted": f"{wanted_ip}/{network.prefixlen}",
                "present": network.prefixlen in prefixes,
                "wrong": [f"{wanted_ip}/{p}" for p in prefixes if p != network.prefixlen]}
    raise AnsibleFilterError(f"kubemedic_address_fix: no interface holds {address} "
                             "(set it by hand first: the step only corrects its netmask)")


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"kubemedic_peer_addresses": peer_addresses,
                "kubemedic_address_fix": address_fix}
