"""Filters for the storage and firewall roles: CIDRs in the forms daemons understand, and
hosts.allow/hosts.deny clean-up.

tcp_wrappers (libwrap) does not read `a.b.c.d/nn`; it wants `net/mask`. nftables splits IPv4
from IPv6 sources. The recovery step `hosts-allow` removes duplicated and competing rules.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from ansible.errors import AnsibleFilterError


def _network(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(str(value).strip(), strict=False)
    except ValueError as exc:
        raise AnsibleFilterError(f"{value!r} is not an address or CIDR: {exc}") from exc


def tcpd_pattern(value: Any) -> str:
    """`192.168.1.0/24` -> `192.168.1.0/255.255.255.0`; `10.0.0.5/32` -> `10.0.0.5`;
    IPv6 -> `[2001:db8::]/64` (the forms hosts_access(5) accepts)."""
    net = _network(value)
    if net.version == 4:
        if net.prefixlen == 32:
            return str(net.network_address)
        return f"{net.network_address}/{net.netmask}"
    if net.prefixlen == 128:
        return f"[{net.network_address}]"
    return f"[{net.network_address}]/{net.prefixlen}"


def cidr_version(values: Any, version: int) -> list[str]:
    """The entries of a list of CIDRs that are IPv4 (version=4) or IPv6 (version=6), normalised
    (`10.0.0.5` -> `10.0.0.5/32`) and collapsed: nftables refuses overlapping set elements."""
    nets = [_network(v) for v in values if v and _network(v).version == int(version)]
    return [str(n) for n in ipaddress.collapse_addresses(nets)]


def cidr_host(value: Any) -> str:
    """One address inside a CIDR (the address itself for a host route, else the first host),
    used to ask tcpdmatch whether a network would be granted."""
    net = _network(value)
    if net.num_addresses == 1:
        return str(net.network_address)
    return str(next(net.hosts()))


def cidr_in(address: Any, networks: Any) -> bool:
    """True when the address lies inside one of the networks."""
    addr = ipaddress.ip_address(str(address).strip())
    return any(addr in _network(n) for n in networks if n and _network(n).version == addr.version)


_RULE = re.compile(r"^\s*([^#:][^:]*?)\s*:")


def _daemons(line: str) -> set[str]:
    match = _RULE.match(line)
    if not match:
        return set()
    return {d.strip().lower() for d in re.split(r"[\s,]+", match.group(1)) if d.strip()}


def tcpd_clean(text: str, daemons: list[str], marker: str) -> dict[str, Any]:
    """Remove every kubemedic block (between `# BEGIN <marker>` / `# END <marker>`, however many
    there are), rules repeated verbatim, and operator rules naming a daemon kubemedic manages
    (they compete with the managed block: libwrap takes the first match). Comments, blank
    lines and rules for other daemons are kept in order.

    Returns {"text": cleaned, "removed": [removed rule lines]}.
    """
    managed = {d.lower() for d in daemons}
    begin, end = f"# BEGIN {marker}", f"# END {marker}"
    kept: list[str] = []
    removed: list[str] = []
    seen: set[str] = set()
    inside = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped == begin:
            inside = True
            continue
        if stripped == end:
            inside = False
            continue
        if inside:
            continue
        rule = _daemons(line)
        if rule:
            normal = " ".join(stripped.split())
            if normal in seen or rule & managed:
                removed.append(stripped)
                continue
            seen.add(normal)
        kept.append(line)
    cleaned = "\n".join(kept).rstrip("\n")
    return {"text": cleaned + "\n" if cleaned else "", "removed": removed}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "kubemedic_tcpd_pattern": tcpd_pattern,
            "kubemedic_cidr_version": cidr_version,
            "kubemedic_cidr_host": cidr_host,
            "kubemedic_cidr_in": cidr_in,
            "kubemedic_tcpd_clean": tcpd_clean,
        }
