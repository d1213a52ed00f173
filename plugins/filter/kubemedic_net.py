"""Filters for the storage, firewall and registry roles: CIDRs in the forms daemons understand,
hosts.allow/hosts.deny clean-up and verdicts, NFS mount options and certificate SANs.

tcp_wrappers (libwrap) does not read `a.b.c.d/nn`; it wants `net/mask`. nftables splits IPv4
from IPv6 sources. The recovery step `hosts-allow` removes duplicated and competing rules.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean


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


_WIDE_WORDS = {"all", "known", "unknown", "paranoid", "local"}


def _fields(line: str) -> list[str]:
    """A hosts_access(5) rule split at the colons that are not inside `[...]` (IPv6)."""
    fields, depth, current = [], 0, ""
    for char in line:
        depth += char == "["
        depth -= char == "]"
        if char == ":" and depth == 0:
            fields.append(current)
            current = ""
        else:
            current += char
    return [*fields, current]


def _client_inside(token: str, allowed: list[Any]) -> bool:
    """True when a client pattern admits only addresses inside the allowed networks. Words (ALL,
    KNOWN, LOCAL, ...), wildcards, domain suffixes, netgroups, files and host names could admit
    anyone: they are not inside."""
    token = token.strip()
    if token.lower() == "localhost":
        token = "127.0.0.1"
    if (token.lower() in _WIDE_WORDS or any(c in token for c in "*?") or token[:1] in "@/."
            or not token):
        return False
    if token.endswith("."):  # `192.168.` = every address starting so
        parts = token.rstrip(".").split(".")
        if not all(p.isdigit() for p in parts) or len(parts) > 4:
            return False
        token = ".".join(parts + ["0"] * (4 - len(parts))) + f"/{8 * len(parts)}"
    token = token.replace("[", "").replace("]", "")
    try:
        net = ipaddress.ip_network(token, strict=False)
    except ValueError:
        return False  # a host name: it may resolve to anything
    return any(net.version == _network(a).version and net.subnet_of(_network(a))
               for a in allowed if a)


def tcpd_admits_more(line: str, managed: list[str], allowed: list[Any]) -> bool:
    """True when a hosts.allow rule grants a managed daemon (or ALL daemons) to clients outside
    the allowed networks: `ALL: ALL`, `rpcbind: .example.com`, `ALL: 10.0.0.0/255.0.0.0` when
    the cluster is 192.168.236.0/24. A rule whose options say `deny` admits nobody. Patterns
    after EXCEPT only narrow a list and are ignored."""
    fields = _fields(line.split("#", 1)[0])  # an inline comment is no client
    if len(fields) < 2:
        return False
    daemons = {d.lower() for d in re.split(r"[\s,]+", fields[0].split(" EXCEPT ")[0]) if d}
    if not daemons & ({"all"} | {d.lower() for d in managed}):
        return False
    if any(option.strip().lower() == "deny" for option in fields[2:]):
        return False
    clients = [c for c in re.split(r"[\s,]+", re.split(r"\bEXCEPT\b", fields[1])[0]) if c]
    return any(not _client_inside(c, allowed) for c in clients)


def tcpd_clean(text: str, daemons: list[str], marker: str,
               allowed: Any = None) -> dict[str, Any]:
    """Remove every kubemedic block (between `# BEGIN <marker>` / `# END <marker>`, however many
    there are), rules repeated verbatim, and operator rules naming a daemon kubemedic manages
    (they compete with the managed block: libwrap takes the first match). Comments, blank
    lines and rules for other daemons are kept in order.

    With `allowed` (the CIDRs that may use the daemons; give it for hosts.allow only), a rule
    for ALL daemons that admits anyone outside them (`ALL: ALL`, seed 000 #6's "fix") is
    neutralised: kept as a comment `# <marker> neutralised (admits more than the cluster): ...`
    so the operator sees what was there.

    Returns {"text": cleaned, "removed": [removed rule lines], "neutralised": [rule lines]}.
    """
    managed = {d.lower() for d in daemons}
    begin, end = f"# BEGIN {marker}", f"# END {marker}"
    kept: list[str] = []
    removed: list[str] = []
    neutralised: list[str] = []
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
            if allowed is not None and tcpd_admits_more(stripped, daemons, list(allowed)):
                neutralised.append(stripped)
                line = f"# {marker} neutralised (admits more than the cluster): {stripped}"
        kept.append(line)
    cleaned = "\n".join(kept).rstrip("\n")
    return {"text": cleaned + "\n" if cleaned else "", "removed": removed,
            "neutralised": neutralised}


def tcpdmatch_wrong(results: Any, denied_address: Any) -> list[str]:
    """The tcpdmatch answers (a registered loop over [daemon, address] pairs) that are not what
    kubemedic intends: the probe address `denied_address` must be denied, every other address
    granted. One readable line per wrong verdict."""
    wrong = []
    for result in results or []:
        daemon, address = result["item"][0], result["item"][1]
        want = "denied" if address == denied_address else "granted"
        if f"access:   {want}" not in (result.get("stdout") or ""):
            wrong.append(f"{daemon} from {address} is not {want}")
    return wrong


def nfs_mount_options(mounts: Any, default_options: Any, automount: Any = True,
                      mount_timeout: Any = 30) -> list[str]:
    """Per mount, its fstab options: the mount's own `options` (else `default_options`), then
    `_netdev` and, with `automount`, the systemd automount options, each only once, in a stable
    order (a reordered string would rewrite /etc/fstab on every run)."""
    extra = ["_netdev"]
    if boolean(automount, strict=False):
        extra += ["x-systemd.automount", f"x-systemd.mount-timeout={mount_timeout}"]
    out = []
    for mount in mounts or []:
        given = mount.get("options")
        opts = [o for o in str(default_options if given is None else given).split(",") if o != ""]
        out.append(",".join(opts + [e for e in extra if e not in opts]))
    return out


_IP_LIKE = re.compile(r"^[0-9.]+$")


def san_entries(names: Any) -> list[str]:
    """subjectAltName entries for a list of host names and addresses, duplicates dropped in
    order: `IP:` for an IPv4 or IPv6 address (digits and dots, or a colon), `DNS:` otherwise."""
    out: list[str] = []
    for name in names or []:
        name = str(name)
        entry = ("IP:" if _IP_LIKE.match(name) or ":" in name else "DNS:") + name
        if entry not in out:
            out.append(entry)
    return out


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "kubemedic_tcpd_pattern": tcpd_pattern,
            "kubemedic_cidr_version": cidr_version,
            "kubemedic_cidr_host": cidr_host,
            "kubemedic_cidr_in": cidr_in,
            "kubemedic_tcpd_clean": tcpd_clean,
            "kubemedic_tcpd_admits_more": tcpd_admits_more,
            "kubemedic_tcpdmatch_wrong": tcpdmatch_wrong,
            "kubemedic_nfs_mount_options": nfs_mount_options,
            "kubemedic_san_entries": san_entries,
        }
