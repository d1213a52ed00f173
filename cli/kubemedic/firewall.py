"""The ports a cluster admits from outside (`cluster_public_ports`) and the nftables rules for them.

Pure Python, one copy: the inventory schema checks the field with `problems()`, the firewall role
renders its rules through the filter plugin plugins/filter/kubemedic_firewall.py (which imports
this module), and doctor reads the same port list back from the live table.

An entry: `{port: 6443 | "30000-32767", proto: tcp|udp|both (default tcp), from: [CIDR, ...]
(default: any address), name: text (optional)}`.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

PROTOS = ("tcp", "udp", "both")
KEYS = ("port", "proto", "from", "name")
_RANGE = re.compile(r"^(\d{1,5})-(\d{1,5})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,62}$")


def _port_problem(value: Any) -> str | None:
    if isinstance(value, bool):
        return f"port {value!r} is not a port"
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return None if 0 < int(value) < 65536 else f"port {value} is not within 1-65535"
    match = _RANGE.match(str(value))
    if not match:
        return f"port {value!r} is not a port (6443) or a range (\"30000-32767\")"
    low, high = int(match.group(1)), int(match.group(2))
    if not 0 < low <= high < 65536:
        return f"port range {value!r} is not low-high within 1-65535"
    return None


def _entry_problems(index: int, entry: Any) -> list[str]:
    where = f"entry {index + 1}"
    if not isinstance(entry, dict):
        return [f"{where} ({entry!r}) is not a mapping like {{port: 6443, from: [10.0.0.0/8]}}"]
    problems = [f"{where}: unknown key {key!r} (keys: {', '.join(KEYS)})"
                for key in entry if key not in KEYS]
    if "port" not in entry:
        problems.append(f"{where}: no port")
    else:
        problem = _port_problem(entry["port"])
        if problem:
            problems.append(f"{where}: {problem}")
    if entry.get("proto", "tcp") not in PROTOS:
        problems.append(f"{where}: proto {entry.get('proto')!r} is not one of {', '.join(PROTOS)}")
    sources = entry.get("from", [])
    if not isinstance(sources, list) or (not sources and "from" in entry):
        problems.append(f"{where}: from {sources!r} is not a non-empty list of CIDRs "
                        "(leave it out to admit any address)")
    else:
        for source in sources:
            try:
                ipaddress.ip_network(str(source), strict=True)
            except ValueError as exc:
                problems.append(f"{where}: from {source!r} is not a network in CIDR form ({exc})")
    if "name" in entry and not _NAME.match(str(entry["name"])):
        problems.append(f"{where}: name {entry['name']!r} is not a short label "
                        "(letters, digits, space . _ -)")
    return problems


def problems(value: Any) -> list[str]:
    """Every problem of a `cluster_public_ports` value (empty list = valid)."""
    if not isinstance(value, list):
        return [f"{value!r} is not a list of {{port, proto, from, name}} entries"]
    return [p for index, entry in enumerate(value) for p in _entry_problems(index, entry)]


def normalise(value: Any) -> list[dict[str, Any]]:
    """Entries with every key: port as text ("6443" / "30000-32767"), protos as a list,
    sources split into v4/v6. Raises ValueError naming every problem."""
    found = problems(value if value is not None else [])
    if found:
        raise ValueError("; ".join(found))
    out = []
    for entry in value or []:
        proto = entry.get("proto", "tcp")
        nets = [ipaddress.ip_network(str(s), strict=True) for s in entry.get("from", [])]
        port = str(entry["port"])
        low, _, high = port.partition("-")
        out.append({"port": port if not high or low != high else low,
                    "protos": ["tcp", "udp"] if proto == "both" else [proto],
                    "v4": [str(n) for n in nets if n.version == 4],
                    "v6": [str(n) for n in nets if n.version == 6],
                    "any": not nets, "name": str(entry.get("name", ""))})
    return out


def _comment(entry: dict[str, Any]) -> str:
    label = entry["name"] or f"port {entry['port']}"
    return f' comment "public: {label}"'


def rules(value: Any, chain: str) -> list[str]:
    """nftables rule lines admitting the public ports from their sources.

    chain "input": traffic to the node itself (`tcp dport 6443`).
    chain "forward": traffic DNATed to a container or pod (docker's published ports,
    kube-proxy's NodePorts): matched on the port the client asked for
    (`ct original proto-dst`), since after DNAT the port is the container's own.
    """
    if chain not in ("input", "forward"):
        raise ValueError(f"chain {chain!r} is not input or forward")
    lines = []
    for entry in normalise(value):
        for proto in entry["protos"]:
            match = (f"{proto} dport {entry['port']}" if chain == "input" else
                     f"meta l4proto {proto} ct original proto-dst {entry['port']}")
            if entry["any"]:
                lines.append(f"{match} accept{_comment(entry)}")
            for family, nets in (("ip", entry["v4"]), ("ip6", entry["v6"])):
                if nets:
                    lines.append(f"{family} saddr {{ {', '.join(nets)} }} {match} accept"
                                 f"{_comment(entry)}")
    return lines


def ports(value: Any, proto: str) -> list[str]:
    """The ports/ranges of one protocol admitted from outside (any source), for the table's
    `public_tcp` / `public_udp` sets that doctor reads back."""
    return sorted({e["port"] for e in normalise(value) if proto in e["protos"]},
                  key=lambda p: int(p.split("-")[0]))


def port_in(port: int, admitted: list[Any]) -> bool:
    """Is `port` one of `admitted` (ints, "N" or "low-high" strings)?"""
    for item in admitted or []:
        low, _, high = str(item).partition("-")
        if low.isdigit() and int(low) <= port <= int(high or low):
            return True
    return False
